package localstore

import (
	"fmt"
	"time"
)

// The kv engine's access state, access keys, blocked accounts and seal
// keys (access.go).

// PutAccess implements Tx.
func (tx *kvTx) PutAccess(a Access) error {
	if err := tx.writable(); err != nil {
		return err
	}
	return putAccess(tx, a)
}

// Access implements Tx.
func (tx *kvTx) Access() (Access, error) { return loadAccess(tx) }

// PutPeerAccessKey implements Tx.
func (tx *kvTx) PutPeerAccessKey(handle string, device uint32, key []byte, received time.Time) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.sealPeerAccessKey(handle, device, key)
	if err != nil {
		return err
	}
	h := tx.t("peer_access_keys")
	_, err = h.put(h.row("handle", handle, "device", device, "key", sealed, "received", nanos(received)))
	return err
}

// PeerAccessKey implements Tx.
func (tx *kvTx) PeerAccessKey(handle string, device uint32) ([]byte, error) {
	r, ok := tx.t("peer_access_keys").get(handle, device)
	if !ok {
		return nil, ErrNotFound
	}
	return tx.s.open(peerAccessAD(handle, device), r.b("key"))
}

// Block implements Tx: blocking again keeps the first time (SQLite's
// INSERT OR IGNORE).
func (tx *kvTx) Block(handle string, at time.Time) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("blocked")
	if _, ok := h.get(handle); ok {
		return nil
	}
	_, err := h.insert(h.row("handle", handle, "blocked", nanos(at)))
	return err
}

// Unblock implements Tx.
func (tx *kvTx) Unblock(handle string) error {
	ok, err := tx.t("blocked").del(handle)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: unblock", ErrNotFound)
	}
	return nil
}

// Blocked implements Tx.
func (tx *kvTx) Blocked(handle string) (bool, error) {
	_, ok := tx.t("blocked").get(handle)
	return ok, nil
}

// BlockedHandles implements Tx.
func (tx *kvTx) BlockedHandles() ([]string, error) { return tx.handles("blocked"), nil }

// handles returns the handle column of every row of table, in order.
func (tx *kvTx) handles(table string) []string {
	var out []string
	tx.t(table).scan(false, func(r kvRow) bool {
		out = append(out, r.s("handle"))
		return true
	})
	return out
}

// PutSealKey implements Tx.
func (tx *kvTx) PutSealKey(handle string, device uint32, prekey []byte, fetched time.Time) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(sealKeyAD(handle, device), prekey)
	if err != nil {
		return err
	}
	h := tx.t("seal_keys")
	_, err = h.put(h.row("handle", handle, "device", device, "prekey", sealed, "fetched", nanos(fetched)))
	return err
}

// SealKey implements Tx.
func (tx *kvTx) SealKey(handle string, device uint32) ([]byte, time.Time, error) {
	r, ok := tx.t("seal_keys").get(handle, device)
	if !ok {
		return nil, time.Time{}, ErrNotFound
	}
	p, err := tx.s.open(sealKeyAD(handle, device), r.b("prekey"))
	return p, fromNanos(r.i("fetched")), err
}

// MarkAccessGiven implements Tx.
func (tx *kvTx) MarkAccessGiven(handle string, at time.Time) error {
	h := tx.t("access_given")
	_, err := h.put(h.row("handle", handle, "given", nanos(at)))
	return err
}

// AccessGiven implements Tx.
func (tx *kvTx) AccessGiven() ([]string, error) { return tx.handles("access_given"), nil }
