package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/migrate"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

// TestMigrateMailboxIDs: a database written with one relay-wide id
// sequence (migration 0001) keeps its queued envelopes through migration
// 0002 (spec/relay.md §8.1; storetest.CheckMigratedIDs says what holds).
func TestMigrateMailboxIDs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "relay.db")
	db, err := sql.Open("sqlite", path+"?_foreign_keys=1&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.SQLite(ctx, db, ms[:1]); err != nil {
		t.Fatal(err)
	}
	o := storetest.OldIDs
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO mailboxes (addr, created, count, bytes) VALUES (?1, ?4, 3, 6), (?2, ?4, 3, 6), (?3, ?4, 0, 0)`,
		o.Bob, o.Carol, o.Dave, now.UnixMilli())
	for i, to := range o.Owner {
		exec(`INSERT INTO envelopes (addr, data, arrived, expiry) VALUES (?, ?, ?, ?)`,
			to, fmt.Append(nil, "e", i+1), now.UnixMilli(), now.Add(time.Hour).UnixMilli())
	}
	exec(`DELETE FROM envelopes WHERE id = ?`, o.Deleted)
	db.Close()
	storetest.CheckMigratedIDs(t, openPath(t, path), now)
}
