package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/migrate"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

// TestMigrateMailboxIDs: a database written with one relay-wide id
// sequence (migration 0001) keeps its queued envelopes through migration
// 0002 (spec/relay.md §8.1): same ids, same order, acks of those ids
// work, and every mailbox's new envelopes continue above every id the old
// sequence gave (deleted ones included), so no id learnt before names a
// newer envelope.
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
	bob, carol, dave := storetest.Addr("bob", 1), storetest.Addr("carol", 2), storetest.Addr("dave", 3)
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	for _, m := range []struct {
		addr         []byte
		count, bytes int
	}{{bob, 3, 6}, {carol, 3, 6}, {dave, 0, 0}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO mailboxes (addr, created, count, bytes) VALUES (?, ?, ?, ?)`,
			m.addr, now.UnixMilli(), m.count, m.bytes); err != nil {
			t.Fatal(err)
		}
	}
	// Old ids: bob 1 3 5, carol 2 4 6, and 7 (carol's) given and deleted.
	for i := range 7 {
		to := bob
		if i%2 == 1 || i == 6 {
			to = carol
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO envelopes (addr, data, arrived, expiry) VALUES (?, ?, ?, ?)`,
			to, fmt.Appendf(nil, "e%d", i+1), now.UnixMilli(), now.Add(time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM envelopes WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	q := openPath(t, path)
	fetch := func(a []byte) (ids []int64, data []string) {
		es, err := q.Fetch(ctx, a, 0, 100, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			ids, data = append(ids, e.ID), append(data, string(e.Data))
		}
		return ids, data
	}
	if ids, data := fetch(bob); !slices.Equal(ids, []int64{1, 3, 5}) || !slices.Equal(data, []string{"e1", "e3", "e5"}) {
		t.Fatalf("bob after migration: %v %q", ids, data)
	}
	if ids, data := fetch(carol); !slices.Equal(ids, []int64{2, 4, 6}) || !slices.Equal(data, []string{"e2", "e4", "e6"}) {
		t.Fatalf("carol after migration: %v %q", ids, data)
	}
	if n, err := q.Ack(ctx, bob, []int64{3, 4, 7}); err != nil || n != 1 {
		t.Fatalf("Ack of old ids: %d, %v", n, err)
	}
	s := store.Send{
		Sender: bob, Now: now, Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
		MaxEnvelope: 100, MaxQueueCount: 100, MaxQueueBytes: 1000,
		Items: []store.Item{{Recipient: bob, Envelope: []byte("n")}, {Recipient: carol, Envelope: []byte("n")}, {Recipient: dave, Envelope: []byte("n")}},
	}
	r, err := q.Send(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.IDs, []int64{8, 8, 8}) || !slices.Equal(r.Prevs, []int64{7, 7, 7}) {
		t.Fatalf("new envelopes: IDs %v Prevs %v, want 8s after 7s", r.IDs, r.Prevs)
	}
	if ids, _ := fetch(bob); !slices.Equal(ids, []int64{1, 5, 8}) {
		t.Fatalf("bob: %v", ids)
	}
	if st, err := q.Stats(ctx, bob); err != nil || st != (store.Stats{Count: 3, Bytes: 5}) {
		t.Fatalf("bob's stats %+v, %v", st, err)
	}
}
