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

// TestSessionsEphemeralRun: PutSession keeps the row's ephemeral run, a
// missing session is ErrNotFound, and SessionPeers lists every peer
// device in order.
func TestSessionsEphemeralRun(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if _, err := tx.EphemeralRun("bob", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("EphemeralRun without a session: %v", err)
		}
		if err := tx.SetEphemeralRun("bob", 1, 3); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetEphemeralRun without a session: %v", err)
		}
		for _, p := range []SessionPeer{{"carol", 7}, {"bob", 2}, {"bob", 1}, {"a", 1 << 31}} {
			if err := tx.PutSession(Session{PeerHandle: p.Handle, PeerDevice: p.Device, State: []byte("s"), Updated: t0}); err != nil {
				return err
			}
		}
		if n, err := tx.EphemeralRun("bob", 1); n != 0 || err != nil {
			t.Errorf("EphemeralRun of a new session = %d, %v", n, err)
		}
		if err := tx.SetEphemeralRun("bob", 1, 3); err != nil {
			return err
		}
		return tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("s2"), Updated: t0.Add(time.Second)})
	})
	view(t, s, func(tx Tx) error {
		if n, err := tx.EphemeralRun("bob", 1); n != 3 || err != nil {
			t.Errorf("EphemeralRun after PutSession = %d, %v; want 3 kept", n, err)
		}
		if n, err := tx.EphemeralRun("bob", 2); n != 0 || err != nil {
			t.Errorf("EphemeralRun of another device = %d, %v", n, err)
		}
		want := []SessionPeer{{"a", 1 << 31}, {"bob", 1}, {"bob", 2}, {"carol", 7}}
		if ps, err := tx.SessionPeers(); err != nil || !slices.Equal(ps, want) {
			t.Errorf("SessionPeers = %v, %v; want %v", ps, err, want)
		}
		if ds, err := tx.SessionDevices("nobody"); err != nil || ds != nil {
			t.Errorf("SessionDevices of no sessions = %v, %v", ds, err)
		}
		if err := tx.SetEphemeralRun("bob", 1, 0); !errors.Is(err, errReadOnly) {
			t.Errorf("SetEphemeralRun in View: %v", err)
		}
		if err := tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1}); !errors.Is(err, errReadOnly) {
			t.Errorf("PutSession in View: %v", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.DeleteSession("bob", 1); err != nil {
			return err
		}
		return tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("s3"), Updated: t0})
	})
	view(t, s, func(tx Tx) error {
		if n, err := tx.EphemeralRun("bob", 1); n != 0 || err != nil {
			t.Errorf("EphemeralRun of a session made again = %d, %v; want 0", n, err)
		}
		return nil
	})
}

// TestOutgoingPaging: OutgoingAfter and OutgoingFor page and filter in
// queue order, LIMIT 0 is nothing and a negative limit no limit, and a
// refused or deleted enqueue's sequence number is never used again.
func TestOutgoingPaging(t *testing.T) {
	s, _ := create(t, pass("p"))
	var seqs []int64
	update(t, s, func(tx Tx) error {
		for i, m := range []string{"m1", "m2", "m1", "m3", "m2"} {
			seq, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte(m), Recipient: "bob", Device: uint32(i), Envelope: []byte{byte(i)}, Created: t0})
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
			if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte(m), Recipient: "bob", Device: uint32(i)}); !errors.Is(err, ErrDuplicate) {
				t.Errorf("duplicate enqueue: %v", err)
			}
		}
		return nil
	})
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v: a refused enqueue took one", seqs)
		}
	}
	devices := func(os []Outgoing) []uint32 {
		var ds []uint32
		for _, o := range os {
			ds = append(ds, o.Device)
		}
		return ds
	}
	view(t, s, func(tx Tx) error {
		for _, c := range []struct {
			after int64
			limit int
			want  []uint32
		}{
			{0, 10, []uint32{0, 1, 2, 3, 4}},
			{seqs[1], 2, []uint32{2, 3}},
			{seqs[4], 10, nil},
			{-5, 1, []uint32{0}},
			{seqs[0], 0, nil},
			{seqs[0], -1, []uint32{1, 2, 3, 4}},
		} {
			os, err := tx.OutgoingAfter(c.after, c.limit)
			if err != nil || !slices.Equal(devices(os), c.want) {
				t.Errorf("OutgoingAfter(%d, %d) = %v, %v; want %v", c.after, c.limit, devices(os), err, c.want)
			}
		}
		if os, err := tx.OutgoingQueue(0); err != nil || os != nil {
			t.Errorf("OutgoingQueue(0) = %v, %v", os, err)
		}
		if os, err := tx.OutgoingQueue(-1); err != nil || len(os) != 5 {
			t.Errorf("OutgoingQueue(-1) = %d entries, %v", len(os), err)
		}
		if os, err := tx.OutgoingFor([]byte("m2")); err != nil || !slices.Equal(devices(os), []uint32{1, 4}) ||
			!bytes.Equal(os[1].Envelope, []byte{4}) || os[1].Seq != seqs[4] {
			t.Errorf("OutgoingFor(m2) = %+v, %v", os, err)
		}
		if os, err := tx.OutgoingFor(nil); err != nil || os != nil {
			t.Errorf("OutgoingFor(nil) = %v, %v", os, err)
		}
		if err := tx.RecordAttempt([]byte("m1"), "bob", 0); !errors.Is(err, errReadOnly) {
			t.Errorf("RecordAttempt in View: %v", err)
		}
		if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m9")}); !errors.Is(err, errReadOnly) {
			t.Errorf("EnqueueOutgoing in View: %v", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.RecordAttempt([]byte("m9"), "bob", 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("RecordAttempt of nothing queued: %v", err)
		}
		return tx.DeleteOutgoing([]byte("m2"), "bob", 4)
	})
	update(t, s, func(tx Tx) error {
		seq, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m4"), Recipient: "bob", Device: 1, Envelope: []byte{9}})
		if err != nil || seq != seqs[4]+1 {
			t.Errorf("enqueue after the last was deleted = %d, %v; want %d (AUTOINCREMENT)", seq, err, seqs[4]+1)
		}
		return err
	})
}

