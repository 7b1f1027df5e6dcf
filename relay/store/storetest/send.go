package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

var (
	alice = Addr("alice", 1)
	bob   = Addr("bob", 1)
	bob2  = Addr("bob", 2)
	carol = Addr("carol", 7) // never has a mailbox unless a test opens it
)

func testOpenMailbox(t *testing.T, f *fixture) {
	_, err := f.q.Stats(f.ctx, bob)
	wantErr(t, "Stats before OpenMailbox", err, store.ErrNoMailbox)
	f.open(bob)
	f.wantStats(bob, 0, 0)
	_, err = f.q.Stats(f.ctx, bob2)
	wantErr(t, "Stats of another device", err, store.ErrNoMailbox)

	// Opening again keeps the queue.
	env := envelope("keep", 100)
	f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: env}), false, store.Stored)
	before := f.snap(bob)
	f.open(bob)
	f.unchanged("second OpenMailbox", before)
	f.wantStats(bob, 1, 100)
}

func testSendStatuses(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	e1, e2, e3 := envelope("one", 300), envelope("two", 200), envelope("three", maxEnvelope)
	big := envelope("big", maxEnvelope+1)
	s := f.newSend(alice,
		store.Item{Recipient: bob, Envelope: e1},
		store.Item{Recipient: carol, Envelope: e1},
		store.Item{Recipient: bob2, Envelope: e2},
		store.Item{Recipient: bob, Envelope: big},
		store.Item{Recipient: bob, Envelope: e3},
	)
	f.send(s, false, store.Stored, store.NoMailbox, store.Stored, store.TooLarge, store.Stored)

	f.wantStats(bob, 2, 300+maxEnvelope)
	f.wantStats(bob2, 1, 200)
	_, err := f.q.Stats(f.ctx, carol)
	wantErr(t, "Stats of a recipient without mailbox", err, store.ErrNoMailbox)
	wantEnvelopes(t, f.fetchAll(bob, f.now), s.Now, s.Expiry, e1, e3)
	wantEnvelopes(t, f.fetchAll(bob2, f.now), s.Now, s.Expiry, e2)

	// A send with no items stores nothing and answers nothing.
	before := f.snap(bob, bob2)
	f.send(f.newSend(alice), false)
	f.unchanged("empty Send", before)
}

func testSendAllRefused(t *testing.T, f *fixture) {
	f.open(bob)
	f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("x", 10)}), false, store.Stored)
	before := f.snap(bob, bob2, carol)
	f.send(f.newSend(alice,
		store.Item{Recipient: carol, Envelope: envelope("a", 10)},
		store.Item{Recipient: bob2, Envelope: envelope("b", 10)},
		store.Item{Recipient: bob, Envelope: envelope("c", maxEnvelope+1)},
	), false, store.NoMailbox, store.NoMailbox, store.TooLarge)
	f.unchanged("refused Send", before)
}

func testTooLarge(t *testing.T, f *fixture) {
	f.open(bob)
	before := f.snap(bob, carol)
	// TooLarge comes before NoMailbox.
	s := f.newSend(alice,
		store.Item{Recipient: bob, Envelope: envelope("big", maxEnvelope+1)},
		store.Item{Recipient: carol, Envelope: envelope("big", maxEnvelope+1)},
	)
	f.send(s, false, store.TooLarge, store.TooLarge)
	f.unchanged("TooLarge", before)

	// The cap is the sender's limit, not a fixed one.
	s = f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("small", 10)})
	s.MaxEnvelope = 9
	f.send(s, false, store.TooLarge)
	f.unchanged("TooLarge under a smaller cap", before)
	s = f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("small", 10)})
	s.MaxEnvelope = 10
	f.send(s, false, store.Stored)
	f.wantStats(bob, 1, 10)
}

func testQueueFullCount(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	limit := func(s store.Send) store.Send { s.MaxQueueCount = 3; return s }
	for i := range 2 {
		f.send(limit(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("e", 10+i)})), false, store.Stored)
	}
	// Items of one send see the ones before them.
	f.send(limit(f.newSend(alice,
		store.Item{Recipient: bob, Envelope: envelope("e", 12)},
		store.Item{Recipient: bob, Envelope: envelope("e", 13)},
		store.Item{Recipient: bob2, Envelope: envelope("f", 10)},
	)), false, store.Stored, store.QueueFull, store.Stored)
	f.wantStats(bob, 3, 10+11+12)

	before := f.snap(bob, bob2)
	f.send(limit(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("g", 1)})), false, store.QueueFull)
	f.unchanged("QueueFull", before)

	// An ack makes room again.
	es := f.fetchAll(bob, f.now)
	n, err := f.q.Ack(f.ctx, bob, []int64{es[0].ID})
	must(t, "Ack", err)
	if n != 1 {
		t.Fatalf("Ack deleted %d, want 1", n)
	}
	f.send(limit(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("h", 1)})), false, store.Stored)
	f.wantStats(bob, 3, 11+12+1)
}

