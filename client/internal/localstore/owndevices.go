package localstore

import (
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
)

// OwnDeviceState is what this device knows of another device of its own
// account (spec/client-store.md §4.11).
type OwnDeviceState uint8

const (
	// OwnApproved: this device created or approved the device.
	OwnApproved OwnDeviceState = 1
	// OwnRevoked: the device is revoked, and this device knows it (it
	// revoked it, or reported the revocation).
	OwnRevoked OwnDeviceState = 2
)

// OwnDevice is one row of own_devices: a device id, its state, and the
// SHA-256 of the certificate this device approved.
type OwnDevice struct {
	Device   uint32
	State    OwnDeviceState
	CertHash [32]byte
}

// Matches reports whether cert is the certificate d was approved with.
func (d OwnDevice) Matches(cert []byte) bool {
	h := sha256.Sum256(cert)
	return subtle.ConstantTimeCompare(h[:], d.CertHash[:]) == 1
}

// ownDeviceRecordSize is the sealed record: state (1) || certificate hash (32).
const ownDeviceRecordSize = 1 + 32

func ownDeviceAD(device uint32) rowKey {
	return newRowKey("own_devices", "record").int(uint64(device))
}

// PutOwnDevice records device with state and the certificate it was
// approved with, replacing what was recorded for it.
func (tx *sqlTx) PutOwnDevice(device uint32, state OwnDeviceState, cert []byte) error {
	sealed, err := tx.s.sealOwnDevice(device, state, sha256.Sum256(cert))
	if err != nil {
		return err
	}
	_, err = tx.exec("put own device", `INSERT OR REPLACE INTO own_devices (device, record) VALUES (?, ?)`, int64(device), sealed)
	return err
}

// sealOwnDevice checks state and seals the own_devices record of device
// (both engines).
func (s *Store) sealOwnDevice(device uint32, state OwnDeviceState, certHash [32]byte) ([]byte, error) {
	if state != OwnApproved && state != OwnRevoked {
		return nil, fmt.Errorf("localstore: own device state %d", state)
	}
	rec := append([]byte{byte(state)}, certHash[:]...)
	return s.seal(ownDeviceAD(device), rec)
}

// OwnDevices returns the recorded devices of this account by id.
func (tx *sqlTx) OwnDevices() (map[uint32]OwnDevice, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT device, record FROM own_devices ORDER BY device`)
	if err != nil {
		return nil, dbErr("list own devices", err)
	}
	defer rows.Close()
	out := map[uint32]OwnDevice{}
	for rows.Next() {
		var (
			device int64
			sealed []byte
		)
		if err := rows.Scan(&device, &sealed); err != nil {
			return nil, dbErr("list own devices", err)
		}
		id, err := deviceColumn(device, "own_devices.device")
		if err != nil {
			return nil, err
		}
		d, err := tx.s.openOwnDevice(id, sealed)
		if err != nil {
			return nil, err
		}
		out[d.Device] = d
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list own devices", err)
	}
	return out, nil
}

// OwnDevice returns the record of device, or ErrNotFound.
func (tx *sqlTx) OwnDevice(device uint32) (OwnDevice, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT record FROM own_devices WHERE device = ?`, int64(device)).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return OwnDevice{}, ErrNotFound
	}
	if err != nil {
		return OwnDevice{}, dbErr("get own device", err)
	}
	return tx.s.openOwnDevice(device, sealed)
}

// openOwnDevice opens and parses the own_devices record of device (both
// engines).
func (s *Store) openOwnDevice(device uint32, sealed []byte) (OwnDevice, error) {
	rec, err := s.open(ownDeviceAD(device), sealed)
	if err != nil {
		return OwnDevice{}, err
	}
	if len(rec) != ownDeviceRecordSize || (OwnDeviceState(rec[0]) != OwnApproved && OwnDeviceState(rec[0]) != OwnRevoked) {
		return OwnDevice{}, corrupt("own device record %d is malformed", device)
	}
	return OwnDevice{Device: device, State: OwnDeviceState(rec[0]), CertHash: [32]byte(rec[1:])}, nil
}
