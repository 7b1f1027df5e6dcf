package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/s3"
	"github.com/sealpost/sealpost/internal/versitygwtest"
)

// TestTLS: over HTTPS (parts sent UNSIGNED-PAYLOAD) with the server's
// certificate as the only root, an upload stores and reads back, a short
// part is refused, and a part streams without being buffered; without
// the root, Open fails.
func TestTLS(t *testing.T) {
	srv := versitygwtest.StartTLS(t)
	ctx := context.Background()
	c := config(srv)
	c.Secure = true
	// minio-go retries a certificate it cannot verify (Go wraps the
	// error in a type it does not look for): bound the wait.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if e, err := s3.Open(short, c); err == nil {
		e.Close()
		t.Fatal("Open trusted a self-signed certificate without CAFile")
	}
	c.CAFile = srv.CAFile
	e, err := s3.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	h, err := e.CreateUpload(ctx, "tls")
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte("0123456789abcdef"), (store.MinPartSize+4096)/16)
	p1, err := e.PutPart(ctx, "tls", h, 1, bytes.NewReader(b[:store.MinPartSize]), store.MinPartSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutPart(ctx, "tls", h, 2, bytes.NewReader(b[store.MinPartSize:len(b)-1]), 4096); !errors.Is(err, store.ErrShortPart) {
		t.Fatalf("short part over TLS: %v", err)
	}
	p2, err := e.PutPart(ctx, "tls", h, 2, bytes.NewReader(b[store.MinPartSize:]), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CompleteUpload(ctx, "tls", h, []store.Part{p1, p2}); err != nil {
		t.Fatal(err)
	}
	rc, err := e.Open(ctx, "tls", store.MinPartSize-100, 200)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, b[store.MinPartSize-100:store.MinPartSize+100]) {
		t.Fatalf("range across the parts: %d bytes, %v", len(got), err)
	}

	const size = 32 << 20
	h, err = e.CreateUpload(ctx, "tlsmem")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := e.PutPart(ctx, "tlsmem", h, 1, &patternReader{n: size}, size); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("PutPart of %d MiB over TLS allocated %d KiB", size>>20, alloc>>10)
	if alloc > size/2 {
		t.Fatalf("PutPart of %d MiB over TLS allocated %d KiB: the part is buffered", size>>20, alloc>>10)
	}
	if err := e.AbortUpload(ctx, "tlsmem", h); err != nil {
		t.Fatal(err)
	}
}
