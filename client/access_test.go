package client

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/relay"
)

// peerKey is the access key c recorded for device 1 of handle, or nil.
func peerKey(t *testing.T, c *Client, handle string) []byte {
	t.Helper()
	var k []byte
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		var err error
		k, err = tx.PeerAccessKey(handle, 1)
		return err
	})
	if errors.Is(err, localstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ownKey is c's current access key.
func ownKey(t *testing.T, c *Client) []byte {
	t.Helper()
	a, err := c.access(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return a.Key
}

// spec/client.md §13.6: every message a device sends to another account
// carries its access key, and the recipient records it per device; a
// version 1 message does not (it has no Content), nor does a receipt: a
// device hands its key only to accounts it writes to.
func TestAccessKeyHandedOut(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	v1, err := alice.Send(ctxT(t), "bob", []byte("version 1"))
	if err != nil {
		t.Fatal(err)
	}
	recv(t, bob)
	if err := bob.SendReceipts(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		st, err := alice.MessageStatus(ctxT(t), v1)
		return err == nil && st.Delivered > 0
	})
	if k := peerKey(t, bob, "alice"); k != nil {
		t.Fatalf("a version 1 message carried a key: %x", k)
	}
	if k := peerKey(t, alice, "bob"); k != nil {
		t.Fatalf("bob's delivery receipt carried his key: %x", k)
	}
	if _, err := bob.SendText(ctxT(t), "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	recv(t, alice)
	if !bytes.Equal(peerKey(t, alice, "bob"), ownKey(t, bob)) {
		t.Fatal("alice recorded another key than bob's")
	}
	id, err := alice.SendText(ctxT(t), "bob", "a text")
	if err != nil {
		t.Fatal(err)
	}
	m := recv(t, bob)
	// The key is the transport's: not in what the application or the
	// history sees, on either side.
	if m.Content == nil || m.Content.GetAccessKey() != nil {
		t.Fatalf("the application sees the sender's access key: %+v", m.Content)
	}
	for _, c := range []*Client{alice, bob} {
		peer := map[*Client]string{alice: "bob", bob: "alice"}[c]
		if e := entry(t, c, peer, id); e == nil || e.Content == nil || e.Content.GetAccessKey() != nil {
			t.Fatalf("%s's history keeps the access key: %+v", c.Handle(), e)
		}
	}
	if k := peerKey(t, bob, "alice"); !bytes.Equal(k, ownKey(t, alice)) {
		t.Fatalf("bob recorded %x for alice, want her key", k)
	}
}

// spec/client.md §13.7: a blocked account's messages are dropped and
// sends to it refused; the device's key changes at once and reaches its
// other contacts in an access update, never the blocked account; Unblock
// takes its messages again.
func TestBlock(t *testing.T) {
	s := startServers(t, engineSQLite)
	bob, carol, mallory := s.newUser("bob"), s.newUser("carol"), s.newUser("mallory")
	for _, c := range []*Client{carol, mallory} {
		if _, err := c.SendText(ctxT(t), "bob", "hi from "+c.Handle()); err != nil {
			t.Fatal(err)
		}
		recv(t, bob)
		if _, err := bob.SendText(ctxT(t), c.Handle(), "hi "+c.Handle()); err != nil {
			t.Fatal(err)
		}
		recv(t, c)
	}
	old := ownKey(t, bob)
	if err := bob.Block(ctxT(t), "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Block(ctxT(t), "mallory"); err != nil {
		t.Fatalf("blocking twice: %v", err)
	}
	if err := bob.Block(ctxT(t), "bob"); !errors.Is(err, ErrInvalidHandle) {
		t.Fatalf("blocking oneself: %v, want ErrInvalidHandle", err)
	}
	if hs, err := bob.Blocked(ctxT(t)); err != nil || len(hs) != 1 || hs[0] != "mallory" {
		t.Fatalf("Blocked = %v, %v", hs, err)
	}
	fresh := ownKey(t, bob)
	if bytes.Equal(fresh, old) {
		t.Fatal("the access key did not change")
	}
	// carol gets the new key in an access update, shown as nothing.
	waitFor(t, func() bool { return bytes.Equal(peerKey(t, carol, "bob"), fresh) })
	noMessage(t, carol, 200*time.Millisecond)
	if !bytes.Equal(peerKey(t, mallory, "bob"), old) {
		t.Fatal("mallory learnt bob's new key")
	}
	// mallory's message is dropped; bob cannot write to her.
	if _, err := mallory.SendText(ctxT(t), "bob", "let me in"); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, bob, EventEnvelopeDropped)
	if e.Handle != "mallory" || !errors.Is(e.Err, errBlocked) {
		t.Fatalf("dropped event %+v", e)
	}
	noMessage(t, bob, 200*time.Millisecond)
	before := outgoingCount(t, bob)
	if _, err := bob.SendText(ctxT(t), "mallory", "go away"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("SendText to a blocked account: %v, want ErrBlocked", err)
	}
	if n := outgoingCount(t, bob); n != before {
		t.Fatalf("a refused send queued %d envelopes", n-before)
	}
	// Unblocked: taken again.
	if err := bob.Unblock(ctxT(t), "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Unblock(ctxT(t), "mallory"); !errors.Is(err, ErrUnknownHandle) {
		t.Fatalf("Unblock twice: %v, want ErrUnknownHandle", err)
	}
	if _, err := mallory.SendText(ctxT(t), "bob", "sorry"); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, bob); string(m.Plaintext) != "sorry" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
}

