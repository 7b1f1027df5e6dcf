package localstore

// TODO(kv): replaced by kv_identity.go.

func (tx *kvTx) PutIdentity(id Identity) error { panic("localstore: kv: PutIdentity not implemented") }

func (tx *kvTx) Identity() (Identity, error) { panic("localstore: kv: Identity not implemented") }
