package localstore

// The kv engine's push target and heartbeats (push.go).

// PutPushTarget implements Tx.
func (tx *kvTx) PutPushTarget(p PushTarget) error {
	if err := tx.writable(); err != nil {
		return err
	}
	return putPushTarget(tx, p)
}

// PushTarget implements Tx.
func (tx *kvTx) PushTarget() (PushTarget, error) { return loadPushTarget(tx) }

// DeletePushTarget implements Tx.
func (tx *kvTx) DeletePushTarget() error {
	_, err := tx.t("meta").del(pushName)
	return err
}

// Heartbeat implements Tx.
func (tx *kvTx) Heartbeat(network string) (Heartbeat, error) { return loadHeartbeat(tx, network) }

// PutHeartbeat implements Tx.
func (tx *kvTx) PutHeartbeat(network string, hb Heartbeat) error {
	if err := tx.writable(); err != nil {
		return err
	}
	return putHeartbeat(tx, network, hb)
}
