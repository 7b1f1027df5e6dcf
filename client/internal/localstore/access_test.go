//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// spec/client-store.md §4.1, §4.21: this device's access state round-trips
// sealed; a peer device's key replaces the one recorded; blocking is
// idempotent and undone by Unblock.
func TestAccessState(t *testing.T) {
	s, _ := create(t, pass("p"))
	k1, k2 := bytes.Repeat([]byte{1}, AccessKeySize), bytes.Repeat([]byte{2}, AccessKeySize)
	view(t, s, func(tx Tx) error {
		if _, err := tx.Access(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Access of a new store: %v, want ErrNotFound", err)
		}
		if _, err := tx.PeerAccessKey("bob", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("PeerAccessKey of none: %v, want ErrNotFound", err)
		}
		return nil
	})
	until := t0.Add(time.Hour)
	update(t, s, func(tx Tx) error {
		if err := tx.PutAccess(Access{Key: k1[:31]}); err == nil {
			t.Error("PutAccess of a 31-byte key accepted")
		}
		if err := tx.PutAccess(Access{Contacts: true, Key: k2, Previous: k1, PreviousUntil: until}); err != nil {
			return err
		}
		if err := tx.PutPeerAccessKey("bob", 1, k1, t0); err != nil {
			return err
		}
		if err := tx.PutPeerAccessKey("bob", 1, k2, t0); err != nil {
			return err
		}
		if err := tx.PutPeerAccessKey("bob", 2, k1[:5], t0); err == nil {
			t.Error("PutPeerAccessKey of 5 bytes accepted")
		}
		if err := tx.MarkAccessGiven("carol", t0); err != nil {
			return err
		}
		if err := tx.MarkAccessGiven("carol", until); err != nil {
			return err
		}
		if err := tx.Block("mallory", t0); err != nil {
			return err
		}
		return tx.Block("mallory", until)
	})
	view(t, s, func(tx Tx) error {
		a, err := tx.Access()
		if err != nil || !a.Contacts || a.Registered || !bytes.Equal(a.Key, k2) || !bytes.Equal(a.Previous, k1) || !a.PreviousUntil.Equal(until) {
			t.Errorf("Access = %+v, %v", a, err)
		}
		if k, err := tx.PeerAccessKey("bob", 1); err != nil || !bytes.Equal(k, k2) {
			t.Errorf("PeerAccessKey(bob, 1) = %x, %v; want the second key", k, err)
		}
		if _, err := tx.PeerAccessKey("bob", 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("the refused key was stored: %v", err)
		}
		if b, err := tx.Blocked("mallory"); err != nil || !b {
			t.Errorf("Blocked(mallory) = %v, %v", b, err)
		}
		if hs, err := tx.BlockedHandles(); err != nil || len(hs) != 1 || hs[0] != "mallory" {
			t.Errorf("BlockedHandles = %v, %v", hs, err)
		}
		if hs, err := tx.AccessGiven(); err != nil || len(hs) != 1 || hs[0] != "carol" {
			t.Errorf("AccessGiven = %v, %v", hs, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.PutAccess(Access{Key: k1, Registered: true}); err != nil {
			return err
		}
		if err := tx.Unblock("mallory"); err != nil {
			return err
		}
		if err := tx.Unblock("mallory"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Unblock twice: %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		a, err := tx.Access()
		if err != nil || a.Contacts || !a.Registered || a.Previous != nil || !a.PreviousUntil.IsZero() {
			t.Errorf("Access after the change = %+v, %v", a, err)
		}
		if b, _ := tx.Blocked("mallory"); b {
			t.Error("still blocked after Unblock")
		}
		return nil
	})
}

// spec/client-store.md §4.23: a device's seal key round-trips, bound to
// its row, and a later fetch replaces it.
func TestSealKeys(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if _, _, err := tx.SealKey("bob", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("SealKey of none: %v", err)
		}
		if err := tx.PutSealKey("bob", 1, []byte("old"), t0); err != nil {
			return err
		}
		return tx.PutSealKey("bob", 1, []byte("new"), t0.Add(time.Hour))
	})
	view(t, s, func(tx Tx) error {
		p, at, err := tx.SealKey("bob", 1)
		if err != nil || string(p) != "new" || !at.Equal(t0.Add(time.Hour)) {
			t.Errorf("SealKey = %q %v %v", p, at, err)
		}
		if _, _, err := tx.SealKey("bob", 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("SealKey of another device: %v", err)
		}
		return nil
	})
}

// spec/client-store.md §4.25: a group's tracker round-trips sealed and
// bound to its id; a later one replaces it.
func TestGroups(t *testing.T) {
	s, _ := create(t, pass("p"))
	g1, g2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	update(t, s, func(tx Tx) error {
		if _, err := tx.Group(g1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Group of none: %v", err)
		}
		if err := tx.PutGroup(g2, []byte("two"), t0); err != nil {
			return err
		}
		if err := tx.PutGroup(g1, []byte("old"), t0); err != nil {
			return err
		}
		return tx.PutGroup(g1, []byte("new"), t0)
	})
	view(t, s, func(tx Tx) error {
		if b, err := tx.Group(g1); err != nil || string(b) != "new" {
			t.Errorf("Group(g1) = %q, %v", b, err)
		}
		ids, err := tx.GroupIDs()
		if err != nil || len(ids) != 2 || !bytes.Equal(ids[0], g1) || !bytes.Equal(ids[1], g2) {
			t.Errorf("GroupIDs = %x, %v", ids, err)
		}
		return nil
	})
}

// spec/client-store.md §4.27: queued group messages come back in order
// with their recipients, and leave when deleted.
func TestGroupOutgoing(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if err := tx.PutGroupOutgoing(GroupOutgoing{MessageID: []byte("m1"), Body: []byte("b1"), Recipients: [][]byte{[]byte("a1"), []byte("b22")}, Created: t0}); err != nil {
			return err
		}
		if err := tx.PutGroupOutgoing(GroupOutgoing{MessageID: []byte("m1"), Body: []byte("x"), Created: t0}); err == nil {
			t.Error("a second row with one message id")
		}
		return tx.PutGroupOutgoing(GroupOutgoing{MessageID: []byte("m2"), Body: []byte("b2"), Recipients: [][]byte{[]byte("c")}, Created: t0})
	})
	update(t, s, func(tx Tx) error {
		q, err := tx.GroupOutgoingQueue()
		if err != nil || len(q) != 2 || string(q[0].Body) != "b1" || len(q[0].Recipients) != 2 || string(q[0].Recipients[1]) != "b22" || string(q[1].MessageID) != "m2" {
			t.Errorf("GroupOutgoingQueue = %+v, %v", q, err)
		}
		if err := tx.DeleteGroupOutgoing([]byte("m1")); err != nil {
			return err
		}
		if err := tx.DeleteGroupOutgoing([]byte("m1")); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting twice: %v", err)
		}
		return nil
	})
}
