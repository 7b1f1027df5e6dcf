//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"testing"
)

// TestPrekeyPending: a prekey stored with its public half pending keeps
// it until MarkPrekeyPublished; PrekeyInfos lists times and pending
// halves without opening a secret.
func TestPrekeyPending(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if err := tx.PutPrekey(Prekey{Kind: 1, ID: 7, Secret: []byte("s7"), Created: t0, Pending: []byte("public 7")}); err != nil {
			return err
		}
		return tx.PutPrekey(Prekey{Kind: 1, ID: 8, Secret: []byte("s8"), Created: t0})
	})
	view(t, s, func(tx Tx) error {
		ps, err := tx.PrekeyInfos(1)
		if err != nil || len(ps) != 2 || ps[0].ID != 7 || string(ps[0].Pending) != "public 7" || ps[1].Pending != nil ||
			ps[0].Secret != nil || ps[1].Secret != nil || !ps[0].Created.Equal(t0) {
			t.Errorf("PrekeyInfos = %+v, %v", ps, err)
		}
		p, err := tx.Prekey(1, 7)
		if err != nil || string(p.Pending) != "public 7" || string(p.Secret) != "s7" {
			t.Errorf("Prekey = %+v, %v", p, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.MarkPrekeyPublished(1, 7) })
	view(t, s, func(tx Tx) error {
		if p, err := tx.Prekey(1, 7); err != nil || p.Pending != nil || string(p.Secret) != "s7" {
			t.Errorf("after MarkPrekeyPublished: %+v, %v", p, err)
		}
		return nil
	})
	err := s.Update(t.Context(), func(tx Tx) error { return tx.MarkPrekeyPublished(1, 9) })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("MarkPrekeyPublished of a missing prekey: %v", err)
	}
}

// TestInitials: answered initial messages are remembered per signed
// prekey and forgotten with it.
func TestInitials(t *testing.T) {
	s, _ := create(t, pass("p"))
	h1, h2, h3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	update(t, s, func(tx Tx) error {
		for _, r := range []struct {
			h   []byte
			spk uint32
		}{{h1, 10}, {h2, 10}, {h3, 11}, {h1, 10}} {
			if err := tx.RememberInitial(r.h, r.spk, t0); err != nil {
				return err
			}
		}
		return nil
	})
	answered := func(h []byte) bool {
		var ok bool
		view(t, s, func(tx Tx) error {
			var err error
			ok, err = tx.InitialAnswered(h)
			return err
		})
		return ok
	}
	if !answered(h1) || !answered(h2) || !answered(h3) || answered(bytes.Repeat([]byte{4}, 32)) {
		t.Fatal("InitialAnswered does not reflect RememberInitial")
	}
	update(t, s, func(tx Tx) error {
		n, err := tx.ForgetInitials(10)
		if n != 2 {
			t.Errorf("ForgetInitials(10) forgot %d, want 2", n)
		}
		return err
	})
	if answered(h1) || answered(h2) || !answered(h3) {
		t.Fatal("ForgetInitials forgot the wrong initial messages")
	}
}
