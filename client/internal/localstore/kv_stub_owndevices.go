package localstore

// TODO(kv): replaced by kv_owndevices.go.

func (tx *kvTx) PutOwnDevice(device uint32, state OwnDeviceState, cert []byte) error {
	panic("localstore: kv: PutOwnDevice not implemented")
}

func (tx *kvTx) OwnDevices() (map[uint32]OwnDevice, error) {
	panic("localstore: kv: OwnDevices not implemented")
}

func (tx *kvTx) OwnDevice(device uint32) (OwnDevice, error) {
	panic("localstore: kv: OwnDevice not implemented")
}
