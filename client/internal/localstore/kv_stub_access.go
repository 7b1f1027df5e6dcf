package localstore

import "time"

// TODO(kv): replaced by kv_access.go.

func (tx *kvTx) PutAccess(a Access) error { panic("localstore: kv: PutAccess not implemented") }

func (tx *kvTx) Access() (Access, error) { panic("localstore: kv: Access not implemented") }

func (tx *kvTx) PutPeerAccessKey(handle string, device uint32, key []byte, received time.Time) error {
	panic("localstore: kv: PutPeerAccessKey not implemented")
}

func (tx *kvTx) PeerAccessKey(handle string, device uint32) ([]byte, error) {
	panic("localstore: kv: PeerAccessKey not implemented")
}

func (tx *kvTx) Block(handle string, at time.Time) error {
	panic("localstore: kv: Block not implemented")
}

func (tx *kvTx) Unblock(handle string) error { panic("localstore: kv: Unblock not implemented") }

func (tx *kvTx) Blocked(handle string) (bool, error) {
	panic("localstore: kv: Blocked not implemented")
}

func (tx *kvTx) BlockedHandles() ([]string, error) {
	panic("localstore: kv: BlockedHandles not implemented")
}

func (tx *kvTx) PutSealKey(handle string, device uint32, prekey []byte, fetched time.Time) error {
	panic("localstore: kv: PutSealKey not implemented")
}

func (tx *kvTx) SealKey(handle string, device uint32) ([]byte, time.Time, error) {
	panic("localstore: kv: SealKey not implemented")
}

func (tx *kvTx) MarkAccessGiven(handle string, at time.Time) error {
	panic("localstore: kv: MarkAccessGiven not implemented")
}

func (tx *kvTx) AccessGiven() ([]string, error) { panic("localstore: kv: AccessGiven not implemented") }
