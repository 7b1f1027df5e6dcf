package localstore

import "time"

// TODO(kv): replaced by kv_prekeys.go.

func (tx *kvTx) PutPrekey(p Prekey) error { panic("localstore: kv: PutPrekey not implemented") }

func (tx *kvTx) Prekey(kind uint8, id uint32) (Prekey, error) {
	panic("localstore: kv: Prekey not implemented")
}

func (tx *kvTx) Prekeys(kind uint8) ([]Prekey, error) {
	panic("localstore: kv: Prekeys not implemented")
}

func (tx *kvTx) CountPrekeys(kind uint8) (int, error) {
	panic("localstore: kv: CountPrekeys not implemented")
}

func (tx *kvTx) MarkPrekeyUsed(kind uint8, id uint32, at time.Time) error {
	panic("localstore: kv: MarkPrekeyUsed not implemented")
}

func (tx *kvTx) DeletePrekey(kind uint8, id uint32) error {
	panic("localstore: kv: DeletePrekey not implemented")
}

func (tx *kvTx) PrekeyInfos(kind uint8) ([]Prekey, error) {
	panic("localstore: kv: PrekeyInfos not implemented")
}

func (tx *kvTx) MarkPrekeyPublished(kind uint8, id uint32) error {
	panic("localstore: kv: MarkPrekeyPublished not implemented")
}
