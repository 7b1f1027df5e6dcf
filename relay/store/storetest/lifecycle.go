package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

func testSweep(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	var first store.Send
	for i := range 4 {
		s := f.newSend(alice,
			store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(i), 10)},
			store.Item{Recipient: bob2, Envelope: envelope(fmt.Sprint(i), 20)},
		)
		s.Expiry = f.now.Add(time.Duration(i+1) * time.Minute)
		f.send(s, false, store.Stored, store.Stored)
		if i == 0 {
			first = s
		}
	}
	// Nothing has expired yet.
	before := f.snap(bob, bob2)
	n, err := f.q.Sweep(f.ctx, f.now)
	must(t, "Sweep", err)
	if n != 0 {
		t.Fatalf("Sweep before expiry deleted %d", n)
	}
	f.unchanged("Sweep before expiry", before)

	// At the second expiry, the first two sends' envelopes go in both
	// mailboxes.
	at := f.now.Add(2 * time.Minute)
	n, err = f.q.Sweep(f.ctx, at)
	must(t, "Sweep", err)
	if n != 4 {
		t.Fatalf("Sweep deleted %d, want 4", n)
	}
	f.wantStats(bob, 2, 20)
	f.wantStats(bob2, 2, 40)
	if es := f.fetchAll(bob, at); len(es) != 2 || string(es[0].Data[:1]) != "2" || string(es[1].Data[:1]) != "3" {
		t.Fatalf("after Sweep: %d envelopes left, want sends 2 and 3", len(es))
	}
	n, err = f.q.Sweep(f.ctx, at)
	must(t, "Sweep", err)
	if n != 0 {
		t.Fatalf("second Sweep deleted %d", n)
	}

	// The dedup record of a send whose envelopes expired lives on until
	// its own DedupUntil.
	before = f.snap(bob, bob2)
	retry := first
	retry.Now = at
	f.send(retry, true, store.Stored, store.Stored)
	f.unchanged("duplicate of a swept Send", before)
}

// testWake checks Wake's channel; what it carries is engine-specific
// (another relay's Sends), but not this store's own: those are answered
// with their IDs (testSendIDs).
func testWake(t *testing.T, f *fixture) {
	wake := f.q.Wake()
	if wake == nil {
		t.Fatal("Wake returned nil")
	}
	if f.q.Wake() != wake {
		t.Fatal("Wake returned another channel")
	}
}

func testClose(t *testing.T, f *fixture) {
	f.open(bob)
	f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("x", 10)}), false, store.Stored)
	must(t, "Close", f.q.Close())
	ctx, now := f.ctx, f.now

	wantErr(t, "OpenMailbox after Close", f.q.OpenMailbox(ctx, bob2, now), store.ErrClosed)
	_, err := f.q.Send(ctx, f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("y", 10)}))
	wantErr(t, "Send after Close", err, store.ErrClosed)
	_, err = f.q.Fetch(ctx, bob, 0, 10, now)
	wantErr(t, "Fetch after Close", err, store.ErrClosed)
	_, err = f.q.Ack(ctx, bob, []int64{1})
	wantErr(t, "Ack after Close", err, store.ErrClosed)
	_, err = f.q.Stats(ctx, bob)
	wantErr(t, "Stats after Close", err, store.ErrClosed)
	_, err = f.q.Sweep(ctx, now)
	wantErr(t, "Sweep after Close", err, store.ErrClosed)
	f.q.Close() // harmless; the result is not specified
}

// testReopen checks that everything answered survives closing the store
// and opening the database again.
func testReopen(t *testing.T, open func() store.Queue) {
	f := newFixture(t, open())
	f.open(bob, bob2)
	s := f.newSend(alice,
		store.Item{Recipient: bob, Envelope: envelope("a", 10)},
		store.Item{Recipient: bob2, Envelope: envelope("b", 20)},
		store.Item{Recipient: carol, Envelope: envelope("c", 30)},
	)
	f.send(s, false, store.Stored, store.Stored, store.NoMailbox)
	s2 := f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("d", 40)})
	f.send(s2, false, store.Stored)
	es := f.fetchAll(bob, f.now)
	n, err := f.q.Ack(f.ctx, bob, []int64{es[1].ID})
	must(t, "Ack", err)
	if n != 1 {
		t.Fatalf("Ack deleted %d, want 1", n)
	}
	before := f.snap(bob, bob2, carol)
	must(t, "Close", f.q.Close())

	f.q = open()
	t.Cleanup(func() { f.q.Close() })
	f.unchanged("reopening", before)
	// The dedup records survived, the acked envelope stays gone, and IDs
	// keep increasing.
	f.send(s, true, store.Stored, store.Stored, store.NoMailbox)
	f.send(s2, true, store.Stored)
	f.unchanged("duplicate Send after reopening", before)
	f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("e", 50)}), false, store.Stored)
	after := f.fetchAll(bob, f.now)
	if len(after) != 2 || after[0].ID != es[0].ID || after[1].ID <= es[1].ID {
		t.Fatalf("after reopening and sending: IDs %v (had %v)", ids(after), ids(es))
	}
	f.wantStats(bob, 2, 60)
}
