package localstore

import (
	"fmt"
	"time"
)

// The kv engine's contacts, checkpoint and key sets (contacts.go).

// PutContact implements Tx.
func (tx *kvTx) PutContact(c Contact) error {
	sealed, err := tx.s.sealContact(c)
	if err != nil {
		return err
	}
	h := tx.t("contacts")
	_, err = h.put(h.row("handle", c.Handle, "record", sealed))
	return err
}

// Contact implements Tx.
func (tx *kvTx) Contact(handle string) (Contact, error) {
	r, ok := tx.t("contacts").get(handle)
	if !ok {
		return Contact{}, ErrNotFound
	}
	return tx.s.openContact(handle, r.b("record"))
}

// Contacts implements Tx.
func (tx *kvTx) Contacts() ([]Contact, error) {
	var cs []Contact
	for _, r := range tx.t("contacts").all() {
		c, err := tx.s.openContact(r.s("handle"), r.b("record"))
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// DeleteContact implements Tx.
func (tx *kvTx) DeleteContact(handle string) error {
	ok, err := tx.t("contacts").del(handle)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: delete contact %q", ErrNotFound, handle)
	}
	return nil
}

// PutCheckpoint implements Tx.
func (tx *kvTx) PutCheckpoint(text []byte, updated time.Time) error {
	sealed, err := tx.s.seal(checkpointAD(), text)
	if err != nil {
		return err
	}
	h := tx.t("checkpoint")
	_, err = h.put(h.row("id", 1, "text", sealed, "updated", nanos(updated)))
	return err
}

// Checkpoint implements Tx.
func (tx *kvTx) Checkpoint() ([]byte, time.Time, error) {
	r, ok := tx.t("checkpoint").get(1)
	if !ok {
		return nil, time.Time{}, ErrNotFound
	}
	text, err := tx.s.open(checkpointAD(), r.b("text"))
	if err != nil {
		return nil, time.Time{}, err
	}
	return text, fromNanos(r.i("updated")), nil
}

// PutKeySet implements Tx.
func (tx *kvTx) PutKeySet(handle string, entry []byte) error {
	sealed, err := tx.s.seal(keySetAD(handle), entry)
	if err != nil {
		return err
	}
	h := tx.t("keysets")
	_, err = h.put(h.row("handle", handle, "entry", sealed))
	return err
}

// KeySet implements Tx.
func (tx *kvTx) KeySet(handle string) ([]byte, error) {
	r, ok := tx.t("keysets").get(handle)
	if !ok {
		return nil, ErrNotFound
	}
	return tx.s.open(keySetAD(handle), r.b("entry"))
}
