package localstore

// TODO(kv): replaced by kv_push.go.

func (tx *kvTx) PutPushTarget(p PushTarget) error {
	panic("localstore: kv: PutPushTarget not implemented")
}

func (tx *kvTx) PushTarget() (PushTarget, error) { panic("localstore: kv: PushTarget not implemented") }

func (tx *kvTx) DeletePushTarget() error { panic("localstore: kv: DeletePushTarget not implemented") }

func (tx *kvTx) Heartbeat(network string) (Heartbeat, error) {
	panic("localstore: kv: Heartbeat not implemented")
}

func (tx *kvTx) PutHeartbeat(network string, hb Heartbeat) error {
	panic("localstore: kv: PutHeartbeat not implemented")
}
