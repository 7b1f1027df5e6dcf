package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Recipient access control (spec/relay.md §15.8): the access setting of a
// mailbox, checked by a Send with CheckAccess in its transaction, and the
// first-contact allowance.

// verifier returns a distinct 32-byte verifier for label.
func verifier(label byte) []byte { return bytes.Repeat([]byte{label}, store.VerifierSize) }

// anonSend is newSend with CheckAccess and perHour first contacts an
// hour, from a spent-key-like sender.
func (f *fixture) anonSend(perHour int, items ...store.Item) store.Send {
	s := f.newSend([]byte{0, 'a', 'n', 'o', 'n'}, items...)
	s.CheckAccess, s.FirstContactPerHour = true, perHour
	return s
}

// keyed is an item to to with verifier v (nil: none).
func keyed(to []byte, label string, v []byte) store.Item {
	return store.Item{Recipient: to, Envelope: envelope(label, 10), AccessVerifier: v}
}

func (f *fixture) setAccess(addr []byte, mode store.AccessMode, v []byte, prev time.Duration) {
	f.t.Helper()
	must(f.t, "SetAccess", f.q.SetAccess(f.ctx, addr, store.AccessChange{Mode: mode, Verifier: v, PreviousValid: prev, Now: f.now}))
}

func (f *fixture) wantAccess(addr []byte, want store.Access) {
	f.t.Helper()
	a, err := f.q.Access(f.ctx, addr)
	must(f.t, "Access", err)
	if a.Mode != want.Mode || !bytes.Equal(a.Current, want.Current) || !bytes.Equal(a.Previous, want.Previous) ||
		(want.Previous != nil && !a.PreviousUntil.Equal(want.PreviousUntil)) {
		f.t.Fatalf("Access(%x) = %+v, want %+v", addr, a, want)
	}
}

// sendFC is send that also checks the first contacts answered.
func (f *fixture) sendFC(s store.Send, firstContacts int, want ...store.Status) {
	f.t.Helper()
	r := f.send(s, false, want...)
	if r.FirstContacts != firstContacts {
		f.t.Fatalf("Send: %d first contacts, want %d", r.FirstContacts, firstContacts)
	}
}

// testAccessOpen: a new mailbox is open; every item passes, keyed or not.
func testAccessOpen(t *testing.T, f *fixture) {
	f.open(bob)
	f.wantAccess(bob, store.Access{Mode: store.AccessOpen})
	f.sendFC(f.anonSend(0, keyed(bob, "a", nil), keyed(bob, "b", verifier(9))), 0, store.Stored, store.Stored)
	// Back to open after contacts: the verifiers are forgotten.
	f.setAccess(bob, store.AccessContacts, verifier(1), time.Hour)
	f.setAccess(bob, store.AccessOpen, nil, 0)
	f.wantAccess(bob, store.Access{Mode: store.AccessOpen})
	f.sendFC(f.anonSend(0, keyed(bob, "c", nil)), 0, store.Stored)
	f.wantStats(bob, 3, 30)
}

// testAccessContacts: the right verifier passes; others take the
// first-contact allowance, then are AccessDenied and stored nowhere; the
// allowance refills at its rate; sends without CheckAccess are not
// checked.
func testAccessContacts(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	v := verifier(1)
	f.setAccess(bob, store.AccessContacts, v, 0)
	f.wantAccess(bob, store.Access{Mode: store.AccessContacts, Current: v})
	// perHour 2: T = 30 min, burst 2.
	f.sendFC(f.anonSend(2, keyed(bob, "k1", v), keyed(bob, "u1", nil), keyed(bob2, "o1", nil), keyed(bob, "u2", verifier(2))),
		2, store.Stored, store.Stored, store.Stored, store.Stored)
	before := f.snap(bob, bob2)
	f.sendFC(f.anonSend(2, keyed(bob, "u3", nil), keyed(bob, "u4", verifier(2))), 0, store.AccessDenied, store.AccessDenied)
	f.unchanged("an AccessDenied send", before)
	// The right key is never refused for access; other mailboxes and
	// authenticated sends are not checked.
	f.sendFC(f.anonSend(2, keyed(bob, "k2", v), keyed(bob, "u5", nil)), 0, store.Stored, store.AccessDenied)
	f.send(f.newSend(alice, keyed(bob, "auth", nil)), false, store.Stored)
	f.wantStats(bob, 5, 50)
	// One T later, one more.
	f.now = f.now.Add(30 * time.Minute)
	f.sendFC(f.anonSend(2, keyed(bob, "u6", nil), keyed(bob, "u7", nil)), 1, store.Stored, store.AccessDenied)
	// A retry of a send is its first answer, and takes no allowance.
	f.now = f.now.Add(time.Hour)
	s := f.anonSend(2, keyed(bob, "u8", nil))
	f.sendFC(s, 1, store.Stored)
	f.send(s, true, store.Stored)
	f.sendFC(f.anonSend(2, keyed(bob, "u9", nil), keyed(bob, "u10", nil)), 1, store.Stored, store.AccessDenied)
	// No allowance: every unsolicited item is refused.
	f.now = f.now.Add(24 * time.Hour)
	f.sendFC(f.anonSend(0, keyed(bob, "z", nil), keyed(bob, "k3", v)), 0, store.AccessDenied, store.Stored)
}

// testAccessQueueFull: an unsolicited item refused QueueFull takes no
// allowance; the access check comes after NoMailbox and TooLarge.
func testAccessQueueFull(t *testing.T, f *fixture) {
	f.open(bob)
	f.setAccess(bob, store.AccessContacts, verifier(1), 0)
	s := f.anonSend(1, keyed(bob, "u1", nil), keyed(carol, "n", nil), store.Item{Recipient: bob, Envelope: envelope("big", maxEnvelope+1)})
	s.MaxQueueCount = 0
	f.sendFC(s, 0, store.QueueFull, store.NoMailbox, store.TooLarge)
	f.sendFC(f.anonSend(1, keyed(bob, "u2", nil), keyed(bob, "u3", nil)), 1, store.Stored, store.AccessDenied)
}

