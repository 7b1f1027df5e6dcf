package localstore

import "bytes"

// The kv engine's identity (identity.go).

// PutIdentity implements Tx.
func (tx *kvTx) PutIdentity(id Identity) error {
	account, signing, dh, err := tx.s.sealIdentity(id)
	if err != nil {
		return err
	}
	h := tx.t("identity")
	_, err = h.put(h.row("id", 1, "handle", id.Handle, "device_id", id.DeviceID,
		"account_seed", kvNullable(account), "signing_seed", signing, "dh_private", dh, "certificate", nonNil(id.Certificate)))
	return err
}

// Identity implements Tx.
func (tx *kvTx) Identity() (Identity, error) {
	r, ok := tx.t("identity").get(1)
	if !ok {
		return Identity{}, ErrNotFound
	}
	id := Identity{Handle: r.s("handle"), Certificate: bytes.Clone(r.b("certificate"))}
	return tx.s.openIdentity(id, r.i("device_id"), r.b("account_seed"), r.b("signing_seed"), r.b("dh_private"))
}
