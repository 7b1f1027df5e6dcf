package postgres_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store/postgres"
)

func TestMigrationsRecorded(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	open(t, dsn).Close() // reopening applies nothing twice
	var rows, versions int
	err := connect(t, dsn).QueryRow(t.Context(),
		`SELECT count(*), count(DISTINCT version) FROM schema_migrations WHERE component = 'relay'`).Scan(&rows, &versions)
	if err != nil || rows == 0 || rows != versions {
		t.Fatalf("schema_migrations: %d rows for %d versions, %v", rows, versions, err)
	}
}

func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			q, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("concurrent Open: %v", err)
				return
			}
			q.Close()
		})
	}
	wg.Wait()
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	_, err := connect(t, dsn).Exec(t.Context(),
		`INSERT INTO schema_migrations (component, version, name) VALUES ('relay', 9999, '9999_future.sql')`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(t.Context(), dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open on a newer schema: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	base := pgtest.DSN(t) // skips without a server, like the rest
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct{ name, dsn, want string }{
		{"unparsable", "postgres://postgres:sekrit@127.0.0.1:%zz/test", "bad DSN"},
		{"refused", "postgres://postgres:sekrit@" + closedAddr + "/test?sslmode=disable", "connect"},
		{"no such schema", pgtest.WithParam(t, base, "search_path", "sp_test_does_not_exist"), "no schema selected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			q, err := postgres.Open(t.Context(), tc.dsn)
			if err == nil {
				q.Close()
				t.Fatal("Open succeeded")
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Open took %v to fail", took)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error %q: want it to mention %q and not the password", err, tc.want)
			}
		})
	}
}
