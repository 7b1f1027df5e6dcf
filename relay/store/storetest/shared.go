package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Shared sends (spec/relay.md §16): one body, stored once, referenced
// from every recipient's mailbox, delivered as each one's envelope, and
// deleted with its last reference.

// members returns the addresses of n devices ("member000" device 1, ...),
// their mailboxes open.
func (f *fixture) members(n int) [][]byte {
	f.t.Helper()
	out := make([][]byte, n)
	for i := range out {
		out[i] = Addr(fmt.Sprintf("member%03d", i/2), uint32(i%2+1))
	}
	f.open(out...)
	return out
}

// sharedSend is a shared send from sender of body to every address of to.
func (f *fixture) sharedSend(sender, body []byte, to ...[]byte) store.Send {
	items := make([]store.Item, len(to))
	for i, a := range to {
		items[i] = store.Item{Recipient: a, Envelope: body}
	}
	s := f.newSend(sender, items...)
	s.Shared = true
	return s
}

// bodies returns the engine's shared-body counts; every engine must
// implement store.Bodies.
func (f *fixture) bodies() store.BodyStats {
	f.t.Helper()
	b, ok := f.q.(store.Bodies)
	if !ok {
		f.t.Fatalf("%T does not implement store.Bodies", f.q)
	}
	st, err := b.BodyStats(f.ctx)
	must(f.t, "BodyStats", err)
	return st
}

func (f *fixture) wantBodies(what string, want store.BodyStats) {
	f.t.Helper()
	if got := f.bodies(); got != want {
		f.t.Fatalf("%s: bodies %+v, want %+v", what, got, want)
	}
}

// repeat returns n copies of st.
func repeat(st store.Status, n int) []store.Status {
	out := make([]store.Status, n)
	for i := range out {
		out[i] = st
	}
	return out
}

// testShared: a shared send to N mailboxes stores one body; each mailbox
// is delivered it once, as its own envelope with its own id, counted in
// its depth; a redelivery gives the same; acks but the last keep the
// body, the last deletes it.
func testShared(t *testing.T, f *fixture) {
	const n = 12
	to := f.members(n)
	body := envelope("group message", 700)
	s := f.sharedSend(alice, body, to...)
	r := f.send(s, false, repeat(store.Stored, n)...)
	f.wantBodies("after the send", store.BodyStats{Count: 1, Bytes: int64(len(body)), Refs: n})
	for i, a := range to {
		f.wantStats(a, 1, int64(len(body)))
		for range 2 { // delivered again until acked (spec/relay.md §8.3)
			es := f.fetchAll(a, f.now)
			wantEnvelopes(t, es, s.Now, s.Expiry, body)
			if es[0].ID != r.IDs[i] {
				t.Fatalf("mailbox %d: ID %d, the send answered %d", i, es[0].ID, r.IDs[i])
			}
		}
	}
	for i, a := range to[:n-1] {
		k, err := f.q.Ack(f.ctx, a, []int64{r.IDs[i]})
		must(t, "Ack", err)
		if k != 1 {
			t.Fatalf("Ack deleted %d, want 1", k)
		}
		f.wantStats(a, 0, 0)
		f.wantBodies(fmt.Sprintf("after %d acks", i+1), store.BodyStats{Count: 1, Bytes: int64(len(body)), Refs: int64(n - i - 1)})
	}
	last := to[n-1]
	wantEnvelopes(t, f.fetchAll(last, f.now), s.Now, s.Expiry, body)
	// A repeated ack of an acked reference releases nothing.
	k, err := f.q.Ack(f.ctx, to[0], []int64{r.IDs[0]})
	must(t, "Ack again", err)
	if k != 0 {
		t.Fatalf("a repeated Ack deleted %d", k)
	}
	f.wantBodies("after a repeated ack", store.BodyStats{Count: 1, Bytes: int64(len(body)), Refs: 1})
	_, err = f.q.Ack(f.ctx, last, []int64{r.IDs[n-1]})
	must(t, "Ack", err)
	f.wantBodies("after the last ack", store.BodyStats{})
	f.wantStats(last, 0, 0)
	if es := f.fetchAll(last, f.now); len(es) != 0 {
		t.Fatalf("%d envelopes left after the last ack", len(es))
	}
}

