package storetest

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Envelope ids are opaque (spec/relay.md §8.1): they depend on the
// mailbox's own envelopes only, keep order and redelivery, and an ack
// names envelopes of its own mailbox or nothing.

// testIDsPerMailbox checks that a mailbox's IDs reveal nothing of other
// mailboxes' traffic. Exactly: on two fresh stores, bob receives the same
// five envelopes; on one, carol's mailbox receives 1, 2, 3, 4, 5 envelopes
// after bob's first, second, ... (separate Sends, and once in the same
// Send as bob's); bob's IDs (as Send answers them and as Fetch returns
// them) must be equal on both stores.
func testIDsPerMailbox(t *testing.T, open func(t *testing.T) store.Queue) {
	run := func(busy bool) (bobIDs []int64) {
		f := newFixture(t, open(t))
		f.open(bob, carol)
		for r := range 5 {
			e := envelope(fmt.Sprint("bob ", r), 20)
			if busy && r == 2 {
				// In the same Send too.
				res := f.send(f.newSend(alice, store.Item{Recipient: carol, Envelope: e}, store.Item{Recipient: bob, Envelope: e}),
					false, store.Stored, store.Stored)
				bobIDs = append(bobIDs, res.IDs[1])
			} else {
				res := f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: e}), false, store.Stored)
				bobIDs = append(bobIDs, res.IDs[0])
			}
			for i := range r + 1 {
				if busy {
					f.send(f.newSend(alice, store.Item{Recipient: carol, Envelope: envelope(fmt.Sprint("carol ", r, i), 20)}),
						false, store.Stored)
				}
			}
		}
		if got := ids(f.fetchAll(bob, f.now)); !slices.Equal(got, bobIDs) {
			t.Fatalf("bob holds IDs %v, Send answered %v", got, bobIDs)
		}
		return bobIDs
	}
	quiet, busy := run(false), run(true)
	if !slices.Equal(quiet, busy) {
		t.Fatalf("bob's IDs depend on carol's traffic: %v with envelopes for carol between them, %v without", busy, quiet)
	}
}

// testRedelivery checks that envelopes fetched but not acked come again,
// with the same IDs and in the same order, on the next "connection" (a
// Fetch from 0), and that envelopes stored after them follow them.
func testRedelivery(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	var data [][]byte
	for i := range 6 {
		e := envelope(fmt.Sprint("bob ", i), 10+i)
		data = append(data, e)
		f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: e}, store.Item{Recipient: bob2, Envelope: e}),
			false, store.Stored, store.Stored)
	}
	// The first connection is delivered four and acks two of them.
	first, err := f.q.Fetch(f.ctx, bob, 0, 4, f.now)
	must(t, "Fetch", err)
	wantEnvelopes(t, first, f.now, f.now.Add(time.Hour), data[:4]...)
	if n, err := f.q.Ack(f.ctx, bob, []int64{first[0].ID, first[2].ID}); err != nil || n != 2 {
		t.Fatalf("Ack: %d, %v", n, err)
	}
	// The next one gets the rest from the lowest, IDs unchanged.
	again := f.fetchAll(bob, f.now)
	wantEnvelopes(t, again, f.now, f.now.Add(time.Hour), data[1], data[3], data[4], data[5])
	if again[0].ID != first[1].ID || again[1].ID != first[3].ID {
		t.Fatalf("redelivered IDs %v, first delivered %v", ids(again), ids(first))
	}
	// New envelopes come after them.
	e := envelope("late", 10)
	r := f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: e}), false, store.Stored)
	if r.IDs[0] <= again[3].ID || r.Prevs[0] != again[3].ID {
		t.Fatalf("new envelope ID %d Prev %d after %v", r.IDs[0], r.Prevs[0], ids(again))
	}
	es, err := f.q.Fetch(f.ctx, bob, again[3].ID, 10, f.now)
	must(t, "Fetch", err)
	wantEnvelopes(t, es, f.now, f.now.Add(time.Hour), e)
	f.wantStats(bob2, 6, 10+11+12+13+14+15)
}

