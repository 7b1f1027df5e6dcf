package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/relay/store"
)

func TestDurabilitySettings(t *testing.T) {
	t.Parallel()
	q := openTemp(t)
	ctx := t.Context()
	for _, c := range []struct {
		name   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", q.w, "journal_mode", "wal"},
		{"writer", q.w, "synchronous", "2"}, // FULL
		{"writer", q.w, "foreign_keys", "1"},
		{"writer", q.w, "busy_timeout", fmt.Sprint(busyTimeoutMillis)},
		{"writer", q.w, "wal_autocheckpoint", fmt.Sprint(autoCheckpointPages)},
		{"writer", q.w, "cache_size", fmt.Sprint(-writerCacheKiB)},
		{"checkpointer", q.ckDB, "synchronous", "2"},
		{"checkpointer", q.ckDB, "busy_timeout", fmt.Sprint(busyTimeoutMillis)},
		{"reader", q.r, "journal_mode", "wal"},
		{"reader", q.r, "synchronous", "2"},
		{"reader", q.r, "query_only", "1"},
		{"reader", q.r, "busy_timeout", fmt.Sprint(busyTimeoutMillis)},
	} {
		var got string
		if err := c.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", c.name, c.pragma, err)
		}
		if !strings.EqualFold(got, c.want) {
			t.Errorf("%s: PRAGMA %s = %q, want %q", c.name, c.pragma, got, c.want)
		}
	}
	if got := q.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
	// The read pool cannot write.
	if _, err := q.r.ExecContext(ctx, `INSERT INTO mailboxes (addr, created) VALUES (x'01', 0)`); err == nil {
		t.Error("write through the read pool succeeded")
	}
	// Envelopes need a mailbox (foreign key).
	if _, err := q.w.ExecContext(ctx, `INSERT INTO envelopes (addr, data, arrived, expiry) VALUES (x'01', x'', 0, 0)`); err == nil {
		t.Error("envelope without mailbox inserted")
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relay.db")
	for range 3 {
		q, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n, v int
	if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || v != len(ms) {
		t.Fatalf("schema_migrations has %d rows up to version %d, want %d", n, v, len(ms))
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	q, err := Open(newer)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	db, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, tc := range []struct{ name, path, want string }{
		{"empty path", "", "invalid database path"},
		{"query in path", filepath.Join(dir, "x.db?mode=ro"), "invalid database path"},
		{"not a database", notDB, "not a database"},
		{"newer schema", newer, "newer than this program"},
		{"missing directory", filepath.Join(dir, "missing", "relay.db"), "sqlite: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Open(tc.path)
			if err == nil {
				q.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sqlite: ") {
				t.Fatalf("Open: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	q, err := Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if _, err := q.Ack(t.Context(), bob, nil); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ack of nothing after Close: %v, want ErrClosed", err)
	}
}

// TestSweepChunks sweeps more expired envelopes than one chunk holds.
func TestSweepChunks(t *testing.T) {
	t.Parallel()
	q := openBob(t)
	ctx := t.Context()
	n := sweepChunk + sweepChunk/2
	s := testSend(0)
	s.MaxQueueCount = n
	s.Items = nil
	for range n {
		s.Items = append(s.Items, store.Item{Recipient: bob, Envelope: []byte("x")})
	}
	if _, err := q.Send(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := q.Sweep(ctx, s.Expiry)
	if err != nil || got != n {
		t.Fatalf("Sweep = %d, %v; want %d", got, err, n)
	}
	if st, err := q.Stats(ctx, bob); err != nil || st != (store.Stats{}) {
		t.Fatalf("Stats after Sweep = %+v, %v", st, err)
	}
	// The dedup record went too (DedupUntil == Expiry here).
	if r, err := q.Send(ctx, testSend(0)); err != nil || r.Duplicate {
		t.Fatalf("Send after Sweep: %+v, %v", r, err)
	}
}
