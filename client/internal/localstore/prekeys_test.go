//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestPrekeyKinds: the prekeys of one kind are listed and counted apart
// from the other's, in id order; a prekey put again is replaced; a
// pending half given empty reads back as none (nil).
func TestPrekeyKinds(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, p := range []Prekey{
			{Kind: 2, ID: 1 << 31, Secret: []byte("big"), Created: t0},
			{Kind: 2, ID: 5, Secret: []byte("old"), Created: t0, Pending: []byte("pub old")},
			{Kind: 1, ID: 3, Secret: []byte("signed"), Created: t0, Pending: []byte{}},
			{Kind: 2, ID: 5, Secret: []byte("new"), Created: t0.Add(time.Hour), Used: t0.Add(2 * time.Hour)},
			{Kind: 2, ID: 0, Secret: []byte("zero"), Created: t0},
		} {
			if err := tx.PutPrekey(p); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		ps, err := tx.Prekeys(2)
		if err != nil || len(ps) != 3 || ps[0].ID != 0 || ps[1].ID != 5 || ps[2].ID != 1<<31 ||
			string(ps[1].Secret) != "new" || ps[1].Pending != nil || !ps[1].Created.Equal(t0.Add(time.Hour)) || !ps[1].Used.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("Prekeys(2) = %+v, %v", ps, err)
		}
		infos, err := tx.PrekeyInfos(2)
		if err != nil || len(infos) != 3 || infos[2].ID != 1<<31 || infos[1].Secret != nil {
			t.Errorf("PrekeyInfos(2) = %+v, %v", infos, err)
		}
		for kind, want := range map[uint8]int{1: 1, 2: 3, 3: 0} {
			if n, err := tx.CountPrekeys(kind); n != want || err != nil {
				t.Errorf("CountPrekeys(%d) = %d, %v; want %d", kind, n, err, want)
			}
		}
		if p, err := tx.Prekey(1, 3); err != nil || p.Pending != nil || string(p.Secret) != "signed" {
			t.Errorf("Prekey(1, 3) = %+v, %v", p, err)
		}
		if ps, err := tx.Prekeys(3); err != nil || ps != nil {
			t.Errorf("Prekeys of a kind with none = %+v, %v", ps, err)
		}
		return nil
	})
}

// TestPrekeyReadOnly: the prekey writes fail in a View and change nothing.
func TestPrekeyReadOnly(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		return tx.PutPrekey(Prekey{Kind: 2, ID: 1, Secret: []byte("s"), Created: t0, Pending: []byte("pub")})
	})
	err := s.View(t.Context(), func(tx Tx) error {
		for name, write := range map[string]func() error{
			"PutPrekey":           func() error { return tx.PutPrekey(Prekey{Kind: 2, ID: 2, Secret: []byte("x")}) },
			"MarkPrekeyUsed":      func() error { return tx.MarkPrekeyUsed(2, 1, t0) },
			"MarkPrekeyUsed none": func() error { return tx.MarkPrekeyUsed(2, 9, t0) },
			"DeletePrekey":        func() error { return tx.DeletePrekey(2, 1) },
			"MarkPrekeyPublished": func() error { return tx.MarkPrekeyPublished(2, 1) },
		} {
			if err := write(); !errors.Is(err, errReadOnly) {
				t.Errorf("%s in a View: %v, want errReadOnly", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	view(t, s, func(tx Tx) error {
		ps, err := tx.Prekeys(2)
		if err != nil || len(ps) != 1 || !ps[0].Used.IsZero() || !bytes.Equal(ps[0].Pending, []byte("pub")) {
			t.Errorf("after writes in a View: %+v, %v", ps, err)
		}
		return nil
	})
}
