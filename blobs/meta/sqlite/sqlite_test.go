package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/meta/metatest"
	"github.com/sealpost/sealpost/blobs/meta/sqlite"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return open(t, filepath.Join(t.TempDir(), "blobs.db")) })
}

// TestQuotaRaceTwoStores: two Stores on one file (two processes) race for
// the last bytes of a quota; one wins.
func TestQuotaRaceTwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blobs.db")
	metatest.QuotaRace(t, open(t, path), open(t, path))
}

// open opens a Store at path, closed at cleanup.
func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkUpload(b *testing.B) {
	metatest.BenchmarkUpload(b, func(b *testing.B) meta.Store { return open(b, filepath.Join(b.TempDir(), "blobs.db")) })
}
