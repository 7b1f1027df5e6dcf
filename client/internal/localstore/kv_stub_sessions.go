package localstore

// TODO(kv): replaced by kv_sessions.go.

func (tx *kvTx) PutSession(s Session) error { panic("localstore: kv: PutSession not implemented") }

func (tx *kvTx) EphemeralRun(handle string, device uint32) (int, error) {
	panic("localstore: kv: EphemeralRun not implemented")
}

func (tx *kvTx) SetEphemeralRun(handle string, device uint32, n int) error {
	panic("localstore: kv: SetEphemeralRun not implemented")
}

func (tx *kvTx) Session(handle string, device uint32) (Session, error) {
	panic("localstore: kv: Session not implemented")
}

func (tx *kvTx) SessionDevices(handle string) ([]uint32, error) {
	panic("localstore: kv: SessionDevices not implemented")
}

func (tx *kvTx) DeleteSession(handle string, device uint32) error {
	panic("localstore: kv: DeleteSession not implemented")
}

func (tx *kvTx) SessionPeers() ([]SessionPeer, error) {
	panic("localstore: kv: SessionPeers not implemented")
}
