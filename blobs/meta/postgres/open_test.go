package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/meta/metatest"
	"github.com/sealpost/sealpost/blobs/meta/postgres"
	"github.com/sealpost/sealpost/internal/pgtest"
)

// connect opens a plain connection to dsn, closed at cleanup.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestMigrationsRecorded(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	open(t, dsn).Close() // reopening applies nothing twice
	var rows, versions int
	err := connect(t, dsn).QueryRow(t.Context(),
		`SELECT count(*), count(DISTINCT version) FROM schema_migrations WHERE component = 'blobs'`).Scan(&rows, &versions)
	if err != nil || rows == 0 || rows != versions {
		t.Fatalf("schema_migrations: %d rows for %d versions, %v", rows, versions, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	if _, err := connect(t, dsn).Exec(t.Context(),
		`INSERT INTO schema_migrations (component, version, name) VALUES ('blobs', 9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(t.Context(), dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open on a newer schema: %v", err)
	}
}

// TestOpenUnreachable: a server that does not answer is ErrUnavailable.
func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = postgres.Open(t.Context(), fmt.Sprintf("postgres://postgres@%s/test?sslmode=disable&connect_timeout=5", addr))
	if !errors.Is(err, meta.ErrUnavailable) {
		t.Fatalf("Open of a closed port: %v, want ErrUnavailable", err)
	}
}

// TestUnavailable: a Store whose server cannot be reached answers
// ErrUnavailable, and serves again once the server is back (its pool
// reconnects). The server is behind a proxy the test cuts.
func TestUnavailable(t *testing.T) {
	base := pgtest.DSN(t)
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, "", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	host, port, _ := net.SplitHostPort(p.addr)
	dsn := pgtest.WithParam(t, pgtest.WithParam(t, base, "host", host), "port", port)
	s := open(t, dsn)
	if _, err := s.Usage(t.Context(), "alice", metatest.T0); err != nil {
		t.Fatal(err)
	}
	p.stop()
	_, err = s.Usage(t.Context(), "alice", metatest.T0)
	if !errors.Is(err, meta.ErrUnavailable) {
		t.Fatalf("Usage with the server gone: %v, want ErrUnavailable", err)
	}
	err = s.CreateUpload(t.Context(), metatest.NewUpload("alice", 1), meta.Limits{Quota: 1, MaxOpenUploads: 1}, metatest.T0)
	if !errors.Is(err, meta.ErrUnavailable) {
		t.Fatalf("CreateUpload with the server gone: %v, want ErrUnavailable", err)
	}
	startProxy(t, p.addr, p.target)
	if _, err = s.Usage(t.Context(), "alice", metatest.T0); err != nil {
		t.Fatalf("Usage after the server came back: %v", err)
	}
}

// proxy forwards TCP connections from addr to target until stop.
type proxy struct {
	addr, target string
	l            net.Listener
	mu           sync.Mutex
	stopped      bool
	conns        []net.Conn
	done         sync.WaitGroup
}

// startProxy listens on addr ("" for any port of 127.0.0.1), stopped at
// cleanup.
func startProxy(t *testing.T, addr, target string) *proxy {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), target: target, l: l}
	p.done.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.stopped {
				p.mu.Unlock()
				c.Close()
				u.Close()
				return
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.done.Go(func() { io.Copy(u, c); u.Close() })
			p.done.Go(func() { io.Copy(c, u); c.Close() })
		}
	})
	t.Cleanup(p.stop)
	return p
}

// stop closes the listener and every forwarded connection, and waits for
// the proxy's goroutines.
func (p *proxy) stop() {
	p.l.Close()
	p.mu.Lock()
	p.stopped = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.done.Wait()
}