// testAckForged checks that acks of IDs the mailbox does not hold (never
// given, the other mailboxes', extreme values, random ones) are ignored
// without error and change nothing, and that the mailbox's own IDs among
// them still count.
func testAckForged(t *testing.T, f *fixture) {
	f.open(bob, bob2, carol)
	for i := range 5 {
		f.send(f.newSend(alice,
			store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(i), 10)},
			store.Item{Recipient: bob2, Envelope: envelope(fmt.Sprint(i), 20)},
		), false, store.Stored, store.Stored)
	}
	f.send(f.newSend(alice, store.Item{Recipient: bob2, Envelope: envelope("x", 20)}), false, store.Stored)
	mine := ids(f.fetchAll(bob, f.now))
	theirs := ids(f.fetchAll(bob2, f.now))
	forged := []int64{0, -1, math.MinInt64, math.MaxInt64, mine[4] + 1, mine[4] + 1000, mine[0] - 1}
	for _, id := range theirs {
		if !slices.Contains(mine, id) {
			forged = append(forged, id)
		}
	}
	var b [8 * 200]byte
	rand.Read(b[:])
	for i := 0; i < len(b); i += 8 {
		id := int64(binary.LittleEndian.Uint64(b[i:]))
		if i%16 == 0 {
			id = int64(uint64(id) % 4096) // small ones, where ids are
		}
		if !slices.Contains(mine, id) {
			forged = append(forged, id)
		}
	}
	before := f.snap(bob, bob2, carol)
	for _, addr := range [][]byte{bob, carol, Addr("nobody", 3)} {
		n, err := f.q.Ack(f.ctx, addr, forged)
		must(t, "Ack of forged IDs", err)
		if n != 0 {
			t.Fatalf("Ack of forged IDs for %x deleted %d", addr, n)
		}
	}
	f.unchanged("Ack of forged IDs", before)

	// Among forged ones, the mailbox's own still go, and only those.
	n, err := f.q.Ack(f.ctx, bob, append(slices.Clone(forged[:20]), mine[1], mine[3]))
	must(t, "Ack", err)
	if n != 2 {
		t.Fatalf("Ack deleted %d, want 2", n)
	}
	if got := ids(f.fetchAll(bob, f.now)); !slices.Equal(got, []int64{mine[0], mine[2], mine[4]}) {
		t.Fatalf("after Ack: IDs %v", got)
	}
	f.unchanged("Ack of bob's IDs", snapshot{string(bob2): before[string(bob2)], string(carol): before[string(carol)]})
}

// testAcksAcrossStores runs two stores on one database at once, as two
// relay nodes sharing PostgreSQL do (and, for SQLite, two processes on one
// file): what one delivered, the other acks (a client that reconnected to
// another node carries its acks there); both then see it gone; IDs keep
// increasing across them, and each fetches after the other's IDs.
func testAcksAcrossStores(t *testing.T, open func() store.Queue) {
	a := newFixture(t, open())
	b := newFixture(t, open())
	t.Cleanup(func() { a.q.Close(); b.q.Close() })
	b.ids = idSource{}
	b.ids.n.Store(1 << 32) // message ids distinct from a's
	a.open(bob, bob2)
	for i := range 4 {
		a.send(a.newSend(alice, store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint("a", i), 10)},
			store.Item{Recipient: bob2, Envelope: envelope(fmt.Sprint("a", i), 10)}), false, store.Stored, store.Stored)
	}
	delivered, err := a.q.Fetch(a.ctx, bob, 0, 3, a.now)
	must(t, "Fetch", err)
	if len(delivered) != 3 {
		t.Fatalf("fetched %d, want 3", len(delivered))
	}
	before2 := a.snap(bob2)
	n, err := b.q.Ack(b.ctx, bob, ids(delivered))
	must(t, "Ack on the other store", err)
	if n != 3 {
		t.Fatalf("Ack on the other store deleted %d, want 3", n)
	}
	a.unchanged("Ack of bob's IDs", before2)
	left := a.fetchAll(bob, a.now)
	if len(left) != 1 || left[0].ID <= delivered[2].ID {
		t.Fatalf("after the ack: IDs %v (delivered %v)", ids(left), ids(delivered))
	}
	if got := ids(b.fetchAll(bob, b.now)); !slices.Equal(got, ids(left)) {
		t.Fatalf("the other store sees IDs %v, want %v", got, ids(left))
	}
	// Sends through either store continue the mailbox's IDs.
	last := left[0].ID
	for i := range 4 {
		via := a
		if i%2 == 1 {
			via = b
		}
		r := via.send(via.newSend(alice, store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint("n", i), 10)}), false, store.Stored)
		if r.IDs[0] <= last || r.Prevs[0] != last {
			t.Fatalf("send %d: ID %d Prev %d after %d", i, r.IDs[0], r.Prevs[0], last)
		}
		other := a
		if via == a {
			other = b
		}
		got, err := other.q.Fetch(other.ctx, bob, last, 10, other.now)
		must(t, "Fetch on the other store", err)
		if len(got) != 1 || got[0].ID != r.IDs[0] {
			t.Fatalf("the other store fetched %v after %d, want [%d]", ids(got), last, r.IDs[0])
		}
		last = r.IDs[0]
	}
	a.wantStats(bob, 5, 50)
	b.wantStats(bob, 5, 50)
}