// testSharedMixed: a shared send's references sit in the queues among
// ordinary envelopes, in id order, and one ack of several ids releases
// references and deletes envelopes together.
func testSharedMixed(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	one := f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("one", 5)}), false, store.Stored)
	body := envelope("shared", 50)
	sh := f.send(f.sharedSend(alice, body, bob, bob2, carol), false, store.Stored, store.Stored, store.NoMailbox)
	two := f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("two", 7)}), false, store.Stored)
	wantEnvelopes(t, f.fetchAll(bob, f.now), f.now, f.now.Add(time.Hour), envelope("one", 5), body, envelope("two", 7))
	f.wantStats(bob, 3, 5+50+7)
	_, err := f.q.Ack(f.ctx, bob, []int64{one.IDs[0], sh.IDs[0], two.IDs[0]})
	must(t, "Ack", err)
	f.wantStats(bob, 0, 0)
	f.wantBodies("after bob's acks", store.BodyStats{Count: 1, Bytes: 50, Refs: 1})
	wantEnvelopes(t, f.fetchAll(bob2, f.now), f.now, f.now.Add(time.Hour), body)
}

// testSharedOne: a shared send that stores one item stores it as an
// ordinary envelope (no body row); none stored, nothing at all.
func testSharedOne(t *testing.T, f *fixture) {
	f.open(bob)
	body := envelope("alone", 30)
	r := f.send(f.sharedSend(alice, body, bob, carol), false, store.Stored, store.NoMailbox)
	f.wantBodies("one stored", store.BodyStats{})
	wantEnvelopes(t, f.fetchAll(bob, f.now), f.now, f.now.Add(time.Hour), body)
	_, err := f.q.Ack(f.ctx, bob, r.IDs[:1])
	must(t, "Ack", err)
	f.wantStats(bob, 0, 0)
	big := envelope("big", maxEnvelope+1)
	f.send(f.sharedSend(alice, big, bob, bob), false, store.TooLarge, store.TooLarge)
	f.wantBodies("none stored", store.BodyStats{})
	f.wantStats(bob, 0, 0)
}

// testSharedQueueFull: a recipient at its cap refuses only its own
// reference; the body counts in each mailbox's bytes in full.
func testSharedQueueFull(t *testing.T, f *fixture) {
	f.open(alice, bob, bob2)
	s := f.newSend(carol, store.Item{Recipient: bob, Envelope: envelope("fill", 10)})
	s.MaxQueueCount = 1
	f.send(s, false, store.Stored)
	body := envelope("shared", 100)
	before := f.snap(bob)
	sh := f.sharedSend(carol, body, alice, bob, bob2)
	sh.MaxQueueCount = 1
	f.send(sh, false, store.Stored, store.QueueFull, store.Stored)
	f.unchanged("a shared send refused for bob", before)
	f.wantBodies("two references", store.BodyStats{Count: 1, Bytes: 100, Refs: 2})
	f.wantStats(alice, 1, 100)
	// Bytes: bob2 holds 150 bytes at most; the body fits twice, not three
	// times.
	for _, want := range []store.Status{store.Stored, store.QueueFull} {
		s := f.sharedSend(carol, body, bob2, alice)
		s.MaxQueueBytes = 250
		f.send(s, false, want, want)
	}
	f.wantStats(bob2, 2, 200)
	f.wantBodies("two bodies", store.BodyStats{Count: 2, Bytes: 200, Refs: 4})
}

// testSharedDedup: a retry of a shared send is answered as a duplicate
// and stores no body and no reference; a send refused for a mismatch
// stores nothing and claims no record.
func testSharedDedup(t *testing.T, f *fixture) {
	to := f.members(4)
	body := envelope("once", 64)
	s := f.sharedSend(alice, body, to...)
	f.send(s, false, repeat(store.Stored, 4)...)
	before := f.snap(to...)
	bodies := f.bodies()
	f.send(s, true, repeat(store.Stored, 4)...)
	f.unchanged("a retry of a shared send", before)
	if got := f.bodies(); got != bodies {
		t.Fatalf("a retry changed the bodies: %+v, was %+v", got, bodies)
	}

	bad := f.sharedSend(alice, body, to...)
	bad.Items[2].Envelope = envelope("other", 64)
	_, err := f.q.Send(f.ctx, bad)
	wantErr(t, "Send of a shared send with differing envelopes", err, store.ErrSharedMismatch)
	f.unchanged("a refused shared send", before)
	// Nothing was claimed: the same id with one body stores.
	bad.Items[2].Envelope = body
	f.send(bad, false, repeat(store.Stored, 4)...)
}

