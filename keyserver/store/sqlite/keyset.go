package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
	"golang.org/x/mod/sumdb/tlog"
)

// errInvalidUpdate reports a KeySetUpdate that is none of create, add or
// revoke: a fault of the caller.
var errInvalidUpdate = errors.New("sqlite: key-set update must be exactly one of create, add device, revoke")

// UpdateKeySet applies u and appends u.Leaf to the log in one transaction.
func (s *Store) UpdateKeySet(ctx context.Context, u store.KeySetUpdate) (int64, error) {
	create := u.ExpectedVersion == 0
	switch {
	case create && (u.AddDevice == nil || u.Revoke != nil):
		return 0, errInvalidUpdate
	case !create && (u.AddDevice == nil) == (u.Revoke == nil):
		return 0, errInvalidUpdate
	}
	var idx int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var version uint64
		err := tx.QueryRowContext(ctx, `SELECT version FROM accounts WHERE handle = ?`, u.Handle).Scan(&version)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if !create {
				return fmt.Errorf("sqlite: account %q: %w", u.Handle, store.ErrNotFound)
			}
		case err != nil:
			return fmt.Errorf("sqlite: read account: %w", err)
		case create:
			return fmt.Errorf("sqlite: account %q: %w", u.Handle, store.ErrHandleTaken)
		case version != u.ExpectedVersion:
			return fmt.Errorf("sqlite: account %q at version %d, not %d: %w", u.Handle, version, u.ExpectedVersion, store.ErrConflict)
		}

		if idx, err = appendLeaf(ctx, tx, u.Leaf); err != nil {
			return err
		}
		switch {
		case create:
			err = createAccount(ctx, tx, u, idx)
		case u.AddDevice != nil:
			err = addDevice(ctx, tx, u.Handle, u.AddDevice)
		default:
			err = revokeDevice(ctx, tx, u.Handle, u.Revoke, idx, u.Now)
		}
		if err != nil {
			return err
		}
		if !create {
			_, err = tx.ExecContext(ctx, `UPDATE accounts SET version = version + 1, log_index = ? WHERE handle = ?`, idx, u.Handle)
			if err != nil {
				return fmt.Errorf("sqlite: update account: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return idx, nil
}

func createAccount(ctx context.Context, tx *sql.Tx, u store.KeySetUpdate, idx int64) error {
	if u.Invite != nil {
		res, err := tx.ExecContext(ctx, `UPDATE invites SET used = 1 WHERE hash = ? AND used = 0`, u.Invite)
		if err != nil {
			return fmt.Errorf("sqlite: use invite: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("sqlite: register %q: %w", u.Handle, store.ErrInvite)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO accounts (handle, account_key, version, log_index, created) VALUES (?, ?, 1, ?, ?)`,
		u.Handle, u.AccountKey[:], idx, u.Now.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: insert account: %w", err)
	}
	return addDevice(ctx, tx, u.Handle, u.AddDevice)
}

func addDevice(ctx context.Context, tx *sql.Tx, handle string, d *store.Device) error {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE handle = ? AND id = ?`, handle, d.ID).Scan(&n)
	if err != nil {
		return fmt.Errorf("sqlite: read device: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("sqlite: %q device %d: %w", handle, d.ID, store.ErrDeviceExists)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO devices (handle, id, certificate) VALUES (?, ?, ?)`, handle, d.ID, d.Certificate)
	if err != nil {
		return fmt.Errorf("sqlite: insert device: %w", err)
	}
	return nil
}

// revokeDevice revokes d, recording the index of the leaf that records
// the revocation and its time for the revocation feed.
func revokeDevice(ctx context.Context, tx *sql.Tx, handle string, d *store.Device, idx int64, now time.Time) error {
	var revoked bool
	err := tx.QueryRowContext(ctx, `SELECT revocation IS NOT NULL FROM devices WHERE handle = ? AND id = ?`, handle, d.ID).Scan(&revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %q device %d: %w", handle, d.ID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: read device: %w", err)
	case revoked:
		return fmt.Errorf("sqlite: %q device %d: %w", handle, d.ID, store.ErrDeviceRevoked)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET revocation = ?, revoked_index = ?, revoked_at = ? WHERE handle = ? AND id = ?`,
		nonNil(d.Revocation), idx, now.UnixNano(), handle, d.ID); err != nil {
		return fmt.Errorf("sqlite: revoke device: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM prekeys WHERE handle = ? AND device = ?`, handle, d.ID); err != nil {
		return fmt.Errorf("sqlite: delete prekeys: %w", err)
	}
	return nil
}

// nonNil makes a nil slice an empty one, so that a revocation is never
// stored as NULL, which marks an active device.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// appendLeaf appends leaf to the log and stores its hashes, returning its
// index.
func appendLeaf(ctx context.Context, tx *sql.Tx, leaf []byte) (int64, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: log size: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO log_leaves (idx, leaf) VALUES (?, ?)`, n, nonNil(leaf)); err != nil {
		return 0, fmt.Errorf("sqlite: append leaf: %w", err)
	}
	hashes, err := store.LeafHashes(ctx, func(ctx context.Context, idx []int64) ([]tlog.Hash, error) {
		return readHashes(ctx, tx, idx)
	}, n, leaf)
	if err != nil {
		return 0, err
	}
	first := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_hashes (idx, hash) VALUES (?, ?)`, first+int64(i), h[:]); err != nil {
			return 0, fmt.Errorf("sqlite: store log hash: %w", err)
		}
	}
	return n, nil
}

// Account returns the current key set of handle.
func (s *Store) Account(ctx context.Context, handle string) (*store.Account, error) {
	var a store.Account
	err := s.read(ctx, func(tx *sql.Tx) error {
		var key []byte
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT account_key, version, log_index, created FROM accounts WHERE handle = ?`, handle).
			Scan(&key, &a.Version, &a.LogIndex, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: account %q: %w", handle, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("sqlite: read account: %w", err)
		case len(key) != len(a.AccountKey):
			return fmt.Errorf("sqlite: account %q: stored key has %d bytes", handle, len(key))
		}
		a.Handle = handle
		copy(a.AccountKey[:], key)
		a.Created = time.Unix(0, created).UTC()
		rows, err := tx.QueryContext(ctx, `SELECT id, certificate, revocation FROM devices WHERE handle = ? ORDER BY id`, handle)
		if err != nil {
			return fmt.Errorf("sqlite: read devices: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d store.Device
			if err := rows.Scan(&d.ID, &d.Certificate, &d.Revocation); err != nil {
				return fmt.Errorf("sqlite: read devices: %w", err)
			}
			a.Devices = append(a.Devices, d)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read devices: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}
