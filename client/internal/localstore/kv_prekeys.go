package localstore

import (
	"fmt"
	"time"
)

// The kv engine's prekeys (prekeys.go).

// PutPrekey implements Tx.
func (tx *kvTx) PutPrekey(p Prekey) error {
	sealed, err := tx.s.seal(prekeyAD(p.Kind, p.ID), p.Secret)
	if err != nil {
		return err
	}
	var pending any // NULL unless given, as SQLite binds a nil []byte
	if p.Pending != nil {
		pending = p.Pending
	}
	h := tx.t("prekeys")
	_, err = h.put(h.row("kind", p.Kind, "id", p.ID, "secret", sealed, "created", nanos(p.Created), "used", nanos(p.Used), "pending", pending))
	return err
}

// Prekey implements Tx.
func (tx *kvTx) Prekey(kind uint8, id uint32) (Prekey, error) {
	r, ok := tx.t("prekeys").get(kind, id)
	if !ok {
		return Prekey{}, ErrNotFound
	}
	return tx.s.openPrekey(kind, r.i("id"), r.b("secret"), r.i("created"), r.i("used"), blobOut(r.b("pending")))
}

// Prekeys implements Tx.
func (tx *kvTx) Prekeys(kind uint8) ([]Prekey, error) {
	var (
		ps  []Prekey
		err error
	)
	tx.t("prekeys").scan(false, func(r kvRow) bool {
		var p Prekey
		p, err = tx.s.openPrekey(kind, r.i("id"), r.b("secret"), r.i("created"), r.i("used"), blobOut(r.b("pending")))
		if err != nil {
			return false
		}
		ps = append(ps, p)
		return true
	}, kind)
	if err != nil {
		for _, p := range ps {
			clear(p.Secret)
		}
		return nil, err
	}
	return ps, nil
}

// CountPrekeys implements Tx.
func (tx *kvTx) CountPrekeys(kind uint8) (int, error) {
	n := 0
	tx.t("prekeys").scan(false, func(kvRow) bool { n++; return true }, kind)
	return n, nil
}

// MarkPrekeyUsed implements Tx.
func (tx *kvTx) MarkPrekeyUsed(kind uint8, id uint32, at time.Time) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("prekeys")
	r, ok := h.get(kind, id)
	if !ok {
		return fmt.Errorf("%w: mark prekey %d/%d used", ErrNotFound, kind, id)
	}
	if r.i("used") != 0 {
		return nil // the first use is kept
	}
	_, err := h.update(r.set("used", nanos(at)))
	return err
}

// DeletePrekey implements Tx.
func (tx *kvTx) DeletePrekey(kind uint8, id uint32) error {
	ok, err := tx.t("prekeys").del(kind, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: delete prekey %d/%d", ErrNotFound, kind, id)
	}
	return nil
}

// PrekeyInfos implements Tx.
func (tx *kvTx) PrekeyInfos(kind uint8) ([]Prekey, error) {
	var (
		ps  []Prekey
		err error
	)
	tx.t("prekeys").scan(false, func(r kvRow) bool {
		var p Prekey
		if p, err = prekeyInfo(kind, r.i("id"), r.i("created"), r.i("used"), blobOut(r.b("pending"))); err != nil {
			return false
		}
		ps = append(ps, p)
		return true
	}, kind)
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// MarkPrekeyPublished implements Tx.
func (tx *kvTx) MarkPrekeyPublished(kind uint8, id uint32) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("prekeys")
	r, ok := h.get(kind, id)
	if !ok {
		return fmt.Errorf("%w: mark prekey %d/%d published", ErrNotFound, kind, id)
	}
	_, err := h.update(r.set("pending", nil))
	return err
}
