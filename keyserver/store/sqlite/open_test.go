package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

func TestDurabilitySettings(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for _, c := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", fmt.Sprint(busyTimeoutMillis)},
		{s.r, "journal_mode", "wal"},
		{s.r, "synchronous", "2"},
		{s.r, "query_only", "1"},
		{s.r, "busy_timeout", fmt.Sprint(busyTimeoutMillis)},
	} {
		var got string
		if err := c.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if !strings.EqualFold(got, c.want) {
			t.Errorf("PRAGMA %s = %q, want %q", c.pragma, got, c.want)
		}
	}
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
	// The read pool cannot write.
	if _, err := s.r.ExecContext(ctx, `INSERT INTO invites (hash) VALUES (x'01')`); err == nil {
		t.Error("write through the read pool succeeded")
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyserver.db")
	ctx := t.Context()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_900_000_000, 0).UTC()
	dev := store.Device{ID: 1, Certificate: []byte("certificate")}
	if _, err := s.UpdateKeySet(ctx, store.KeySetUpdate{Handle: "alice", AccountKey: [32]byte{1}, AddDevice: &dev,
		Leaf: []byte("leaf 0"), Now: now}); err != nil {
		t.Fatal(err)
	}
	sp := store.Prekey{ID: 1, Encoded: []byte("signed")}
	if err := s.UploadPrekeys(ctx, store.Upload{Handle: "alice", Device: 1, Signed: &sp, MaxOneTime: 10,
		OneTime: []store.Prekey{{ID: 7, Encoded: []byte("one-time")}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != 1 || a.AccountKey != [32]byte{1} || !a.Created.Equal(now) || len(a.Devices) != 1 ||
		!bytes.Equal(a.Devices[0].Certificate, dev.Certificate) {
		t.Fatalf("reopened account = %+v", a)
	}
	leaves, err := s.Leaves(ctx, 0, 1)
	if err != nil || string(leaves[0]) != "leaf 0" {
		t.Fatalf("reopened log: %q, %v", leaves, err)
	}
	c, err := s.CountPrekeys(ctx, "alice", 1)
	if err != nil || c.OneTime != 1 {
		t.Fatalf("reopened counts: %+v, %v", c, err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyserver.db")
	for range 3 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.migrate(t.Context()); err != nil {
			t.Fatalf("migrating again: %v", err)
		}
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n, newest int64
		if err := s.r.QueryRowContext(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &newest); err != nil {
			t.Fatal(err)
		}
		if n != int64(len(ms)) || newest != ms[len(ms)-1].Version {
			t.Fatalf("schema_migrations has %d rows up to %d, want %d", n, newest, len(ms))
		}
		s.Close()
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyserver.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	random := make([]byte, 8192)
	for i := range random {
		random[i] = byte(i*7 + i>>8)
	}
	header := append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xff}, 4080)...)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"text", []byte("this is not a database\n")},
		{"random", random},
		{"corrupt header", header},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".db")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "sqlite: open "+path) {
				t.Errorf("error %q does not name the file", err)
			}
			if !strings.Contains(err.Error(), "not a database") {
				t.Errorf("error %q does not say the file is not a database", err)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(got, c.data) {
				t.Error("Open changed the file it refused")
			}
		})
	}
	for _, p := range []string{"", "a?b.db", filepath.Join(dir, "missing", "x.db"), dir} {
		if s, err := Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "keyserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Account(t.Context(), "alice"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Account on a closed store: %v", err)
	}
	if _, err := s.ClaimPrekeys(t.Context(), "alice"); err == nil {
		t.Fatal("ClaimPrekeys on a closed store succeeded")
	}
}

// TestTwoStoresOneFile opens the file twice, as two processes would: the
// SQLite lock and the busy timeout serialise their writes.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyserver.db")
	var ss [2]*Store
	for i := range ss {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ss[i] = s
	}
	ctx := context.Background()
	const perStore = 20
	var wg sync.WaitGroup
	errs := make([]error, len(ss))
	for i, s := range ss {
		wg.Go(func() {
			for j := range perStore {
				h := fmt.Sprintf("user-%d-%d", i, j)
				d := store.Device{ID: 1, Certificate: []byte("c")}
				if _, err := s.UpdateKeySet(ctx, store.KeySetUpdate{Handle: h, AddDevice: &d, Leaf: []byte(h), Now: time.Now()}); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := ss[0].LogSize(ctx)
	if err != nil || n != 2*perStore {
		t.Fatalf("LogSize = %d, %v; want %d", n, err, 2*perStore)
	}
}