// outgoingCount is how many envelopes c has queued.
func outgoingCount(t *testing.T, c *Client) int {
	t.Helper()
	var n int
	if err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		os, err := tx.OutgoingQueue(1000)
		n = len(os)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// registered waits until the relay confirmed c's access state.
func registered(t *testing.T, c *Client) {
	t.Helper()
	if err := c.WaitAccessConfirmed(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// spec/client.md §13.6, spec/relay.md §15.8, end to end: a device in
// contacts-only mode takes anonymous envelopes from a contact that has its
// key, and from strangers only within its first-contact allowance, the
// rest refused (access denied) and nothing stored; after a block the
// blocked account's key is refused at the relay while the other contacts,
// given the new key, still get through.
func TestContactsOnly(t *testing.T) {
	s, _, reg := anonServersWith(t, engineSQLite, func(c *relay.Config) {
		c.Limits.FirstContactPerHour = 2
	})
	bob := s.newUser("bob")
	alice, carol, mallory := s.newAnonUser("alice"), s.newAnonUser("carol"), s.newAnonUser("mallory")
	for _, c := range []*Client{alice, carol} {
		// bob writes first: they learn his key.
		if _, err := bob.SendText(ctxT(t), c.Handle(), "hi "+c.Handle()); err != nil {
			t.Fatal(err)
		}
		recv(t, c)
	}
	if err := bob.SetContactsOnly(ctxT(t), true); err != nil {
		t.Fatal(err)
	}
	registered(t, bob)
	for _, c := range []*Client{alice, carol} {
		if _, err := c.SendText(ctxT(t), "bob", "from a contact"); err != nil {
			t.Fatalf("%s: %v", c.Handle(), err)
		}
		recv(t, bob)
	}
	// A stranger: two first contacts, then refused.
	for i := range 2 {
		if _, err := mallory.SendText(ctxT(t), "bob", "first contact"); err != nil {
			t.Fatalf("first contact %d: %v", i, err)
		}
		recv(t, bob)
	}
	// Receipts in flight would be counted too: none left.
	for _, c := range []*Client{alice, bob, carol, mallory} {
		if err := c.SendReceipts(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	// And none still on its way: the count stands still for a while.
	before := counter(t, reg, "sealpost_relay_envelopes_stored_total")
	for settled := time.Now(); time.Since(settled) < time.Second; time.Sleep(50 * time.Millisecond) {
		if n := counter(t, reg, "sealpost_relay_envelopes_stored_total"); n != before {
			before, settled = n, time.Now()
		}
	}
	_, err := mallory.SendText(ctxT(t), "bob", "one too many")
	var se *SendError
	if !errors.As(err, &se) || len(se.Refused) != 1 || se.Refused[0].Reason != "access denied" {
		t.Fatalf("past the allowance: %v, want a SendError with access denied", err)
	}
	if after := counter(t, reg, "sealpost_relay_envelopes_stored_total"); after != before {
		t.Fatalf("a refused envelope was stored: %v then %v stored", before, after)
	}
	if n := counterLabel(t, reg, "sealpost_relay_refusals_total", "reason", "access_denied"); n < 1 {
		t.Fatalf("access_denied refusals %v", n)
	}
	// bob blocks alice: carol gets the new key, alice keeps the old one,
	// which the relay now refuses (the allowance is spent).
	if err := bob.Block(ctxT(t), "alice"); err != nil {
		t.Fatal(err)
	}
	registered(t, bob)
	waitFor(t, func() bool { return bytes.Equal(peerKey(t, carol, "bob"), ownKey(t, bob)) })
	if _, err := carol.SendText(ctxT(t), "bob", "still friends"); err != nil {
		t.Fatalf("carol after the block: %v", err)
	}
	if m := recv(t, bob); string(m.Plaintext) != "still friends" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	_, err = alice.SendText(ctxT(t), "bob", "blocked")
	if !errors.As(err, &se) || len(se.Refused) != 1 || se.Refused[0].Reason != "access denied" {
		t.Fatalf("alice after the block: %v, want access denied at the relay", err)
	}
}
