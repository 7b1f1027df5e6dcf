package localstore

import "crypto/sha256"

// The kv engine's own devices (owndevices.go).

// PutOwnDevice implements Tx.
func (tx *kvTx) PutOwnDevice(device uint32, state OwnDeviceState, cert []byte) error {
	sealed, err := tx.s.sealOwnDevice(device, state, sha256.Sum256(cert))
	if err != nil {
		return err
	}
	return tx.putOwnDevice(device, sealed)
}

// PutOwnDeviceHash implements Tx.
func (tx *kvTx) PutOwnDeviceHash(device uint32, state OwnDeviceState, certHash [32]byte) error {
	sealed, err := tx.s.sealOwnDevice(device, state, certHash)
	if err != nil {
		return err
	}
	return tx.putOwnDevice(device, sealed)
}

func (tx *kvTx) putOwnDevice(device uint32, sealed []byte) error {
	h := tx.t("own_devices")
	_, err := h.put(h.row("device", device, "record", sealed))
	return err
}

// OwnDevices implements Tx.
func (tx *kvTx) OwnDevices() (map[uint32]OwnDevice, error) {
	out := map[uint32]OwnDevice{}
	for _, r := range tx.t("own_devices").all() {
		id, err := deviceColumn(r.i("device"), "own_devices.device")
		if err != nil {
			return nil, err
		}
		d, err := tx.s.openOwnDevice(id, r.b("record"))
		if err != nil {
			return nil, err
		}
		out[d.Device] = d
	}
	return out, nil
}

// OwnDevice implements Tx.
func (tx *kvTx) OwnDevice(device uint32) (OwnDevice, error) {
	r, ok := tx.t("own_devices").get(device)
	if !ok {
		return OwnDevice{}, ErrNotFound
	}
	return tx.s.openOwnDevice(device, r.b("record"))
}
