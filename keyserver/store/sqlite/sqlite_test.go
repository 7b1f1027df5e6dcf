package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/storetest"
)

func openTemp(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "keyserver.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func BenchmarkClaim(b *testing.B) {
	storetest.BenchmarkClaim(b, func(b *testing.B) store.Store { return openTemp(b) })
}
