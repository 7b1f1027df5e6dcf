package storetest

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/sealpost/sealpost/blobs/store"
)

// BenchPartSize is the part size Bench stores and reads: the service's
// default PartSize (spec/attachments.md §4.7).
const BenchPartSize = 8 << 20

// Bench measures e: "put" stores parts of BenchPartSize (PutPart, durable
// on return), "get" reads a blob of BenchPartSize through Open. Both
// report bytes per second (b.SetBytes).
func Bench(b *testing.B, e store.Engine) {
	ctx := context.Background()
	part := content(99, BenchPartSize)
	b.Run("put", func(b *testing.B) {
		b.SetBytes(BenchPartSize)
		h, err := e.CreateUpload(ctx, "benchput")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for b.Loop() {
			n = n%store.MaxParts + 1
			if _, err := e.PutPart(ctx, "benchput", h, n, bytes.NewReader(part), BenchPartSize); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := e.AbortUpload(ctx, "benchput", h); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("get", func(b *testing.B) {
		h, err := e.CreateUpload(ctx, "benchget")
		if err != nil {
			b.Fatal(err)
		}
		p, err := e.PutPart(ctx, "benchget", h, 1, bytes.NewReader(part), BenchPartSize)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.CompleteUpload(ctx, "benchget", h, []store.Part{p}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(BenchPartSize)
		for b.Loop() {
			rc, err := e.Open(ctx, "benchget", 0, BenchPartSize)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n != BenchPartSize {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
		b.StopTimer()
		if err := e.Delete(ctx, "benchget"); err != nil {
			b.Fatal(err)
		}
	})
}
