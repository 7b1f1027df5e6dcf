package localstore

// The kv engine's trust state: the log key, the audit state, key set
// handles, and the meta rows they are kept in (trust.go).

// PutLogKey implements Tx.
func (tx *kvTx) PutLogKey(key string) error {
	return tx.putMeta(logKeyName, logKeyAD(), []byte(key))
}

// LogKey implements Tx.
func (tx *kvTx) LogKey() (string, error) {
	key, err := tx.meta(logKeyName, logKeyAD())
	return string(key), err
}

// putMeta stores value, sealed under ad, in the meta row name.
func (tx *kvTx) putMeta(name string, ad rowKey, value []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(ad, value)
	if err != nil {
		return err
	}
	h := tx.t("meta")
	_, err = h.put(h.row("name", name, "value", sealed))
	return err
}

// meta returns the value of the meta row name, opened under ad, or
// ErrNotFound.
func (tx *kvTx) meta(name string, ad rowKey) ([]byte, error) {
	r, ok := tx.t("meta").get(name)
	if !ok {
		return nil, ErrNotFound
	}
	return tx.s.open(ad, r.b("value"))
}

// KeySetHandles implements Tx.
func (tx *kvTx) KeySetHandles() ([]string, error) {
	var out []string
	tx.t("keysets").scan(false, func(r kvRow) bool {
		out = append(out, r.s("handle"))
		return true
	})
	return out, nil
}

// PutAuditState implements Tx.
func (tx *kvTx) PutAuditState(state []byte) error {
	return tx.putMeta(auditStateName, auditStateAD(), state)
}

// AuditState implements Tx.
func (tx *kvTx) AuditState() ([]byte, error) {
	return tx.meta(auditStateName, auditStateAD())
}
