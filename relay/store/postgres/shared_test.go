package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

// Under concurrent shared sends (spread over the writers) and acks, no
// reference outlives its body and no body outlives its references, and
// the last acks of a body, racing, delete it (spec/relay.md §16.4).
func TestSharedRefsExact(t *testing.T) {
	dsn := pgtest.DSN(t)
	q := open(t, dsn)
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli())
	const boxes, sends = 300, 60
	addrs := make([][]byte, boxes)
	for i := range addrs {
		addrs[i] = storetest.Addr(fmt.Sprintf("m%04d", i), 1)
		if err := q.OpenMailbox(ctx, addrs[i], now); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for k := range sends {
		wg.Go(func() {
			body := []byte(fmt.Sprint("body ", k))
			items := make([]store.Item, boxes)
			for i := range items {
				items[i] = store.Item{Recipient: addrs[(i+k*7)%boxes], Envelope: body}
			}
			var id [store.MessageIDSize]byte
			copy(id[:], fmt.Sprintf("send%d", k))
			r, err := q.Send(ctx, store.Send{Sender: []byte("s"), MessageID: id, Items: items, Now: now,
				Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour), MaxEnvelope: 1000,
				MaxQueueCount: 1 << 20, MaxQueueBytes: 1 << 40, Shared: true})
			if err != nil {
				t.Error(err)
				return
			}
			// Half the recipients ack at once.
			var awg sync.WaitGroup
			for i := 0; i < boxes; i += 2 {
				awg.Go(func() {
					if _, err := q.Ack(ctx, items[i].Recipient, r.IDs[i:i+1]); err != nil {
						t.Error(err)
					}
				})
			}
			awg.Wait()
		})
	}
	wg.Wait()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	check := func(what string) {
		t.Helper()
		var orphans, unreferenced int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM relay_envelopes e WHERE body IS NOT NULL
			AND NOT EXISTS (SELECT FROM relay_bodies b WHERE b.id = e.body)`).Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRow(ctx, `SELECT count(*) FROM relay_bodies b
			WHERE NOT EXISTS (SELECT FROM relay_envelopes e WHERE e.body = b.id)`).Scan(&unreferenced); err != nil {
			t.Fatal(err)
		}
		if orphans != 0 || unreferenced != 0 {
			t.Fatalf("%s: %d references without a body, %d bodies without references", what, orphans, unreferenced)
		}
	}
	check("half acked")
	// The other half acks, every recipient at once: every body goes.
	rows, err := c.Query(ctx, `SELECT address, array_agg(id) FROM relay_envelopes GROUP BY address`)
	if err != nil {
		t.Fatal(err)
	}
	acks := map[string][]int64{}
	var addr []byte
	var ids []int64
	_, err = pgx.ForEachRow(rows, []any{&addr, &ids}, func() error {
		acks[string(addr)] = ids
		addr, ids = nil, nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for a, ids := range acks {
		wg.Go(func() {
			if _, err := q.Ack(ctx, []byte(a), ids); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	check("all acked")
	if st, err := q.BodyStats(ctx); err != nil || st != (store.BodyStats{}) {
		t.Fatalf("after every ack: %+v, %v", st, err)
	}
}