// testSharedExpiry: expired references are never delivered; Sweep
// deletes them, takes them off each mailbox's depth, and deletes the body
// with the last of them.
func testSharedExpiry(t *testing.T, f *fixture) {
	to := f.members(3)
	body := envelope("expires", 40)
	s := f.sharedSend(alice, body, to...)
	s.Expiry = f.now.Add(time.Minute)
	r := f.send(s, false, repeat(store.Stored, 3)...)
	keep := f.sharedSend(alice, envelope("keeps", 20), to[:2]...)
	f.send(keep, false, store.Stored, store.Stored)
	_, err := f.q.Ack(f.ctx, to[0], r.IDs[:1])
	must(t, "Ack", err)
	later := f.now.Add(2 * time.Minute)
	for _, a := range to[1:] {
		for _, e := range f.fetchAll(a, later) {
			if bytes.Equal(e.Data, body) {
				t.Fatalf("an expired reference was fetched")
			}
		}
	}
	n, err := f.q.Sweep(f.ctx, later)
	must(t, "Sweep", err)
	if n != 2 {
		t.Fatalf("Sweep deleted %d, want 2", n)
	}
	f.wantBodies("after the sweep", store.BodyStats{Count: 1, Bytes: 20, Refs: 2})
	f.wantStats(to[0], 1, 20)
	f.wantStats(to[1], 1, 20)
	f.wantStats(to[2], 0, 0)
}

// testSharedConcurrentAcks: every recipient acks at once; the body is
// deleted exactly when the last reference goes, whatever the order.
func testSharedConcurrentAcks(t *testing.T, f *fixture) {
	const n = 40
	to := f.members(n)
	const sends = 5
	var rs []store.SendResult
	for i := range sends {
		rs = append(rs, f.send(f.sharedSend(alice, envelope(fmt.Sprint("m", i), 100+i), to...), false, repeat(store.Stored, n)...))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, a := range to {
		wg.Go(func() {
			ids := make([]int64, sends)
			for j, r := range rs {
				ids[j] = r.IDs[i]
			}
			if _, err := f.q.Ack(f.ctx, a, ids); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Ack: %v", err)
	}
	f.wantBodies("after every ack", store.BodyStats{})
	for _, a := range to {
		f.wantStats(a, 0, 0)
	}
}

// testSharedAcrossStores: two stores on one database (two relay nodes
// on PostgreSQL): a shared send through one, acks through both; the body
// goes with the last ack, wherever it is taken.
func testSharedAcrossStores(t *testing.T, open func() store.Queue) {
	a := newFixture(t, open())
	b := newFixture(t, open())
	t.Cleanup(func() { a.q.Close(); b.q.Close() })
	b.ids = idSource{}
	b.ids.n.Store(1 << 32)
	b.now = a.now
	to := a.members(6)
	body := envelope("across", 80)
	r := a.send(a.sharedSend(alice, body, to...), false, repeat(store.Stored, 6)...)
	r2 := b.send(b.sharedSend(bob, body, to...), false, repeat(store.Stored, 6)...)
	for i, x := range to {
		via := a
		if i%2 == 1 {
			via = b
		}
		wantEnvelopes(t, via.fetchAll(x, via.now), a.now, a.now.Add(time.Hour), body, body)
		_, err := via.q.Ack(via.ctx, x, []int64{r.IDs[i], r2.IDs[i]})
		must(t, "Ack", err)
	}
	a.wantBodies("after every ack", store.BodyStats{})
	b.wantBodies("after every ack", store.BodyStats{})
}

// testSharedAccess: an anonymous shared send is checked per recipient
// (spec/relay.md §15.8): a device in mode contacts refuses a reference
// without its verifier, the others store theirs; one body for them.
func testSharedAccess(t *testing.T, f *fixture) {
	to := f.members(4)
	f.setAccess(to[1], store.AccessContacts, verifier(1), 0)
	f.setAccess(to[2], store.AccessContacts, verifier(2), 0)
	body := envelope("anonymous group message", 90)
	s := f.sharedSend([]byte{0, 'a', 'n', 'o', 'n'}, body, to...)
	s.CheckAccess = true
	s.Items[2].AccessVerifier = verifier(2)
	before := f.snap(to[1])
	f.sendFC(s, 0, store.Stored, store.AccessDenied, store.Stored, store.Stored)
	f.unchanged("an access_denied reference", before)
	f.wantBodies("three references", store.BodyStats{Count: 1, Bytes: 90, Refs: 3})
	wantEnvelopes(t, f.fetchAll(to[2], f.now), f.now, f.now.Add(time.Hour), body)
}
