package postgres_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
)

func TestMigrationsOnReopen(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := t.Context()
	s, err := postgres.Open(ctx, dsn)
	must(t, "Open", err)
	must(t, "create", err2(create(ctx, s, "alice")))
	s.Close()
	s.Close() // a second Close is harmless

	s = open(t, dsn)
	a, err := s.Account(ctx, "alice")
	must(t, "Account after reopen", err)
	if a.Version != 1 {
		t.Fatalf("version %d after reopen", a.Version)
	}
	if n, err := s.LogSize(ctx); err != nil || n != 1 {
		t.Fatalf("log size %d, %v after reopen", n, err)
	}
	var rows, versions int
	conn := connect(t, dsn)
	err = conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations WHERE component = 'keyserver'`).Scan(&rows, &versions)
	must(t, "read schema_migrations", err)
	if rows == 0 || rows != versions {
		t.Fatalf("schema_migrations has %d rows for %d versions", rows, versions)
	}
}

func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("concurrent Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := open(t, dsn)
	if n, err := s.LogSize(t.Context()); err != nil || n != 0 {
		t.Fatalf("log size %d, %v after concurrent opens", n, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	conn := connect(t, dsn)
	_, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations (component, version, name) VALUES ('keyserver', 9999, '9999_future.sql')`)
	must(t, "insert", err)
	_, err = postgres.Open(t.Context(), dsn)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open on a newer schema: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	base := pgtest.DSN(t) // skips without a server, like the rest

	// A server that accepts TCP connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, "listen", err)
	defer silent.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, "listen", err)
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name, dsn, want string
	}{
		{"unparsable", "postgres://postgres:sekrit@127.0.0.1:%zz/test", "bad DSN"},
		{"unknown option value", "postgres://postgres:sekrit@127.0.0.1/test?sslmode=maybe", "bad DSN"},
		{"refused", "postgres://postgres:sekrit@" + closedAddr + "/test?sslmode=disable", "connect"},
		{"silent", "postgres://postgres:sekrit@" + silent.Addr().String() + "/test?sslmode=disable&connect_timeout=1", "connect"},
		{"no such schema", pgtest.WithParam(t, base, "search_path", "sp_test_does_not_exist"), "no schema selected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := postgres.Open(t.Context(), tc.dsn)
			if err == nil {
				s.Close()
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

	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := postgres.Open(ctx, "postgres://postgres@"+silent.Addr().String()+"/test?sslmode=disable")
		if err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("Open against a silent server with a 500ms deadline: %v after %v", err, time.Since(start))
		}
	})
}

// connect opens a plain connection for inspecting the schema.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	must(t, "connect", err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
