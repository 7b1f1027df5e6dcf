package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Link mailboxes (spec/relay.md §17, store.Links). Conventions beyond the
// interface comments: expiries come back equal to the whole-millisecond
// times put in; a link mailbox is live while now is before its expiry; an
// envelope sent to one expires at the earlier of the send's Expiry and the
// mailbox's; a shared Send never stores to one (NoMailbox); link mailboxes
// and their envelopes are shared by every store on the database.

// linkAddr returns a link address: 0x00 || 32 bytes of b.
func linkAddr(b byte) []byte {
	return append([]byte{0}, bytes.Repeat([]byte{b}, 32)...)
}

// links returns the fixture's store as store.Links, failing the test if
// the engine does not implement it.
func (f *fixture) links() store.Links {
	f.t.Helper()
	l, ok := f.q.(store.Links)
	if !ok {
		f.t.Fatal("the engine's Queue does not implement store.Links")
	}
	return l
}

// openLink opens addr with offer, expiring at exp, and checks the answer.
func (f *fixture) openLink(addr, offer []byte, exp time.Time, wantCreated bool, wantOffer []byte, wantExp time.Time) {
	f.t.Helper()
	l, created, err := f.links().OpenLink(f.ctx, addr, offer, f.now, exp, 1000)
	must(f.t, "OpenLink", err)
	if created != wantCreated || !bytes.Equal(l.Offer, wantOffer) || !l.Expires.Equal(wantExp) {
		f.t.Fatalf("OpenLink: created %v offer %q expires %v, want %v %q %v", created, l.Offer, l.Expires, wantCreated, wantOffer, wantExp)
	}
}

func testLinkOpen(t *testing.T, f *fixture) {
	ls := f.links()
	a, exp := linkAddr(1), f.now.Add(10*time.Minute)
	if _, err := ls.Link(f.ctx, a, f.now); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("Link before OpenLink: %v, want ErrNoMailbox", err)
	}
	f.openLink(a, []byte("offer"), exp, true, []byte("offer"), exp)
	// A reconnect with the same secret keeps the offer and the expiry:
	// without an offer, with the same one, and with a later expiry asked.
	f.openLink(a, nil, exp.Add(time.Hour), false, []byte("offer"), exp)
	f.openLink(a, []byte("offer"), exp.Add(time.Hour), false, []byte("offer"), exp)
	before := f.snap(a)
	if _, _, err := ls.OpenLink(f.ctx, a, []byte("other"), f.now, exp, 1000); !errors.Is(err, store.ErrLinkConflict) {
		t.Fatalf("OpenLink with another offer: %v, want ErrLinkConflict", err)
	}
	f.unchanged("a conflicting OpenLink", before)
	l, err := ls.Link(f.ctx, a, f.now)
	must(t, "Link", err)
	if !bytes.Equal(l.Offer, []byte("offer")) || !l.Expires.Equal(exp) {
		t.Fatalf("Link: %q %v, want the first offer and expiry", l.Offer, l.Expires)
	}
	// Without an offer: the mailbox has none, and a later one conflicts.
	b := linkAddr(2)
	f.openLink(b, nil, exp, true, nil, exp)
	if _, _, err := ls.OpenLink(f.ctx, b, []byte("late"), f.now, exp, 1000); !errors.Is(err, store.ErrLinkConflict) {
		t.Fatalf("OpenLink with an offer after none: %v, want ErrLinkConflict", err)
	}
	// A device mailbox is no link mailbox.
	f.open(bob)
	if _, err := ls.Link(f.ctx, bob, f.now); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("Link of a device mailbox: %v, want ErrNoMailbox", err)
	}
	if ok, err := ls.CloseLink(f.ctx, bob); err != nil || ok {
		t.Fatalf("CloseLink of a device mailbox: %v %v, want false", ok, err)
	}
	f.wantStats(bob, 0, 0)
}