// testAccessRotation: a previous verifier is valid until its expiry; a
// change with PreviousValid 0 kills the old one at once.
func testAccessRotation(t *testing.T, f *fixture) {
	f.open(bob)
	v1, v2, v3 := verifier(1), verifier(2), verifier(3)
	f.setAccess(bob, store.AccessContacts, v1, 0)
	set := f.now
	f.setAccess(bob, store.AccessContacts, v2, time.Hour)
	f.wantAccess(bob, store.Access{Mode: store.AccessContacts, Current: v2, Previous: v1, PreviousUntil: set.Add(time.Hour)})
	f.sendFC(f.anonSend(0, keyed(bob, "a", v1), keyed(bob, "b", v2)), 0, store.Stored, store.Stored)
	f.now = set.Add(time.Hour - time.Millisecond)
	f.sendFC(f.anonSend(0, keyed(bob, "c", v1)), 0, store.Stored)
	f.now = set.Add(time.Hour)
	before := f.snap(bob)
	f.sendFC(f.anonSend(0, keyed(bob, "d", v1)), 0, store.AccessDenied)
	f.unchanged("an expired previous verifier", before)
	f.sendFC(f.anonSend(0, keyed(bob, "e", v2)), 0, store.Stored)
	// A repeat of the rotation (a retry after a lost AccessSet) keeps
	// the previous verifier; a repeat with 0 drops it.
	f.now = set
	f.setAccess(bob, store.AccessContacts, v2, time.Hour)
	f.wantAccess(bob, store.Access{Mode: store.AccessContacts, Current: v2, Previous: v1, PreviousUntil: set.Add(time.Hour)})
	f.setAccess(bob, store.AccessContacts, v2, 0)
	f.wantAccess(bob, store.Access{Mode: store.AccessContacts, Current: v2})
	f.now = set.Add(time.Hour)
	// A block: v2 stops at once.
	f.setAccess(bob, store.AccessContacts, v3, 0)
	f.wantAccess(bob, store.Access{Mode: store.AccessContacts, Current: v3})
	f.sendFC(f.anonSend(0, keyed(bob, "f", v2), keyed(bob, "g", v3)), 0, store.AccessDenied, store.Stored)
}

// testAccessRefused: SetAccess without a mailbox or with a malformed
// change fails and changes nothing.
func testAccessRefused(t *testing.T, f *fixture) {
	f.open(bob)
	err := f.q.SetAccess(f.ctx, carol, store.AccessChange{Mode: store.AccessContacts, Verifier: verifier(1), Now: f.now})
	wantErr(t, "SetAccess without a mailbox", err, store.ErrNoMailbox)
	_, err = f.q.Access(f.ctx, carol)
	wantErr(t, "Access without a mailbox", err, store.ErrNoMailbox)
	for _, c := range []store.AccessChange{
		{Mode: store.AccessContacts, Verifier: verifier(1)[:31]},
		{Mode: store.AccessContacts},
		{Mode: store.AccessOpen, Verifier: verifier(1)},
		{Mode: store.AccessOpen, PreviousValid: time.Second},
		{Mode: 0, Verifier: verifier(1)},
		{Mode: 3, Verifier: verifier(1)},
	} {
		c.Now = f.now
		wantErr(t, "SetAccess of a malformed change", f.q.SetAccess(f.ctx, bob, c), store.ErrInvalidAccess)
	}
	f.wantAccess(bob, store.Access{Mode: store.AccessOpen})
}

// testAccessAcrossStores: a setting and an allowance written through one
// store hold for a store opened on the same database at the same time
// (another relay node), and for one opened after both closed (a restart).
func testAccessAcrossStores(t *testing.T, open func() store.Queue) {
	a := newFixture(t, open())
	b := newFixture(t, open())
	t.Cleanup(func() { a.q.Close(); b.q.Close() })
	b.ids.n.Store(1 << 32)
	b.now = a.now
	a.open(bob)
	v1, v2 := verifier(1), verifier(2)
	a.setAccess(bob, store.AccessContacts, v1, 0)
	b.sendFC(b.anonSend(1, keyed(bob, "k", v1), keyed(bob, "u1", nil), keyed(bob, "u2", nil)), 1, store.Stored, store.Stored, store.AccessDenied)
	a.sendFC(a.anonSend(1, keyed(bob, "u3", nil)), 0, store.AccessDenied)
	b.setAccess(bob, store.AccessContacts, v2, time.Hour)
	a.sendFC(a.anonSend(1, keyed(bob, "k1", v1), keyed(bob, "k2", v2)), 0, store.Stored, store.Stored)
	a.q.Close()
	b.q.Close()
	c := newFixture(t, open())
	t.Cleanup(func() { c.q.Close() })
	c.ids.n.Store(2 << 32)
	c.now = a.now
	c.wantAccess(bob, store.Access{Mode: store.AccessContacts, Current: v2, Previous: v1, PreviousUntil: a.now.Add(time.Hour)})
	c.sendFC(c.anonSend(1, keyed(bob, "u4", nil), keyed(bob, "k3", v2)), 0, store.AccessDenied, store.Stored)
	c.now = a.now.Add(time.Hour)
	c.sendFC(c.anonSend(1, keyed(bob, "k4", v1), keyed(bob, "u5", nil)), 1, store.Stored, store.AccessDenied)
}
