package localstore

import "time"

// TODO(kv): replaced by kv_devices.go.

func (tx *kvTx) SetDeviceName(device uint32, name string, changed time.Time) (bool, error) {
	panic("localstore: kv: SetDeviceName not implemented")
}

func (tx *kvTx) SeeDevice(device uint32, sent time.Time) error {
	panic("localstore: kv: SeeDevice not implemented")
}

func (tx *kvTx) DeviceInfos() (map[uint32]DeviceInfo, error) {
	panic("localstore: kv: DeviceInfos not implemented")
}

func (tx *kvTx) PutOwnDeviceHash(device uint32, state OwnDeviceState, certHash [32]byte) error {
	panic("localstore: kv: PutOwnDeviceHash not implemented")
}

func (tx *kvTx) ConversationTimers() ([]ConversationTimerRow, error) {
	panic("localstore: kv: ConversationTimers not implemented")
}

func (tx *kvTx) HistorySince(since time.Time, seq int64, limit int) ([]HistoryRow, error) {
	panic("localstore: kv: HistorySince not implemented")
}

func (tx *kvTx) PutMessageDeviceState(m MessageDevice) error {
	panic("localstore: kv: PutMessageDeviceState not implemented")
}