func testLinkSend(t *testing.T, f *fixture) {
	a, exp := linkAddr(3), f.now.Add(10*time.Minute)
	f.openLink(a, []byte("o"), exp, true, []byte("o"), exp)
	f.open(bob)
	e1, e2 := envelope("one", 40), envelope("two", 50)
	// The send's expiry is an hour: the envelope gets the mailbox's.
	f.send(f.newSend(bob, store.Item{Recipient: a, Envelope: e1}), false, store.Stored)
	s := f.newSend(bob, store.Item{Recipient: a, Envelope: e2})
	s.Expiry = f.now.Add(time.Minute)
	f.send(s, false, store.Stored)
	es := f.fetchAll(a, f.now)
	if len(es) != 2 || !es[0].Expiry.Equal(exp) || !es[1].Expiry.Equal(f.now.Add(time.Minute)) {
		t.Fatalf("link envelopes: %+v, want expiries %v and %v", es, exp, f.now.Add(time.Minute))
	}
	f.wantStats(a, 2, 90)
	n, err := f.q.Ack(f.ctx, a, []int64{es[0].ID})
	must(t, "Ack", err)
	if n != 1 {
		t.Fatalf("Ack deleted %d, want 1", n)
	}
	// A shared send never stores to a link mailbox.
	body := envelope("shared", 30)
	sh := f.newSend(bob, store.Item{Recipient: a, Envelope: body}, store.Item{Recipient: bob, Envelope: body})
	sh.Shared = true
	before := f.snap(a)
	f.send(sh, false, store.NoMailbox, store.Stored)
	f.unchanged("a shared send to a link mailbox", before)
	// Expired: no_mailbox, and its envelopes are gone from Fetch.
	late := f.newSend(bob, store.Item{Recipient: a, Envelope: e1})
	late.Now = exp
	late.Expiry = exp.Add(time.Hour)
	r, err := f.q.Send(f.ctx, late)
	must(t, "Send", err)
	if !slices.Equal(r.Statuses, []store.Status{store.NoMailbox}) {
		t.Fatalf("send to an expired link mailbox: %v, want no_mailbox", r.Statuses)
	}
	if es := f.fetchAll(a, exp); len(es) != 0 {
		t.Fatalf("expired link mailbox delivers %d envelopes", len(es))
	}
}

func testLinkExpiry(t *testing.T, f *fixture) {
	ls := f.links()
	a, b := linkAddr(4), linkAddr(5)
	exp := f.now.Add(time.Minute)
	f.openLink(a, []byte("a"), exp, true, []byte("a"), exp)
	f.openLink(b, []byte("b"), f.now.Add(time.Hour), true, []byte("b"), f.now.Add(time.Hour))
	f.open(bob)
	f.send(f.newSend(bob, store.Item{Recipient: a, Envelope: envelope("x", 20)}, store.Item{Recipient: b, Envelope: envelope("y", 20)}), false, store.Stored, store.Stored)
	if _, _, err := ls.OpenLink(f.ctx, a, nil, exp, exp.Add(time.Minute), 1000); !errors.Is(err, store.ErrLinkExpired) {
		t.Fatalf("OpenLink at its expiry: %v, want ErrLinkExpired", err)
	}
	if _, err := ls.Link(f.ctx, a, exp); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("Link at its expiry: %v, want ErrNoMailbox", err)
	}
	n, err := ls.SweepLinks(f.ctx, exp.Add(-time.Millisecond))
	must(t, "SweepLinks", err)
	if n != 0 {
		t.Fatalf("SweepLinks before the expiry deleted %d", n)
	}
	before := f.snap(b, bob)
	n, err = ls.SweepLinks(f.ctx, exp)
	must(t, "SweepLinks", err)
	if n != 1 {
		t.Fatalf("SweepLinks deleted %d, want 1", n)
	}
	f.unchanged("SweepLinks", before)
	if _, err := f.q.Stats(f.ctx, a); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("Stats of a swept link mailbox: %v, want ErrNoMailbox", err)
	}
	if es := f.fetchAll(a, f.now); len(es) != 0 {
		t.Fatalf("swept link mailbox still holds %d envelopes", len(es))
	}
	// The ordinary sweep leaves no envelope behind either.
	if _, err := f.q.Sweep(f.ctx, exp); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
}

