// Package pgtest gives PostgreSQL tests a database of their own: DSN
// creates a fresh schema in the server named by SEALPOST_TEST_POSTGRES and
// returns a connection string whose search_path selects it, so tests and
// packages running in parallel never see each other's tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvVar names the environment variable holding the test server's DSN.
// Tests skip when it is empty; CI always sets it.
const EnvVar = "SEALPOST_TEST_POSTGRES"

// connectTimeout bounds the setup and cleanup connections.
const connectTimeout = 10 * time.Second

// DSN creates a schema named sp_test_<random> and returns the DSN from
// EnvVar with search_path set to it; t.Cleanup drops the schema with
// everything in it. It skips t when EnvVar is empty and fails it when the
// server cannot be reached.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skipf("SKIPPED: PostgreSQL test, %s is not set. To run it: export %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' with a PostgreSQL server there (README.md, Testing)", EnvVar, EnvVar)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "sp_test_" + hex.EncodeToString(b[:])
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	return WithParam(t, base, "search_path", schema)
}

// WithParam returns dsn with the connection parameter key set to value,
// for URL and keyword/value DSNs alike. Values must not need quoting.
func WithParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("pgtest: %s is not a valid URL", EnvVar)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// exec runs one statement on a short-lived connection to dsn.
func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*connectTimeout)
	defer cancel()
	// Parsed as a pool DSN, so that pool settings (pool_max_conns) are
	// accepted and left out of the one connection made here.
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvVar, err)
	}
	cfg := pcfg.ConnConfig
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}
