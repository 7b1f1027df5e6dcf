package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/postgres"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Queue { return open(t, pgtest.DSN(t)) },
		storetest.WithReopen(func(t *testing.T) func() store.Queue {
			dsn := pgtest.DSN(t)
			return func() store.Queue { return open(t, dsn) }
		}))
}

func BenchmarkSend(b *testing.B) {
	storetest.BenchmarkSend(b, func(b *testing.B) store.Queue { return open(b, pgtest.DSN(b)) })
}

// open opens a Queue on dsn, closed at cleanup.
func open(t testing.TB, dsn string) *postgres.Queue {
	t.Helper()
	q, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestNilFields: nil sender and envelope bytes are stored as empty, not
// refused (pgx would send them as NULL) and do not fail a batch.
func TestNilFields(t *testing.T) {
	q := open(t, pgtest.DSN(t))
	bob := uniqueAddr(t, 1)
	if err := q.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := newSend(nil, nil, bob)
	if r := mustSend(t, q, s, false); r.Statuses[0] != store.Stored {
		t.Fatalf("statuses %v", r.Statuses)
	}
	mustSend(t, q, s, true)
	if es := fetchAll(t, q, bob); len(es) != 1 || len(es[0].Data) != 0 {
		t.Fatalf("fetched %d envelopes", len(es))
	}
}

// BenchmarkShared: storetest.BenchmarkShared, with the bytes of the rows
// of the relay's tables (pg_column_size, tuple headers included; indexes
// and line pointers not) as the footprint.
func BenchmarkShared(b *testing.B) {
	var conns = map[store.Queue]*pgx.Conn{}
	storetest.BenchmarkShared(b, func(b *testing.B) store.Queue {
		dsn := pgtest.DSN(b)
		q := open(b, dsn)
		c, err := pgx.Connect(b.Context(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(context.Background()) })
		conns[q] = c
		return q
	}, func(q store.Queue) int64 {
		var n int64
		err := conns[q].QueryRow(context.Background(), `SELECT
			(SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM relay_envelopes e) +
			(SELECT coalesce(sum(pg_column_size(b.*)), 0) FROM relay_bodies b) +
			(SELECT coalesce(sum(pg_column_size(d.*)), 0) FROM relay_dedup d)`).Scan(&n)
		if err != nil {
			b.Fatal(err)
		}
		return n
	})
}