func testQueueFullBytes(t *testing.T, f *fixture) {
	f.open(bob)
	limit := func(s store.Send) store.Send { s.MaxQueueBytes = 100; return s }
	f.send(limit(f.newSend(alice,
		store.Item{Recipient: bob, Envelope: envelope("a", 40)},
		store.Item{Recipient: bob, Envelope: envelope("b", 40)},
		store.Item{Recipient: bob, Envelope: envelope("c", 40)},
		store.Item{Recipient: bob, Envelope: envelope("d", 20)},
	)), false, store.Stored, store.Stored, store.QueueFull, store.Stored)
	f.wantStats(bob, 3, 100)

	before := f.snap(bob)
	f.send(limit(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("e", 1)})), false, store.QueueFull)
	f.unchanged("QueueFull by bytes", before)
	wantEnvelopes(t, f.fetchAll(bob, f.now), f.now, f.now.Add(time.Hour),
		envelope("a", 40), envelope("b", 40), envelope("d", 20))
}

func testSendCancelled(t *testing.T, f *fixture) {
	f.open(bob)
	before := f.snap(bob)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	s := f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("x", 10)})
	if _, err := f.q.Send(ctx, s); err == nil {
		t.Fatal("Send with a cancelled context succeeded")
	}
	f.unchanged("cancelled Send", before)
	// It left no dedup record either.
	f.send(s, false, store.Stored)
}

// testSendIDs checks the IDs and Prevs a Send answers: each stored item's
// ID is the one Fetch returns for it, and its Prev the highest ID its
// mailbox held (or, after deletes, at most the highest it ever held),
// which is what a relay pushing the envelope without a Fetch relies on.
func testSendIDs(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	e1, e2, e3 := envelope("one", 10), envelope("two", 20), envelope("three", 30)
	r := f.send(f.newSend(alice,
		store.Item{Recipient: bob, Envelope: e1},
		store.Item{Recipient: carol, Envelope: e1},
		store.Item{Recipient: bob, Envelope: e2},
		store.Item{Recipient: bob2, Envelope: e3},
		store.Item{Recipient: bob, Envelope: envelope("big", maxEnvelope+1)},
	), false, store.Stored, store.NoMailbox, store.Stored, store.Stored, store.TooLarge)
	id1, id2, id3 := r.IDs[0], r.IDs[2], r.IDs[3]
	if !slices.Equal(r.Prevs, []int64{0, 0, id1, 0, 0}) {
		t.Fatalf("Prevs %v, want [0 0 %d 0 0]", r.Prevs, id1)
	}
	if got := ids(f.fetchAll(bob, f.now)); !slices.Equal(got, []int64{id1, id2}) {
		t.Fatalf("bob holds %v, answered %v", got, []int64{id1, id2})
	}
	if got := ids(f.fetchAll(bob2, f.now)); !slices.Equal(got, []int64{id3}) {
		t.Fatalf("bob2 holds %v, answered %v", got, []int64{id3})
	}

	// The next send sees the earlier one.
	r = f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: e3}), false, store.Stored)
	id4 := r.IDs[0]
	if r.Prevs[0] != id2 {
		t.Fatalf("Prev %d, want %d", r.Prevs[0], id2)
	}

	// After acks of the newest, Prev is at least what is left, at most
	// the highest the mailbox had.
	if n, err := f.q.Ack(f.ctx, bob, []int64{id2, id4}); err != nil || n != 2 {
		t.Fatalf("Ack: %d, %v", n, err)
	}
	r = f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: e1}), false, store.Stored)
	id5 := r.IDs[0]
	if p := r.Prevs[0]; p < id1 || p > id4 {
		t.Fatalf("Prev %d after acks, want in [%d, %d]", p, id1, id4)
	}
	if got := ids(f.fetchAll(bob, f.now)); !slices.Equal(got, []int64{id1, id5}) {
		t.Fatalf("bob holds %v, want %v", got, []int64{id1, id5})
	}

	// A duplicate stored nothing: no IDs (f.send checks).
	s := f.newSend(alice, store.Item{Recipient: bob2, Envelope: e2})
	f.send(s, false, store.Stored)
	f.send(s, true, store.Stored)
}

// testSendCommitted checks store.Send.Committed: called once, before Send
// returns, with the answer Send returns; not for a duplicate.
func testSendCommitted(t *testing.T, f *fixture) {
	f.open(bob)
	var calls []store.SendResult
	s := f.newSend(alice,
		store.Item{Recipient: bob, Envelope: envelope("a", 10)},
		store.Item{Recipient: carol, Envelope: envelope("b", 10)},
	)
	s.Committed = func(r store.SendResult) { calls = append(calls, r) }
	r := f.send(s, false, store.Stored, store.NoMailbox)
	if len(calls) != 1 || !slices.Equal(calls[0].Statuses, r.Statuses) || !slices.Equal(calls[0].IDs, r.IDs) ||
		!slices.Equal(calls[0].Prevs, r.Prevs) || calls[0].Duplicate {
		t.Fatalf("Committed got %+v, Send answered %+v", calls, r)
	}
	f.send(s, true, store.Stored, store.NoMailbox)
	if len(calls) != 1 {
		t.Fatalf("Committed called for a duplicate: %+v", calls[1:])
	}
}
