package fs_test

import (
	"testing"

	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/fs"
	"github.com/sealpost/sealpost/blobs/store/storetest"
)

func open(t *testing.T) *fs.Engine {
	t.Helper()
	e, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Engine { return open(t) })
}

func BenchmarkEngine(b *testing.B) {
	e, err := fs.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.Run("fs", func(b *testing.B) { storetest.Bench(b, e) })
}
