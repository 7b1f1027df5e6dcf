package client

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
)

// peerKey is the access key c recorded for device 1 of handle, or nil.
func peerKey(t *testing.T, c *Client, handle string) []byte {
	t.Helper()
	var k []byte
	err := c.store.View(ctxT(t), func(tx *localstore.Tx) error {
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

// spec/client.md §13.6: every Content to another account carries the
// sending device's access key, and the recipient records it per device; a
// version 1 message does not (it has no Content) but its receipt does.
func TestAccessKeyHandedOut(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	if _, err := alice.Send(ctxT(t), "bob", []byte("version 1")); err != nil {
		t.Fatal(err)
	}
	recv(t, bob)
	if k := peerKey(t, bob, "alice"); k != nil {
		t.Fatalf("a version 1 message carried a key: %x", k)
	}
	// bob's delivery receipt is a Content: alice learns bob's key.
	waitFor(t, func() bool { return peerKey(t, alice, "bob") != nil })
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
	if err := c.store.View(ctxT(t), func(tx *localstore.Tx) error {
		os, err := tx.OutgoingQueue(1000)
		n = len(os)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