func testLinkClose(t *testing.T, f *fixture) {
	ls := f.links()
	a, b := linkAddr(6), linkAddr(7)
	exp := f.now.Add(time.Hour)
	f.openLink(a, []byte("a"), exp, true, []byte("a"), exp)
	f.openLink(b, []byte("b"), exp, true, []byte("b"), exp)
	f.open(bob)
	f.send(f.newSend(bob, store.Item{Recipient: a, Envelope: envelope("x", 20)}, store.Item{Recipient: b, Envelope: envelope("y", 20)},
		store.Item{Recipient: bob, Envelope: envelope("z", 20)}), false, store.Stored, store.Stored, store.Stored)
	before := f.snap(b, bob)
	ok, err := ls.CloseLink(f.ctx, a)
	must(t, "CloseLink", err)
	if !ok {
		t.Fatal("CloseLink found no link mailbox")
	}
	f.unchanged("CloseLink of another mailbox", before)
	if _, err := ls.Link(f.ctx, a, f.now); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("Link after CloseLink: %v, want ErrNoMailbox", err)
	}
	if es := f.fetchAll(a, f.now); len(es) != 0 {
		t.Fatalf("closed link mailbox still holds %d envelopes", len(es))
	}
	f.send(f.newSend(bob, store.Item{Recipient: a, Envelope: envelope("late", 20)}), false, store.NoMailbox)
	if ok, err := ls.CloseLink(f.ctx, a); err != nil || ok {
		t.Fatalf("second CloseLink: %v %v, want false", ok, err)
	}
}

func testLinkCap(t *testing.T, f *fixture) {
	ls := f.links()
	exp := f.now.Add(time.Hour)
	short := linkAddr(8)
	if _, _, err := ls.OpenLink(f.ctx, short, nil, f.now, f.now.Add(time.Second), 2); err != nil {
		t.Fatalf("OpenLink: %v", err)
	}
	if _, _, err := ls.OpenLink(f.ctx, linkAddr(9), nil, f.now, exp, 2); err != nil {
		t.Fatalf("OpenLink: %v", err)
	}
	if _, _, err := ls.OpenLink(f.ctx, linkAddr(10), nil, f.now, exp, 2); !errors.Is(err, store.ErrLinkCap) {
		t.Fatalf("OpenLink over the cap: %v, want ErrLinkCap", err)
	}
	if _, err := ls.Link(f.ctx, linkAddr(10), f.now); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("a refused link mailbox exists: %v", err)
	}
	// Reopening one that exists is not a creation.
	if _, created, err := ls.OpenLink(f.ctx, linkAddr(9), nil, f.now, exp, 2); err != nil || created {
		t.Fatalf("reopening at the cap: created %v, %v", created, err)
	}
	// An expired one no longer counts, swept or not.
	later := f.now.Add(2 * time.Second)
	if _, created, err := ls.OpenLink(f.ctx, linkAddr(10), nil, later, exp, 2); err != nil || !created {
		t.Fatalf("OpenLink once one expired: created %v, %v", created, err)
	}
}

func testLinkAcrossStores(t *testing.T, open func() store.Queue) {
	a := newFixture(t, open())
	b := newFixture(t, open())
	t.Cleanup(func() { a.q.Close(); b.q.Close() })
	b.ids.n.Store(1 << 32)
	l, exp := linkAddr(11), a.now.Add(time.Hour)
	a.openLink(l, []byte("offer"), exp, true, []byte("offer"), exp)
	b.openLink(l, nil, exp, false, []byte("offer"), exp)
	b.open(bob)
	b.send(b.newSend(bob, store.Item{Recipient: l, Envelope: envelope("via b", 20)}), false, store.Stored)
	if es := a.fetchAll(l, a.now); len(es) != 1 || !es[0].Expiry.Equal(exp) {
		t.Fatalf("store a sees %+v", es)
	}
	ok, err := b.links().CloseLink(b.ctx, l)
	must(t, "CloseLink", err)
	if !ok {
		t.Fatal("CloseLink on store b found nothing")
	}
	a.send(a.newSend(bob, store.Item{Recipient: l, Envelope: envelope("late", 20)}), false, store.NoMailbox)
	if _, err := a.links().Link(a.ctx, l, a.now); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("store a: Link after CloseLink on b: %v", err)
	}
}
