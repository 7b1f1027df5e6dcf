package s3_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sealpost/sealpost/blobs/store"
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
// not buffered: the process allocates less than half of it meanwhile
// (about 2.4 MiB in all, garbage of the 64 KiB chunk signing; buffering
// would take the whole 32 MiB).
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
	if alloc > size/2 {
		t.Fatalf("PutPart of %d MiB allocated %d KiB: the part is buffered", size>>20, alloc>>10)
	}
	if err := e.AbortUpload(ctx, "mem", h); err != nil {
		t.Fatal(err)
	}
}

// TestCompleteGoneUpload: completing an upload again is nil while the
// object is what it completed to, and ErrNotFound once the object was
// deleted. (versitygw v1.8.0 answers a completion of an upload id it does
// not know with success whenever the object exists, so the case of an
// object replaced by another upload is not reached here; the engine would
// tell it by the multipart ETag, checked in TestMultipartETag.)
func TestCompleteGoneUpload(t *testing.T) {
	srv := versitygwtest.Start(t)
	e := open(t, srv)
	ctx := context.Background()
	h, err := e.CreateUpload(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.PutPart(ctx, "gone", h, 1, strings.NewReader("twelve bytes"), 12)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.CompleteUpload(ctx, "gone", h, []store.Part{p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := e.CompleteUpload(ctx, "gone", h, []store.Part{p}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("completing again after a delete: %v, want ErrNotFound", err)
	}
}

// TestMultipartETag: the ETag the engine expects of a completed upload is
// the one an independent S3 implementation gives it.
func TestMultipartETag(t *testing.T) {
	srv := versitygwtest.Start(t)
	c := config(srv)
	ctx := context.Background()
	e, err := s3.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h, err := e.CreateUpload(ctx, "etag")
	if err != nil {
		t.Fatal(err)
	}
	var parts []store.Part
	for n, size := range []int{store.MinPartSize, 1000} {
		p, err := e.PutPart(ctx, "etag", h, n+1, &patternReader{n: int64(size)}, int64(size))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	if err := e.CompleteUpload(ctx, "etag", h, parts); err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(c.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""), Region: c.Region})
	if err != nil {
		t.Fatal(err)
	}
	info, err := mc.StatObject(ctx, c.Bucket, c.Prefix+"etag", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, ok := s3.MultipartETag(parts)
	if !ok || strings.Trim(info.ETag, `"`) != want {
		t.Fatalf("object ETag %s, engine expects %s (%v)", info.ETag, want, ok)
	}
	if _, ok := s3.MultipartETag([]store.Part{{Number: 1, Size: 1, Tag: "not-an-md5"}}); ok {
		t.Fatal("a tag that is no MD5 gives an ETag")
	}
}
