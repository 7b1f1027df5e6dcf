package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/migrate"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store/postgres"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

// TestMigrateMailboxIDs: a database written with one relay-wide id
// sequence (migration 0001) keeps its queued envelopes through migration
// 0002 (spec/relay.md §8.1; storetest.CheckMigratedIDs says what holds).
func TestMigrateMailboxIDs(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := t.Context()
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	if err := migrate.Postgres(ctx, conn, "relay", ms[:1]); err != nil {
		t.Fatal(err)
	}
	o := storetest.OldIDs
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO relay_mailboxes (address, created_ns, count, bytes) VALUES ($1, $4, 3, 6), ($2, $4, 3, 6), ($3, $4, 0, 0)`,
		o.Bob, o.Carol, o.Dave, now.UnixNano())
	for i, to := range o.Owner {
		exec(`INSERT INTO relay_envelopes (address, data, size, arrived_ns, expiry_ns) VALUES ($1, $2, 2, $3, $4)`,
			to, fmt.Append(nil, "e", i+1), now.UnixNano(), now.Add(time.Hour).UnixNano())
	}
	exec(`DELETE FROM relay_envelopes WHERE id = $1`, o.Deleted)
	storetest.CheckMigratedIDs(t, open(t, dsn), now)
}
