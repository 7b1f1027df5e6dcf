package postgres_test

import (
	"testing"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
	"github.com/sealpost/sealpost/keyserver/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.DSN(t)) })
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
