//go:build !js

package localstore

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// spec/client-store.md §4.20: the wallet hands out the oldest epoch's
// tokens first, each once, never one of an epoch before the minimum, and
// drops expired epochs.
func TestSendTokenWallet(t *testing.T) {
	s, _ := create(t, pass("p"))
	tok := func(e, i int) []byte { return fmt.Appendf(nil, "token %d/%d", e, i) }
	update(t, s, func(tx Tx) error {
		if err := tx.PutSendTokens(11, [][]byte{tok(11, 0), tok(11, 1)}); err != nil {
			return err
		}
		return tx.PutSendTokens(10, [][]byte{tok(10, 0)})
	})
	view(t, s, func(tx Tx) error {
		for min, want := range map[uint64]int{0: 3, 10: 3, 11: 2, 12: 0} {
			if n, err := tx.SendTokenCount(min); err != nil || n != want {
				t.Errorf("SendTokenCount(%d) = %d, %v; want %d", min, n, err, want)
			}
		}
		if _, _, err := tx.TakeSendToken(10); !errors.Is(err, errReadOnly) {
			t.Errorf("TakeSendToken in a read-only transaction: %v", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		for _, want := range []struct {
			e uint64
			t []byte
		}{{10, tok(10, 0)}, {11, tok(11, 0)}} {
			e, got, err := tx.TakeSendToken(10)
			if err != nil || e != want.e || !bytes.Equal(got, want.t) {
				t.Errorf("TakeSendToken = %d %q %v; want %d %q", e, got, err, want.e, want.t)
			}
		}
		if _, _, err := tx.TakeSendToken(12); !errors.Is(err, ErrNotFound) {
			t.Errorf("TakeSendToken(12): %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.PutSendTokens(13, [][]byte{tok(13, 0)}); err != nil {
			return err
		}
		if n, err := tx.DropSendTokensBefore(12); err != nil || n != 1 {
			t.Errorf("DropSendTokensBefore(12) = %d, %v; want 1 (the epoch-11 token left)", n, err)
		}
		if e, got, err := tx.TakeSendToken(0); err != nil || e != 13 || !bytes.Equal(got, tok(13, 0)) {
			t.Errorf("TakeSendToken after the drop = %d %q %v", e, got, err)
		}
		_, _, err := tx.TakeSendToken(0)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("empty wallet: %v, want ErrNotFound", err)
		}
		return nil
	})
}

// spec/client-store.md §4.8: a queued envelope keeps the token it is paid
// with, sealed and bound to its row, until it leaves the queue.
func TestOutgoingToken(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m1"), Recipient: "bob", Device: 1, Envelope: []byte("e1"), Created: t0}); err != nil {
			return err
		}
		if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m2"), Recipient: "bob", Device: 1, Envelope: []byte("e2"), Created: t0}); err != nil {
			return err
		}
		if err := tx.SetOutgoingToken([]byte("m1"), "bob", 1, 42, []byte("the token")); err != nil {
			return err
		}
		if err := tx.SetOutgoingToken([]byte("m3"), "bob", 1, 42, []byte("x")); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetOutgoingToken of no row: %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		h, err := tx.OutgoingHead("bob", 1)
		if err != nil || string(h.SendToken) != "the token" || h.TokenEpoch != 42 {
			t.Errorf("OutgoingHead = %+v, %v; want the token of epoch 42", h, err)
		}
		os, err := tx.OutgoingFor([]byte("m2"))
		if err != nil || len(os) != 1 || os[0].SendToken != nil || os[0].TokenEpoch != 0 {
			t.Errorf("OutgoingFor(m2) = %+v, %v; want no token", os, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.SetOutgoingToken([]byte("m1"), "bob", 1, 42, nil) })
	view(t, s, func(tx Tx) error {
		if h, err := tx.OutgoingHead("bob", 1); err != nil || h.SendToken != nil || h.TokenEpoch != 0 {
			t.Errorf("after clearing: %+v, %v", h, err)
		}
		return nil
	})
}

// A token moved to another outgoing row in state.db does not open there.
func TestOutgoingTokenMoved(t *testing.T) {
	requireSQLite(t)
	s, dir := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, id := range []string{"m1", "m2"} {
			if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte(id), Recipient: "bob", Device: 1, Envelope: []byte("e"), Created: t0}); err != nil {
				return err
			}
		}
		return tx.SetOutgoingToken([]byte("m1"), "bob", 1, 42, []byte("the token"))
	})
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE outgoing SET send_token = (SELECT send_token FROM outgoing WHERE message_id = x'6d31'), token_epoch = 42 WHERE message_id = x'6d32'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = Open(t.Context(), dir, pass("p"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	view(t, s, func(tx Tx) error {
		if _, err := tx.OutgoingFor([]byte("m2")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a token moved to another row: %v, want ErrCorrupt", err)
		}
		return nil
	})
}
