package localstore

import "time"

// The kv engine's answered initial messages (initials.go).

// RememberInitial implements Tx: recording a hash again keeps the first
// row (SQLite's INSERT OR IGNORE).
func (tx *kvTx) RememberInitial(hash []byte, signedPrekey uint32, at time.Time) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("initial_messages")
	if _, ok := h.get(nonNil(hash)); ok {
		return nil
	}
	_, err := h.insert(h.row("hash", nonNil(hash), "signed_prekey", signedPrekey, "created", nanos(at)))
	return err
}

// InitialAnswered implements Tx.
func (tx *kvTx) InitialAnswered(hash []byte) (bool, error) {
	_, ok := tx.t("initial_messages").get(nonNil(hash))
	return ok, nil
}

// ForgetInitials implements Tx.
func (tx *kvTx) ForgetInitials(signedPrekey uint32) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	h := tx.t("initial_messages")
	var (
		n   int64
		err error
	)
	h.scanIndex("initial_messages_prekey", false, func(r kvRow) bool {
		var ok bool
		if ok, err = h.delRow(r); ok {
			n++
		}
		return err == nil
	}, signedPrekey)
	if err != nil {
		return 0, err
	}
	return n, nil
}
