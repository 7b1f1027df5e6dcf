package localstore

import "time"

// TODO(kv): replaced by kv_initials.go.

func (tx *kvTx) RememberInitial(hash []byte, signedPrekey uint32, at time.Time) error {
	panic("localstore: kv: RememberInitial not implemented")
}

func (tx *kvTx) InitialAnswered(hash []byte) (bool, error) {
	panic("localstore: kv: InitialAnswered not implemented")
}

func (tx *kvTx) ForgetInitials(signedPrekey uint32) (int64, error) {
	panic("localstore: kv: ForgetInitials not implemented")
}
