package postgres

import (
	"testing"

	"github.com/sealpost/sealpost/internal/pgtest"
)

// Commits must wait for the WAL flush unless the DSN says otherwise, and
// the pool is sized for group commit unless the DSN says otherwise.
// Claims must be as durable as the rest.
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
		// Only the claimer's sessions plan generically, and they commit
		// as durably as the others.
		var mode, claimMode, claimSync string
		if err := s.pool.QueryRow(t.Context(), `SHOW plan_cache_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := s.claimPool.QueryRow(t.Context(), `SELECT current_setting('plan_cache_mode'), current_setting('synchronous_commit')`).Scan(&claimMode, &claimSync); err != nil {
			t.Fatal(err)
		}
		if mode != "auto" || claimMode != "force_generic_plan" || claimSync != tc.sync {
			t.Errorf("plan_cache_mode %s, claimer's %s with synchronous_commit %s; want auto, force_generic_plan, %s", mode, claimMode, claimSync, tc.sync)
		}
	}
}
