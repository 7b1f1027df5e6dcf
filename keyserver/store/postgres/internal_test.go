package postgres

import (
	"testing"

	"github.com/sealpost/sealpost/internal/pgtest"
)

// Commits must wait for the WAL flush unless the DSN says otherwise, and
// the pool is sized for group commit unless the DSN says otherwise.
func TestSessionSettings(t *testing.T) {
	dsn := pgtest.DSN(t)
	tests := []struct {
		dsn      string
		sync     string
		maxConns int32
	}{
		{dsn, "on", DefaultMaxConns},
		{pgtest.WithParam(t, pgtest.WithParam(t, dsn, "synchronous_commit", "off"), "pool_max_conns", "3"), "off", 3},
	}
	for _, tc := range tests {
		s, err := Open(t.Context(), tc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var got string
		if err := s.pool.QueryRow(t.Context(), `SHOW synchronous_commit`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.sync || s.pool.Config().MaxConns != tc.maxConns {
			t.Errorf("synchronous_commit %s, max conns %d; want %s, %d", got, s.pool.Config().MaxConns, tc.sync, tc.maxConns)
		}
	}
}
