//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

func update(t *testing.T, s *Store, fn func(tx Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s *Store, fn func(tx Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Unix(1_900_000_000, 123).UTC()

func TestIdentity(t *testing.T) {
	s, _ := create(t, pass("p"))
	view(t, s, func(tx Tx) error {
		if _, err := tx.Identity(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Identity of a new store: %v, want ErrNotFound", err)
		}
		return nil
	})
	want := Identity{Handle: "alice", DeviceID: 1<<32 - 1, SigningSeed: []byte("sign"), DHPrivate: []byte("dh"), Certificate: []byte("cert")}
	update(t, s, func(tx Tx) error { return tx.PutIdentity(want) })
	view(t, s, func(tx Tx) error {
		got, err := tx.Identity()
		if err != nil || got.Handle != want.Handle || got.DeviceID != want.DeviceID || got.AccountSeed != nil ||
			!bytes.Equal(got.SigningSeed, want.SigningSeed) || !bytes.Equal(got.DHPrivate, want.DHPrivate) ||
			!bytes.Equal(got.Certificate, want.Certificate) {
			t.Errorf("Identity = %+v, %v", got, err)
		}
		return nil
	})
	want.AccountSeed = []byte("account")
	update(t, s, func(tx Tx) error { return tx.PutIdentity(want) })
	view(t, s, func(tx Tx) error {
		if got, err := tx.Identity(); err != nil || string(got.AccountSeed) != "account" {
			t.Errorf("Identity after replace = %+v, %v", got, err)
		}
		return nil
	})
}

func TestPrekeys(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, id := range []uint32{3, 1, 2} {
			if err := tx.PutPrekey(Prekey{Kind: 2, ID: id, Secret: []byte{byte(id)}, Created: t0}); err != nil {
				return err
			}
		}
		return tx.PutPrekey(Prekey{Kind: 1, ID: 1, Secret: []byte("signed"), Created: t0})
	})
	update(t, s, func(tx Tx) error {
		if err := tx.MarkPrekeyUsed(2, 2, t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.MarkPrekeyUsed(2, 2, t0.Add(2*time.Hour)); err != nil { // keeps the first
			return err
		}
		if err := tx.DeletePrekey(2, 3); err != nil {
			return err
		}
		if err := tx.DeletePrekey(2, 3); !errors.Is(err, ErrNotFound) {
			t.Errorf("second DeletePrekey: %v", err)
		}
		if err := tx.MarkPrekeyUsed(2, 9, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkPrekeyUsed of a missing prekey: %v", err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		ps, err := tx.Prekeys(2)
		if err != nil || len(ps) != 2 || ps[0].ID != 1 || ps[1].ID != 2 || !bytes.Equal(ps[1].Secret, []byte{2}) ||
			!ps[0].Used.IsZero() || !ps[1].Used.Equal(t0.Add(time.Hour)) || !ps[1].Created.Equal(t0) {
			t.Errorf("Prekeys(2) = %+v, %v", ps, err)
		}
		if n, err := tx.CountPrekeys(2); n != 2 || err != nil {
			t.Errorf("CountPrekeys(2) = %d, %v", n, err)
		}
		if p, err := tx.Prekey(1, 1); err != nil || string(p.Secret) != "signed" {
			t.Errorf("Prekey(1, 1) = %+v, %v", p, err)
		}
		if _, err := tx.Prekey(2, 3); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted Prekey: %v", err)
		}
		return nil
	})
}

func TestSessions(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, d := range []uint32{2, 1} {
			if err := tx.PutSession(Session{PeerHandle: "bob", PeerDevice: d, State: []byte("v1"), Updated: t0}); err != nil {
				return err
			}
		}
		if err := tx.PutSession(Session{PeerHandle: "carol", PeerDevice: 1, State: []byte("c"), Updated: t0}); err != nil {
			return err
		}
		return tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("v2"), Updated: t0.Add(time.Second)})
	})
	view(t, s, func(tx Tx) error {
		got, err := tx.Session("bob", 1)
		if err != nil || string(got.State) != "v2" || !got.Updated.Equal(t0.Add(time.Second)) {
			t.Errorf("Session = %+v, %v", got, err)
		}
		if ds, err := tx.SessionDevices("bob"); err != nil || !slices.Equal(ds, []uint32{1, 2}) {
			t.Errorf("SessionDevices = %v, %v", ds, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.DeleteSession("bob", 2) })
	view(t, s, func(tx Tx) error {
		if _, err := tx.Session("bob", 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted session: %v", err)
		}
		if err := tx.DeleteSession("bob", 2); !errors.Is(err, errReadOnly) {
			t.Errorf("write in View: %v", err)
		}
		return nil
	})
}

func TestContactsAndCheckpoint(t *testing.T) {
	s, _ := create(t, pass("p"))
	bob := Contact{Handle: "bob", AccountKey: [32]byte{1, 2, 3}, Verified: true, KeySetVersion: 5, LogIndex: 1 << 40}
	carol := Contact{Handle: "carol", AccountKey: [32]byte{9}}
	update(t, s, func(tx Tx) error {
		if _, _, err := tx.Checkpoint(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Checkpoint of a new store: %v", err)
		}
		if err := tx.PutContact(carol); err != nil {
			return err
		}
		if err := tx.PutContact(bob); err != nil {
			return err
		}
		if err := tx.PutCheckpoint([]byte("old"), t0); err != nil {
			return err
		}
		return tx.PutCheckpoint([]byte("checkpoint\n"), t0.Add(time.Minute))
	})
	view(t, s, func(tx Tx) error {
		if got, err := tx.Contact("bob"); err != nil || got != bob {
			t.Errorf("Contact = %+v, %v", got, err)
		}
		if cs, err := tx.Contacts(); err != nil || !slices.Equal(cs, []Contact{bob, carol}) {
			t.Errorf("Contacts = %+v, %v", cs, err)
		}
		if text, at, err := tx.Checkpoint(); err != nil || string(text) != "checkpoint\n" || !at.Equal(t0.Add(time.Minute)) {
			t.Errorf("Checkpoint = %q, %v, %v", text, at, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.DeleteContact("carol") })
	view(t, s, func(tx Tx) error {
		if _, err := tx.Contact("carol"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted contact: %v", err)
		}
		return nil
	})
}

func TestProcessed(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if first, err := tx.MarkProcessed([]byte("a"), t0); !first || err != nil {
			t.Errorf("first MarkProcessed = %v, %v", first, err)
		}
		if first, err := tx.MarkProcessed([]byte("a"), t0.Add(time.Hour)); first || err != nil {
			t.Errorf("second MarkProcessed = %v, %v", first, err)
		}
		if _, err := tx.MarkProcessed([]byte("b"), t0.Add(time.Hour)); err != nil {
			return err
		}
		if n, err := tx.ForgetProcessedBefore(t0.Add(time.Minute)); n != 1 || err != nil {
			t.Errorf("ForgetProcessedBefore = %d, %v", n, err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		for id, want := range map[string]bool{"a": false, "b": true, "c": false} {
			if got, err := tx.IsProcessed([]byte(id)); got != want || err != nil {
				t.Errorf("IsProcessed(%s) = %v, %v", id, got, err)
			}
		}
		return nil
	})
}

func TestOutgoing(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, d := range []uint32{1, 2} {
			if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m1"), Recipient: "bob", Device: d, Envelope: []byte{byte(d)}, Created: t0}); err != nil {
				return err
			}
		}
		if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m1"), Recipient: "bob", Device: 1, Envelope: []byte("again")}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("duplicate enqueue: %v", err)
		}
		_, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m2"), Recipient: "carol", Device: 1, Envelope: []byte("c"), Created: t0})
		return err
	})
	update(t, s, func(tx Tx) error {
		if err := tx.RecordAttempt([]byte("m1"), "bob", 2); err != nil {
			return err
		}
		if err := tx.DeleteOutgoing([]byte("m1"), "bob", 1); err != nil {
			return err
		}
		if err := tx.DeleteOutgoing([]byte("m1"), "bob", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("second DeleteOutgoing: %v", err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		q, err := tx.OutgoingQueue(10)
		if err != nil || len(q) != 2 || q[0].Device != 2 || q[0].Attempts != 1 || !bytes.Equal(q[0].Envelope, []byte{2}) ||
			q[1].Recipient != "carol" || q[0].Seq >= q[1].Seq || !q[0].Created.Equal(t0) {
			t.Errorf("OutgoingQueue = %+v, %v", q, err)
		}
		if q, err := tx.OutgoingQueue(1); err != nil || len(q) != 1 {
			t.Errorf("OutgoingQueue(1) = %d entries, %v", len(q), err)
		}
		return nil
	})
}

func TestInbox(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for i, id := range []string{"m1", "m2", "m3"} {
			if _, err := tx.PutInbox(InboxMessage{ID: []byte(id), Sender: "bob", SenderDevice: 1, Time: t0.Add(time.Duration(i)),
				Plaintext: []byte("text " + id)}); err != nil {
				return err
			}
		}
		if _, err := tx.PutInbox(InboxMessage{ID: []byte("m1"), Sender: "bob", Plaintext: []byte("x")}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("duplicate PutInbox: %v", err)
		}
		return tx.MarkDelivered([]byte("m2"))
	})
	view(t, s, func(tx Tx) error {
		ms, err := tx.Undelivered(10)
		if err != nil || len(ms) != 2 || string(ms[0].ID) != "m1" || string(ms[1].ID) != "m3" ||
			string(ms[1].Plaintext) != "text m3" || !ms[1].Time.Equal(t0.Add(2)) {
			t.Errorf("Undelivered = %+v, %v", ms, err)
		}
		m, err := tx.Inbox([]byte("m2"))
		if err != nil || !m.Delivered || string(m.Plaintext) != "text m2" || m.Sender != "bob" || m.SenderDevice != 1 {
			t.Errorf("Inbox(m2) = %+v, %v", m, err)
		}
		if _, err := tx.Inbox([]byte("m9")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Inbox of a missing id: %v", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.DeleteInbox([]byte("m2")) })
	view(t, s, func(tx Tx) error {
		if err := tx.MarkDelivered([]byte("m2")); !errors.Is(err, errReadOnly) {
			t.Errorf("write in View: %v", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.MarkDelivered([]byte("m2")); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkDelivered of a deleted message: %v", err)
		}
		return nil
	})
}

// TestUpdateAtomic: a receive (new session state, the message, the
// processed id) that fails or panics part way leaves nothing behind.
func TestUpdateAtomic(t *testing.T) {
	s, dir := create(t, pass("p"))
	putSecretSession(t, s, "v1")
	receive := func(tx Tx) error {
		if err := tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("v2"), Updated: t0}); err != nil {
			return err
		}
		if _, err := tx.PutInbox(InboxMessage{ID: []byte("m1"), Sender: "bob", SenderDevice: 1, Time: t0, Plaintext: []byte("hi")}); err != nil {
			return err
		}
		_, err := tx.MarkProcessed([]byte("envelope 1"), t0)
		return err
	}
	errBoom := errors.New("boom")
	if err := s.Update(t.Context(), func(tx Tx) error {
		if err := receive(tx); err != nil {
			return err
		}
		return errBoom
	}); !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in fn was swallowed")
			}
		}()
		s.Update(t.Context(), func(tx Tx) error {
			if err := receive(tx); err != nil {
				return err
			}
			panic("crash mid-transaction")
		})
	}()
	s.Close()
	s, err := Open(t.Context(), dir, pass("p"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(wantState string, wantMessage bool) {
		t.Helper()
		view(t, s, func(tx Tx) error {
			sess, err := tx.Session("bob", 1)
			if err != nil || string(sess.State) != wantState {
				t.Errorf("session = %q, %v; want %q", sess.State, err, wantState)
			}
			_, err = tx.Inbox([]byte("m1"))
			if got := err == nil; got != wantMessage {
				t.Errorf("message stored = %v (%v), want %v", got, err, wantMessage)
			}
			if done, err := tx.IsProcessed([]byte("envelope 1")); done != wantMessage || err != nil {
				t.Errorf("processed = %v, %v; want %v", done, err, wantMessage)
			}
			return nil
		})
	}
	check("v1", false)
	update(t, s, receive)
	check("v2", true)
}
