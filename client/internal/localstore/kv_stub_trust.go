package localstore

// TODO(kv): replaced by kv_trust.go.

func (tx *kvTx) PutLogKey(key string) error { panic("localstore: kv: PutLogKey not implemented") }

func (tx *kvTx) LogKey() (string, error) { panic("localstore: kv: LogKey not implemented") }

func (tx *kvTx) KeySetHandles() ([]string, error) {
	panic("localstore: kv: KeySetHandles not implemented")
}

func (tx *kvTx) PutAuditState(state []byte) error {
	panic("localstore: kv: PutAuditState not implemented")
}

func (tx *kvTx) AuditState() ([]byte, error) { panic("localstore: kv: AuditState not implemented") }