// TestInboxCounts: Undelivered and CountUndelivered leave out delivered
// and held messages, limits are SQLite's, a processed id keeps its first
// time and ForgetProcessedBefore keeps ids recorded at the bound.
func TestInboxCounts(t *testing.T) {
	s, _ := create(t, pass("p"))
	var seqs []int64
	update(t, s, func(tx Tx) error {
		for i, m := range []InboxMessage{
			{ID: []byte("a"), Sender: "bob"},
			{ID: []byte("b"), Sender: "bob", Delivered: true},
			{ID: []byte("c"), Sender: "bob", Held: true},
			{ID: []byte("d"), Sender: "carol"},
			{ID: []byte("e"), Sender: "carol", Held: true, KeyChanged: true},
			{ID: nil, Sender: "dave"},
		} {
			m.Time, m.Plaintext = t0.Add(time.Duration(i)), []byte{byte(i)}
			seq, err := tx.PutInbox(m)
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		if _, err := tx.PutInbox(InboxMessage{ID: []byte{}, Sender: "x"}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("PutInbox of an empty id after a nil one: %v", err)
		}
		if err := tx.MarkDelivered([]byte("b")); err != nil {
			t.Errorf("MarkDelivered of a delivered message: %v", err)
		}
		return nil
	})
	ids := func(ms []InboxMessage) string {
		var b []byte
		for _, m := range ms {
			if len(m.ID) == 0 {
				b = append(b, '-')
			}
			b = append(b, m.ID...)
		}
		return string(b)
	}
	view(t, s, func(tx Tx) error {
		for limit, want := range map[int]string{-1: "ad-", 0: "", 2: "ad", 10: "ad-"} {
			if ms, err := tx.Undelivered(limit); err != nil || ids(ms) != want {
				t.Errorf("Undelivered(%d) = %q, %v; want %q", limit, ids(ms), err, want)
			}
		}
		if n, err := tx.CountUndelivered(); n != 3 || err != nil {
			t.Errorf("CountUndelivered = %d, %v", n, err)
		}
		if ms, err := tx.Held("carol"); err != nil || ids(ms) != "e" || !ms[0].KeyChanged || ms[0].Seq != seqs[4] {
			t.Errorf("Held(carol) = %+v, %v", ms, err)
		}
		if ms, err := tx.Held("dave"); err != nil || ms != nil {
			t.Errorf("Held(dave) = %+v, %v", ms, err)
		}
		if _, err := tx.ReleaseHeld("carol"); !errors.Is(err, errReadOnly) {
			t.Errorf("ReleaseHeld in View: %v", err)
		}
		if m, err := tx.Inbox(nil); err != nil || m.Sender != "dave" {
			t.Errorf("Inbox(nil) = %+v, %v", m, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if ms, err := tx.ReleaseHeld("carol"); err != nil || ids(ms) != "e" || ms[0].Held {
			t.Errorf("ReleaseHeld = %+v, %v", ms, err)
		}
		if err := tx.DeleteInbox([]byte("a")); err != nil {
			return err
		}
		if err := tx.DeleteInbox([]byte("a")); !errors.Is(err, ErrNotFound) {
			t.Errorf("second DeleteInbox: %v", err)
		}
		if _, err := tx.MarkProcessed([]byte("p1"), t0); err != nil {
			return err
		}
		if _, err := tx.MarkProcessed([]byte("p2"), t0.Add(time.Second)); err != nil {
			return err
		}
		if first, err := tx.MarkProcessed([]byte("p1"), t0.Add(time.Hour)); first || err != nil {
			t.Errorf("MarkProcessed again = %v, %v", first, err)
		}
		if n, err := tx.ForgetProcessedBefore(t0.Add(time.Second)); n != 1 || err != nil {
			t.Errorf("ForgetProcessedBefore = %d, %v; want p1 only (p1 keeps its first time)", n, err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		if ms, err := tx.Undelivered(-1); err != nil || ids(ms) != "de-" {
			t.Errorf("Undelivered after release = %q, %v", ids(ms), err)
		}
		if n, err := tx.CountUndelivered(); n != 3 || err != nil {
			t.Errorf("CountUndelivered = %d, %v", n, err)
		}
		for id, want := range map[string]bool{"p1": false, "p2": true} {
			if got, err := tx.IsProcessed([]byte(id)); got != want || err != nil {
				t.Errorf("IsProcessed(%s) = %v, %v", id, got, err)
			}
		}
		if _, err := tx.MarkProcessed([]byte("p3"), t0); !errors.Is(err, errReadOnly) {
			t.Errorf("MarkProcessed in View: %v", err)
		}
		if _, err := tx.ForgetProcessedBefore(t0); !errors.Is(err, errReadOnly) {
			t.Errorf("ForgetProcessedBefore in View: %v", err)
		}
		return nil
	})
}
