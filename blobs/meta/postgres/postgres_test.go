package postgres_test

import (
	"testing"

	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/meta/metatest"
	"github.com/sealpost/sealpost/blobs/meta/postgres"
	"github.com/sealpost/sealpost/internal/pgtest"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return open(t, pgtest.DSN(t)) })
}

// TestQuotaRaceTwoStores: two Stores on one schema (two processes, each
// its own pool) race for the last bytes of a quota; one wins.
func TestQuotaRaceTwoStores(t *testing.T) {
	dsn := pgtest.DSN(t)
	metatest.QuotaRace(t, open(t, dsn), open(t, dsn))
}

// open opens a Store on dsn, closed at cleanup.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkUpload(b *testing.B) {
	metatest.BenchmarkUpload(b, func(b *testing.B) meta.Store { return open(b, pgtest.DSN(b)) })
}
