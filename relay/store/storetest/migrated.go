package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// OldIDs describes the database an engine's migration test writes with its
// schema of one relay-wide id sequence, before opening a store on it: the
// mailboxes Addr("bob", 1), Addr("carol", 2) and Addr("dave", 3), created
// at now, and envelopes given ids 1 to 7 by the old sequence, in order, each
// with data "e<id>" (2 bytes), arrival now and expiry now + 1 h: bob's are
// 1, 3, 5, carol's 2, 4, 6, 7, and 7 was then deleted (acked), so the
// depths are bob 3/6 and carol 3/6 (count/bytes) and dave 0/0.
var OldIDs = struct {
	Bob, Carol, Dave []byte
	// Owner[i] is the mailbox of old id i+1.
	Owner [][]byte
	// Deleted is the old id deleted after all were stored.
	Deleted int64
}{
	Bob: Addr("bob", 1), Carol: Addr("carol", 2), Dave: Addr("dave", 3),
	Owner:   [][]byte{Addr("bob", 1), Addr("carol", 2), Addr("bob", 1), Addr("carol", 2), Addr("bob", 1), Addr("carol", 2), Addr("carol", 2)},
	Deleted: 7,
}

// CheckMigratedIDs checks q, opened on the database OldIDs describes
// (spec/relay.md §8.1, existing databases): queued envelopes keep their
// ids, data and order; acks of those ids work (and of ids the mailbox does
// not hold do nothing); and every mailbox's new envelopes continue above
// every id the old sequence gave, deleted ones included (8, after 7), so
// no id a client learnt before the upgrade names a newer envelope.
func CheckMigratedIDs(t *testing.T, q store.Queue, now time.Time) {
	t.Helper()
	ctx := t.Context()
	o := OldIDs
	fetch := func(a []byte) (ids []int64, data []string) {
		t.Helper()
		es, err := q.Fetch(ctx, a, 0, 100, now)
		must(t, "Fetch", err)
		for _, e := range es {
			ids, data = append(ids, e.ID), append(data, string(e.Data))
			if !e.Arrived.Equal(now) || !e.Expiry.Equal(now.Add(time.Hour)) {
				t.Fatalf("envelope %d: arrived %v expiry %v", e.ID, e.Arrived, e.Expiry)
			}
		}
		return ids, data
	}
	for _, a := range [][]byte{o.Bob, o.Carol} {
		var want []int64
		var wantData []string
		for i, owner := range o.Owner {
			if id := int64(i + 1); string(owner) == string(a) && id != o.Deleted {
				want, wantData = append(want, id), append(wantData, fmt.Sprint("e", id))
			}
		}
		if ids, data := fetch(a); !slices.Equal(ids, want) || !slices.Equal(data, wantData) {
			t.Fatalf("%x after migration: IDs %v %q, want %v %q", a, ids, data, want, wantData)
		}
	}
	n, err := q.Ack(ctx, o.Bob, []int64{3, 4, o.Deleted})
	if err != nil || n != 1 {
		t.Fatalf("Ack of old IDs 3 (bob's), 4 (carol's), %d (gone): %d, %v", o.Deleted, n, err)
	}
	s := store.Send{
		Sender: o.Bob, Now: now, Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
		MaxEnvelope: 100, MaxQueueCount: 100, MaxQueueBytes: 1000,
		Items: []store.Item{{Recipient: o.Bob, Envelope: []byte("n")}, {Recipient: o.Carol, Envelope: []byte("n")}, {Recipient: o.Dave, Envelope: []byte("n")}},
	}
	r, err := q.Send(ctx, s)
	must(t, "Send", err)
	if !slices.Equal(r.IDs, []int64{8, 8, 8}) || !slices.Equal(r.Prevs, []int64{7, 7, 7}) {
		t.Fatalf("new envelopes: IDs %v Prevs %v, want [8 8 8] after [7 7 7]", r.IDs, r.Prevs)
	}
	if ids, _ := fetch(o.Bob); !slices.Equal(ids, []int64{1, 5, 8}) {
		t.Fatalf("bob holds %v, want [1 5 8]", ids)
	}
	for _, c := range []struct {
		addr []byte
		want store.Stats
	}{{o.Bob, store.Stats{Count: 3, Bytes: 5}}, {o.Carol, store.Stats{Count: 4, Bytes: 7}}, {o.Dave, store.Stats{Count: 1, Bytes: 1}}} {
		if st, err := q.Stats(ctx, c.addr); err != nil || st != c.want {
			t.Fatalf("Stats(%x) = %+v, %v; want %+v", c.addr, st, err, c.want)
		}
	}
}
