//go:build !js

package localstore

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The record of sent ids (spec/client-store.md §4.13): one per id, sealed
// digest, pruned only once the message left the queue; the refusals go
// with it.
func TestSent(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if err := tx.PutSent(Sent{MessageID: []byte("m1"), Digest: []byte("d1"), Created: t0}); err != nil {
			return err
		}
		if err := tx.PutSent(Sent{MessageID: []byte("m1"), Digest: []byte("other"), Created: t0}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second PutSent: %v, want ErrDuplicate", err)
		}
		if err := tx.PutSent(Sent{MessageID: []byte("m2"), Digest: []byte("d2"), Created: t0}); err != nil {
			return err
		}
		if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m2"), Recipient: "bob", Device: 1, Envelope: []byte("e"), Created: t0}); err != nil {
			return err
		}
		return tx.PutRefused([]byte("m1"), Refused{Recipient: "bob", Device: 2, Status: 3})
	})
	view(t, s, func(tx Tx) error {
		if got, err := tx.Sent([]byte("m1")); err != nil || string(got.Digest) != "d1" || !got.Created.Equal(t0) {
			t.Errorf("Sent(m1) = %+v, %v", got, err)
		}
		if _, err := tx.Sent([]byte("m3")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Sent(m3): %v, want ErrNotFound", err)
		}
		if rs, err := tx.RefusedFor([]byte("m1")); err != nil || !slices.Equal(rs, []Refused{{"bob", 2, 3}}) {
			t.Errorf("RefusedFor(m1) = %+v, %v", rs, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		// m2 is still queued: kept, however old.
		if n, err := tx.ForgetSentBefore(t0.Add(time.Hour)); err != nil || n != 1 {
			t.Errorf("ForgetSentBefore = %d, %v; want 1", n, err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		if _, err := tx.Sent([]byte("m1")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Sent(m1) after forgetting: %v", err)
		}
		if rs, err := tx.RefusedFor([]byte("m1")); err != nil || len(rs) != 0 {
			t.Errorf("RefusedFor(m1) after forgetting = %+v, %v", rs, err)
		}
		if _, err := tx.Sent([]byte("m2")); err != nil {
			t.Errorf("Sent(m2), still queued: %v", err)
		}
		return nil
	})
}

// The queue is read per device, oldest first (spec/client-store.md §4.8).
func TestOutgoingPerDevice(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, o := range []Outgoing{
			{MessageID: []byte("m1"), Recipient: "carol", Device: 1},
			{MessageID: []byte("m1"), Recipient: "bob", Device: 2},
			{MessageID: []byte("m2"), Recipient: "bob", Device: 2},
			{MessageID: []byte("m2"), Recipient: "bob", Device: 1},
		} {
			o.Envelope, o.Created = []byte("env "+string(o.MessageID)), t0
			if _, err := tx.EnqueueOutgoing(o); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		ds, err := tx.OutgoingDevices()
		if want := []Device{{"carol", 1}, {"bob", 2}, {"bob", 1}}; err != nil || !slices.Equal(ds, want) {
			t.Errorf("OutgoingDevices = %v, %v; want %v", ds, err, want)
		}
		h, err := tx.OutgoingHead("bob", 2)
		if err != nil || string(h.MessageID) != "m1" || string(h.Envelope) != "env m1" {
			t.Errorf("OutgoingHead(bob, 2) = %+v, %v", h, err)
		}
		if _, err := tx.OutgoingHead("bob", 3); !errors.Is(err, ErrNotFound) {
			t.Errorf("OutgoingHead(bob, 3): %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.DropOutgoingHead("bob", 2); err != nil {
			return err
		}
		if err := tx.DropOutgoingHead("bob", 3); !errors.Is(err, ErrNotFound) {
			t.Errorf("DropOutgoingHead(bob, 3): %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		if h, err := tx.OutgoingHead("bob", 2); err != nil || string(h.MessageID) != "m2" {
			t.Errorf("OutgoingHead(bob, 2) after drop = %+v, %v", h, err)
		}
		return nil
	})
}

// Migration 0005 records the ids of messages queued before it, without a
// digest (spec/client-store.md §4.13).
func TestSentMigration(t *testing.T) {
	requireSQLite(t)
	s, dir := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		_, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("old"), Recipient: "bob", Device: 1, Envelope: []byte("e"), Created: t0})
		return err
	})
	s.Close()
	// Back to schema 4, with the row queued (schema 6 undone first).
	undo6 := []string{`DROP TABLE device_info`, `DELETE FROM schema_migrations WHERE version = 11`, `DROP TABLE attach_uploads`, `DROP TABLE attach_downloads`, `DELETE FROM schema_migrations WHERE version = 10`, `DROP TABLE group_held_msgs`, `DROP TABLE group_lost`, `ALTER TABLE group_send DROP COLUMN sent_to`, `ALTER TABLE group_send DROP COLUMN started`, `DROP TABLE group_held_keys`, `DELETE FROM schema_migrations WHERE version = 9`, `DROP TABLE groups`, `DROP TABLE group_send`, `DROP TABLE group_recv`, `DROP TABLE group_outgoing`, `DELETE FROM schema_migrations WHERE version = 8`, `DROP TABLE send_tokens`, `DROP TABLE peer_access_keys`, `DROP TABLE blocked`, `DROP TABLE seal_keys`, `DROP TABLE access_given`, `ALTER TABLE outgoing DROP COLUMN send_token`, `ALTER TABLE outgoing DROP COLUMN token_epoch`,
		`DELETE FROM schema_migrations WHERE version = 7`, `DROP TABLE history`, `DROP TABLE held_content`, `DROP TABLE conversations`, `DROP TABLE message_devices`,
		`DROP TABLE receipts_out`, `ALTER TABLE sessions DROP COLUMN ephemeral_run`, `DELETE FROM schema_migrations WHERE version = 6`}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(undo6, `DROP TABLE sent`, `DROP TABLE sent_refused`, `DROP INDEX outgoing_device`, `DELETE FROM schema_migrations WHERE version = 5`) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err = Open(t.Context(), dir, pass("p"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	view(t, s, func(tx Tx) error {
		if got, err := tx.Sent([]byte("old")); err != nil || got.Digest != nil || !got.Created.Equal(t0) {
			t.Errorf("Sent(old) after migration = %+v, %v; want a record without digest", got, err)
		}
		return nil
	})
}

// Refusals are listed by recipient and device, a second for a device
// replacing the first; ForgetSentBefore keeps a record created at the
// cut-off time itself, and one in a View transaction fails.
func TestRefusedAndForgetCutoff(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, r := range []Refused{{"carol", 1, 5}, {"bob", 9, 5}, {"bob", 2, 5}, {"bob", 9, 7}} {
			if err := tx.PutRefused([]byte("m1"), r); err != nil {
				return err
			}
		}
		for i, at := range []time.Time{t0.Add(-time.Second), t0, t0.Add(time.Second)} {
			if err := tx.PutSent(Sent{MessageID: []byte{byte('a' + i)}, Created: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.View(t.Context(), func(tx Tx) error {
		if n, err := tx.ForgetSentBefore(t0.Add(time.Hour)); !errors.Is(err, errReadOnly) || n != 0 {
			t.Errorf("ForgetSentBefore in View = %d, %v", n, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx Tx) error {
		if rs, err := tx.RefusedFor([]byte("m1")); err != nil || !slices.Equal(rs, []Refused{{"bob", 2, 5}, {"bob", 9, 7}, {"carol", 1, 5}}) {
			t.Errorf("RefusedFor(m1) = %+v, %v", rs, err)
		}
		if n, err := tx.ForgetSentBefore(t0); err != nil || n != 1 {
			t.Errorf("ForgetSentBefore(t0) = %d, %v; want 1", n, err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		for id, want := range map[string]error{"a": ErrNotFound, "b": nil, "c": nil} {
			if got, err := tx.Sent([]byte(id)); !errors.Is(err, want) || (err == nil && string(got.MessageID) != id) {
				t.Errorf("Sent(%s) = %+v, %v; want %v", id, got, err, want)
			}
		}
		return nil
	})
}
