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
	account, signing, dh, err := tx.s.sealIdentity(id)
	if err != nil {
		return err
	}
	_, err = tx.exec("put identity", `INSERT OR REPLACE INTO identity
		(id, handle, device_id, account_seed, signing_seed, dh_private, certificate)
		VALUES (1, ?, ?, ?, ?, ?, ?)`,
		id.Handle, int64(id.DeviceID), account, signing, dh, nonNil(id.Certificate))
	return err
}

// sealIdentity seals id's secrets (both engines); account is nil when id
// has no account seed.
func (s *Store) sealIdentity(id Identity) (account, signing, dh []byte, err error) {
	if id.AccountSeed != nil {
		if account, err = s.seal(identityAD("account_seed", id.Handle, id.DeviceID), id.AccountSeed); err != nil {
			return nil, nil, nil, err
		}
	}
	if signing, err = s.seal(identityAD("signing_seed", id.Handle, id.DeviceID), id.SigningSeed); err != nil {
		return nil, nil, nil, err
	}
	if dh, err = s.seal(identityAD("dh_private", id.Handle, id.DeviceID), id.DHPrivate); err != nil {
		return nil, nil, nil, err
	}
	return account, signing, dh, nil
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
	return tx.s.openIdentity(id, device, account, signing, dh)
}

// openIdentity completes id, read from its row with the handle and
// certificate, with its device id and opened secrets (both engines).
func (s *Store) openIdentity(id Identity, device int64, account, signing, dh []byte) (Identity, error) {
	var err error
	if id.DeviceID, err = deviceColumn(device, "identity.device_id"); err != nil {
		return Identity{}, err
	}
	if account != nil {
		if id.AccountSeed, err = s.open(identityAD("account_seed", id.Handle, id.DeviceID), account); err != nil {
			return Identity{}, err
		}
	}
	if id.SigningSeed, err = s.open(identityAD("signing_seed", id.Handle, id.DeviceID), signing); err != nil {
		clear(id.AccountSeed)
		return Identity{}, err
	}
	if id.DHPrivate, err = s.open(identityAD("dh_private", id.Handle, id.DeviceID), dh); err != nil {
		clear(id.AccountSeed)
		clear(id.SigningSeed)
		return Identity{}, err
	}
	return id, nil
}

// deviceColumn converts a stored device id, which a well-formed store
// holds in the uint32 range; col names the column for the corruption
// error.
func deviceColumn(v int64, col string) (uint32, error) {
	if v < 0 || v > 1<<32-1 {
		return 0, corrupt("%s out of range", col)
	}
	return uint32(v), nil
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
