//go:build !js

package localstore

import (
	"errors"
	"slices"
	"testing"
)

// TestContactPending: a pending account key round-trips, and clearing it
// gives back a record of schema 1's length.
func TestContactPending(t *testing.T) {
	requireSQLite(t)
	s, _ := create(t, pass("p"))
	c := Contact{Handle: "bob", AccountKey: [32]byte{1}, Verified: true, KeySetVersion: 3, LogIndex: 9, Pending: true, PendingKey: [32]byte{2}}
	size := func() int {
		var n int
		if err := s.db.QueryRowContext(t.Context(), `SELECT length(record) FROM contacts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	update(t, s, func(tx Tx) error { return tx.PutContact(c) })
	view(t, s, func(tx Tx) error {
		got, err := tx.Contact("bob")
		if err != nil || got != c {
			t.Fatalf("contact %+v %v, want %+v", got, err, c)
		}
		return nil
	})
	withPending := size()
	c.Pending, c.PendingKey = false, [32]byte{}
	update(t, s, func(tx Tx) error { return tx.PutContact(c) })
	if d := withPending - size(); d != 32 {
		t.Fatalf("the pending key takes %d bytes, want 32", d)
	}
	view(t, s, func(tx Tx) error {
		got, err := tx.Contact("bob")
		if err != nil || got != c {
			t.Fatalf("contact %+v %v, want %+v", got, err, c)
		}
		return nil
	})
}

// TestInboxHeld: held messages are not listed as undelivered, are
// released in place and in order, and their held flag cannot be cleared
// on disk without the seal failing.
func TestInboxHeld(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for i, m := range []InboxMessage{
			{ID: []byte("a"), Sender: "bob", Time: t0, Plaintext: []byte("held 1"), KeyChanged: true, Held: true},
			{ID: []byte("b"), Sender: "carol", Time: t0, Plaintext: []byte("normal")},
			{ID: []byte("c"), Sender: "bob", Time: t0, Plaintext: []byte("held 2"), KeyChanged: true, Held: true},
		} {
			if _, err := tx.PutInbox(m); err != nil {
				t.Fatalf("%d: %v", i, err)
			}
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		ms, err := tx.Undelivered(10)
		if err != nil || len(ms) != 1 || string(ms[0].ID) != "b" {
			t.Fatalf("undelivered: %+v %v", ms, err)
		}
		return nil
	})
	if !onKVEngine() {
		// Clearing the held flag on disk breaks the seal (the kv engine's
		// records are sealed whole: kv_test.go).
		if _, err := s.db.ExecContext(t.Context(), `UPDATE inbox SET flags = 1 WHERE id = ?`, []byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := s.View(t.Context(), func(tx Tx) error { _, err := tx.Inbox([]byte("a")); return err }); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("held flag cleared on disk: %v, want ErrCorrupt", err)
		}
		if _, err := s.db.ExecContext(t.Context(), `UPDATE inbox SET flags = 3 WHERE id = ?`, []byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	var released []InboxMessage
	update(t, s, func(tx Tx) error {
		var err error
		released, err = tx.ReleaseHeld("bob")
		return err
	})
	if len(released) != 2 || string(released[0].Plaintext) != "held 1" || string(released[1].Plaintext) != "held 2" {
		t.Fatalf("released %+v", released)
	}
	view(t, s, func(tx Tx) error {
		ms, err := tx.Undelivered(10)
		if err != nil || len(ms) != 3 || string(ms[0].ID) != "a" || !ms[0].KeyChanged || ms[0].Held || string(ms[2].Plaintext) != "held 2" {
			t.Fatalf("after release: %+v %v", ms, err)
		}
		return nil
	})
}

// TestOwnDevices: records round-trip, match only their certificate, and
// cannot be moved to another device id.
func TestOwnDevices(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if err := tx.PutOwnDevice(1, OwnApproved, []byte("cert 1")); err != nil {
			return err
		}
		if err := tx.PutOwnDevice(2, OwnRevoked, nil); err != nil {
			return err
		}
		if err := tx.PutOwnDevice(3, 7, nil); err == nil {
			t.Error("unknown state stored")
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		ds, err := tx.OwnDevices()
		if err != nil || len(ds) != 2 || ds[1].State != OwnApproved || !ds[1].Matches([]byte("cert 1")) || ds[1].Matches([]byte("cert 2")) || ds[2].State != OwnRevoked {
			t.Fatalf("own devices %+v %v", ds, err)
		}
		if _, err := tx.OwnDevice(5); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing device: %v", err)
		}
		return nil
	})
	if onKVEngine() {
		return // the rest tampers with state.db, the SQLite engine's file
	}
	// A record copied to another device id does not open.
	if _, err := s.db.ExecContext(t.Context(), `INSERT INTO own_devices (device, record) SELECT 9, record FROM own_devices WHERE device = 1`); err != nil {
		t.Fatal(err)
	}
	if err := s.View(t.Context(), func(tx Tx) error { _, err := tx.OwnDevice(9); return err }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved record: %v, want ErrCorrupt", err)
	}
}

// The log key learned on first use and the directory audit state
// (spec/client-store.md §4.1): absent until stored, replaced by a second
// put; the handles with a key set are listed in order.
func TestLogKeyAuditStateKeySets(t *testing.T) {
	s, _ := create(t, pass("p"))
	view(t, s, func(tx Tx) error {
		if _, err := tx.LogKey(); !errors.Is(err, ErrNotFound) {
			t.Errorf("LogKey before any: %v, want ErrNotFound", err)
		}
		if _, err := tx.AuditState(); !errors.Is(err, ErrNotFound) {
			t.Errorf("AuditState before any: %v, want ErrNotFound", err)
		}
		if hs, err := tx.KeySetHandles(); err != nil || hs != nil {
			t.Errorf("KeySetHandles before any = %v, %v", hs, err)
		}
		if err := tx.PutLogKey("k"); !errors.Is(err, errReadOnly) {
			t.Errorf("PutLogKey in View: %v", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		for _, h := range []string{"carol", "bob", "alice"} {
			if err := tx.PutKeySet(h, []byte("entry "+h)); err != nil {
				return err
			}
		}
		for _, k := range []string{"key1", "key2"} {
			if err := tx.PutLogKey(k); err != nil {
				return err
			}
		}
		if err := tx.PutAuditState([]byte("state1")); err != nil {
			return err
		}
		return tx.PutAuditState([]byte("state2"))
	})
	view(t, s, func(tx Tx) error {
		if k, err := tx.LogKey(); err != nil || k != "key2" {
			t.Errorf("LogKey = %q, %v", k, err)
		}
		if a, err := tx.AuditState(); err != nil || string(a) != "state2" {
			t.Errorf("AuditState = %q, %v", a, err)
		}
		if hs, err := tx.KeySetHandles(); err != nil || !slices.Equal(hs, []string{"alice", "bob", "carol"}) {
			t.Errorf("KeySetHandles = %v, %v", hs, err)
		}
		return nil
	})
}
