package localstore

import (
	"database/sql"
	"errors"
	"time"
)

// Identity is this device's own identity (spec/client-store.md §4.2).
// AccountSeed, SigningSeed and DHPrivate are sealed on disk; the caller
// zeroes the copies it gets.
type Identity struct {
	Handle      string
	DeviceID    uint32
	AccountSeed []byte // nil on a device that does not hold the account key
	SigningSeed []byte // the device's Ed25519 signing key seed
	DHPrivate   []byte // the device's X25519 private key
	Certificate []byte // the device certificate, as encoded
}

func identityAD(column, handle string, device uint32) rowKey {
	return newRowKey("identity", column).text(handle).int(uint64(device))
}

// PutIdentity stores id, replacing any identity already stored.
func (tx *sqlTx) PutIdentity(id Identity) error {
	var account []byte
	if id.AccountSeed != nil {
		var err error
		if account, err = tx.s.seal(identityAD("account_seed", id.Handle, id.DeviceID), id.AccountSeed); err != nil {
			return err
		}
	}
	signing, err := tx.s.seal(identityAD("signing_seed", id.Handle, id.DeviceID), id.SigningSeed)
	if err != nil {
		return err
	}
	dh, err := tx.s.seal(identityAD("dh_private", id.Handle, id.DeviceID), id.DHPrivate)
	if err != nil {
		return err
	}
	_, err = tx.exec("put identity", `INSERT OR REPLACE INTO identity
		(id, handle, device_id, account_seed, signing_seed, dh_private, certificate)
		VALUES (1, ?, ?, ?, ?, ?, ?)`,
		id.Handle, int64(id.DeviceID), account, signing, dh, nonNil(id.Certificate))
	return err
}

// Identity returns the stored identity, or ErrNotFound.
func (tx *sqlTx) Identity() (Identity, error) {
	var (
		id                   Identity
		device               int64
		account, signing, dh []byte
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT handle, device_id, account_seed, signing_seed, dh_private, certificate
		FROM identity WHERE id = 1`).Scan(&id.Handle, &device, &account, &signing, &dh, &id.Certificate)
	if errors.Is(err, sql.ErrNoRows) {
		return Identity{}, ErrNotFound
	}
	if err != nil {
		return Identity{}, dbErr("get identity", err)
	}
	if device < 0 || device > 1<<32-1 {
		return Identity{}, corrupt("identity.device_id out of range")
	}
	id.DeviceID = uint32(device)
	if account != nil {
		if id.AccountSeed, err = tx.s.open(identityAD("account_seed", id.Handle, id.DeviceID), account); err != nil {
			return Identity{}, err
		}
	}
	if id.SigningSeed, err = tx.s.open(identityAD("signing_seed", id.Handle, id.DeviceID), signing); err != nil {
		clear(id.AccountSeed)
		return Identity{}, err
	}
	if id.DHPrivate, err = tx.s.open(identityAD("dh_private", id.Handle, id.DeviceID), dh); err != nil {
		clear(id.AccountSeed)
		clear(id.SigningSeed)
		return Identity{}, err
	}
	return id, nil
}

// nonNil returns b, or an empty slice for nil (NOT NULL blob columns).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nanos returns t as Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
