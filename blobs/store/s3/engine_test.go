package s3_test

import (
	"context"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/blobs/store/s3"
	"github.com/sealpost/sealpost/internal/versitygwtest"
)

// TestOpenRefused: Open fails on a config that does not validate, a
// missing bucket and wrong credentials.
func TestOpenRefused(t *testing.T) {
	srv := versitygwtest.Start(t)
	for name, change := range map[string]func(*s3.Config){
		"invalid":       func(c *s3.Config) { c.Bucket = "" },
		"no bucket":     func(c *s3.Config) { c.Bucket = "no-such-bucket" },
		"wrong secret":  func(c *s3.Config) { c.SecretKey += "x" },
		"wrong account": func(c *s3.Config) { c.AccessKey = "AKNOBODY" },
	} {
		c := config(srv)
		change(&c)
		if e, err := s3.Open(context.Background(), c); err == nil {
			e.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// patternReader yields n bytes without holding them: a stand-in for a
// request body.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := range p {
		p[i] = byte(r.n - int64(i))
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestPutPartMemory: a 32 MiB part from a non-seekable reader is streamed,
// not buffered: the process allocates a small fraction of it meanwhile.
func TestPutPartMemory(t *testing.T) {
	srv := versitygwtest.Start(t)
	e := open(t, srv)
	ctx := context.Background()
	const size = 32 << 20
	h, err := e.CreateUpload(ctx, "mem")
	if err != nil {
		t.Fatal(err)
	}
	// Warm the connection up.
	if _, err := e.PutPart(ctx, "mem", h, 2, strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := e.PutPart(ctx, "mem", h, 1, &patternReader{n: size}, size); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("PutPart of %d MiB allocated %d KiB", size>>20, alloc>>10)
	if alloc > size/8 {
		t.Fatalf("PutPart of %d MiB allocated %d KiB: the part is buffered", size>>20, alloc>>10)
	}
	if err := e.AbortUpload(ctx, "mem", h); err != nil {
		t.Fatal(err)
	}
}
