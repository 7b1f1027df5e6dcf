package storetest

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

func testDedup(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	s := f.newSend(alice,
		store.Item{Recipient: bob, Envelope: envelope("first", 10)},
		store.Item{Recipient: carol, Envelope: envelope("first", 10)},
	)
	f.send(s, false, store.Stored, store.NoMailbox)
	before := f.snap(bob, bob2, carol)

	// The same send again, and a "retry" carrying other items (a client
	// bug): both get the first answer and store nothing.
	f.send(s, true, store.Stored, store.NoMailbox)
	other := s
	other.Items = []store.Item{
		{Recipient: bob2, Envelope: envelope("other", 10)},
		{Recipient: bob2, Envelope: envelope("other", 10)},
		{Recipient: bob2, Envelope: envelope("other", 10)},
	}
	other.Now = s.Now.Add(59 * time.Minute)
	f.send(other, true, store.Stored, store.NoMailbox)
	f.unchanged("duplicate Send", before)

	// Another sender with the same message id, and the same sender with
	// another id, are new sends.
	s2 := s
	s2.Sender = Addr("alice", 2)
	f.send(s2, false, store.Stored, store.NoMailbox)
	s3 := f.newSend(alice, s.Items...)
	f.send(s3, false, store.Stored, store.NoMailbox)
	f.wantStats(bob, 3, 30)
	f.send(s2, true, store.Stored, store.NoMailbox)
	f.wantStats(bob, 3, 30)
}

func testDedupRefused(t *testing.T, f *fixture) {
	f.open(bob)
	full := f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("x", 10)})
	full.MaxQueueCount = 0
	f.send(full, false, store.QueueFull)
	// The retry gets the same refusal even though it would fit now.
	retry := full
	retry.MaxQueueCount = maxQueueCount
	before := f.snap(bob)
	f.send(retry, true, store.QueueFull)
	f.unchanged("duplicate of a refused Send", before)

	// Likewise for a recipient that has a mailbox by the time of the retry.
	s := f.newSend(alice, store.Item{Recipient: carol, Envelope: envelope("y", 10)})
	f.send(s, false, store.NoMailbox)
	f.open(carol)
	before = f.snap(carol)
	f.send(s, true, store.NoMailbox)
	f.unchanged("duplicate of a Send to a missing mailbox", before)
}

func testDedupExpiry(t *testing.T, f *fixture) {
	f.open(bob)
	window := time.Hour
	s := f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("a", 10)})
	f.send(s, false, store.Stored)

	// Just before DedupUntil it is a duplicate.
	retry := s
	retry.Now = s.DedupUntil.Add(-time.Millisecond)
	f.send(retry, true, store.Stored)
	f.wantStats(bob, 1, 10)

	// At DedupUntil, swept or not, it is a new send, whose record replaces
	// the old one.
	retry.Now = s.DedupUntil
	retry.Expiry = retry.Now.Add(window)
	retry.DedupUntil = retry.Now.Add(window)
	retry.MaxQueueCount = 1
	f.send(retry, false, store.QueueFull)
	f.wantStats(bob, 1, 10)
	again := retry
	again.Now = retry.Now.Add(time.Minute)
	f.send(again, true, store.QueueFull)

	// After DedupUntil and a Sweep it is a new send too.
	s2 := f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("b", 10)})
	f.send(s2, false, store.Stored)
	later := s2.DedupUntil.Add(time.Second)
	if _, err := f.q.Sweep(f.ctx, later); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	retry2 := s2
	retry2.Now = later
	retry2.Expiry = later.Add(window)
	retry2.DedupUntil = later.Add(window)
	f.send(retry2, false, store.Stored)
	f.send(retry2, true, store.Stored)
	if es := f.fetchAll(bob, later); len(es) != 1 || !es[0].Arrived.Equal(later) {
		t.Fatalf("after Sweep: %d live envelopes, want the retried one", len(es))
	}
}
