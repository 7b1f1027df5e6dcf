package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/keyserver/store"
)

// UpdateKeySet implements store.Store. The transaction first locks the
// log_head row, so key-set updates from every process run one at a time:
// the version checks below see the latest committed state, and the leaf
// goes at the next index with no gap.
func (s *Store) UpdateKeySet(ctx context.Context, u store.KeySetUpdate) (int64, error) {
	if err := checkUpdate(&u); err != nil {
		return 0, err
	}
	var index int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT size FROM log_head WHERE id = 1 FOR UPDATE`).Scan(&n); err != nil {
			return wrap("lock log head", err)
		}
		version := u.ExpectedVersion + 1
		if u.ExpectedVersion == 0 {
			if err := createAccount(ctx, tx, &u, n); err != nil {
				return err
			}
		} else if err := changeDevices(ctx, tx, &u, n); err != nil {
			return err
		}
		if err := appendLeaf(ctx, tx, &u, int64(version), n); err != nil {
			return err
		}
		index = n
		return nil
	})
	if err != nil {
		return 0, err
	}
	return index, nil
}

// checkUpdate refuses an update that is not exactly one of create, add or
// revoke. The key server never sends one; this guards the store.
func checkUpdate(u *store.KeySetUpdate) error {
	switch {
	case u.Leaf == nil:
		return errors.New("postgres: update without a log leaf")
	case u.ExpectedVersion == 0 && (u.AddDevice == nil || u.Revoke != nil):
		return errors.New("postgres: account creation needs exactly a first device")
	case u.ExpectedVersion != 0 && (u.AddDevice == nil) == (u.Revoke == nil):
		return errors.New("postgres: update needs exactly one of AddDevice and Revoke")
	case u.ExpectedVersion != 0 && u.Invite != nil:
		return errors.New("postgres: invite given outside account creation")
	case u.ExpectedVersion >= 1<<63-1:
		return errors.New("postgres: version out of range")
	}
	return nil
}

// createAccount inserts the account and its first device, consuming the
// invite if one is given.
func createAccount(ctx context.Context, tx pgx.Tx, u *store.KeySetUpdate, n int64) error {
	tag, err := tx.Exec(ctx, `INSERT INTO accounts (handle, account_key, version, log_index, created)
		VALUES ($1, $2, 1, $3, $4) ON CONFLICT (handle) DO NOTHING`,
		u.Handle, u.AccountKey[:], n, u.Now)
	if err != nil {
		return wrap("create account", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrHandleTaken
	}
	if u.Invite != nil {
		tag, err := tx.Exec(ctx, `UPDATE invites SET used_by = $2, used_at = $3
			WHERE code_hash = $1 AND used_by IS NULL`, u.Invite, u.Handle, u.Now)
		if err != nil {
			return wrap("use invite", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrInvite
		}
	}
	return insertDevice(ctx, tx, u.Handle, u.AddDevice)
}

// changeDevices checks the account's version and adds or revokes a device;
// a revocation records n, the index of its leaf, and its time for the
// revocation feed.
func changeDevices(ctx context.Context, tx pgx.Tx, u *store.KeySetUpdate, n int64) error {
	var version int64
	err := tx.QueryRow(ctx, `SELECT version FROM accounts WHERE handle = $1 FOR UPDATE`, u.Handle).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return wrap("read account", err)
	}
	if uint64(version) != u.ExpectedVersion {
		return store.ErrConflict
	}
	if u.AddDevice != nil {
		return insertDevice(ctx, tx, u.Handle, u.AddDevice)
	}
	var revocation []byte
	err = tx.QueryRow(ctx, `SELECT revocation FROM devices WHERE handle = $1 AND id = $2 FOR UPDATE`,
		u.Handle, int64(u.Revoke.ID)).Scan(&revocation)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return wrap("read device", err)
	}
	if revocation != nil {
		return store.ErrDeviceRevoked
	}
	rev := u.Revoke.Revocation
	if rev == nil {
		rev = []byte{}
	}
	if _, err := tx.Exec(ctx, `UPDATE devices SET revocation = $3, revoked_index = $4, revoked_at = $5,
		signed_id = NULL, signed = NULL, last_resort_id = NULL, last_resort = NULL
		WHERE handle = $1 AND id = $2`, u.Handle, int64(u.Revoke.ID), rev, n, u.Now); err != nil {
		return wrap("revoke device", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM prekeys WHERE handle = $1 AND device = $2`,
		u.Handle, int64(u.Revoke.ID)); err != nil {
		return wrap("delete prekeys", err)
	}
	return nil
}

// insertDevice adds an active device; an id the account ever used is
// refused with store.ErrDeviceExists.
func insertDevice(ctx context.Context, tx pgx.Tx, handle string, d *store.Device) error {
	if d.ID == 0 {
		return errors.New("postgres: device id 0")
	}
	cert := d.Certificate
	if cert == nil {
		cert = []byte{}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO devices (handle, id, certificate) VALUES ($1, $2, $3)
		ON CONFLICT (handle, id) DO NOTHING`, handle, int64(d.ID), cert)
	if err != nil {
		return wrap("add device", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrDeviceExists
	}
	return nil
}

// appendLeaf stores u.Leaf at index n with its tlog hashes, advances the
// log head and points the account at the new leaf and version, sending the
// four statements in one round trip. The caller holds the log_head lock.
func appendLeaf(ctx context.Context, tx pgx.Tx, u *store.KeySetUpdate, version, n int64) error {
	hashes, err := store.LeafHashes(ctx, txHashReader(tx), n, u.Leaf)
	if err != nil {
		return err
	}
	idx := make([]int64, len(hashes))
	vals := make([][]byte, len(hashes))
	first := tlog.StoredHashIndex(0, n)
	for i := range hashes {
		idx[i] = first + int64(i)
		vals[i] = hashes[i][:]
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO log_leaves (idx, leaf) VALUES ($1, $2)`, n, nonNil(u.Leaf))
	b.Queue(`INSERT INTO log_hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, idx, vals)
	b.Queue(`UPDATE log_head SET size = $1 WHERE id = 1`, n+1)
	b.Queue(`UPDATE accounts SET version = $2, log_index = $3 WHERE handle = $1`, u.Handle, version, n)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return wrap("append leaf", err)
	}
	return nil
}

// Account implements store.Store. Account and devices are read in one
// statement, so they come from one snapshot.
func (s *Store) Account(ctx context.Context, handle string) (*store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.account_key, a.version, a.log_index, a.created,
			d.id, d.certificate, d.revocation
		FROM accounts a LEFT JOIN devices d ON d.handle = a.handle
		WHERE a.handle = $1 ORDER BY d.id`, handle)
	if err != nil {
		return nil, wrap("read account", err)
	}
	defer rows.Close()
	var a *store.Account
	for rows.Next() {
		var (
			key      []byte
			version  int64
			id       *int64
			cert     []byte
			revoking []byte
		)
		if a == nil {
			a = &store.Account{Handle: handle}
		}
		if err := rows.Scan(&key, &version, &a.LogIndex, &a.Created, &id, &cert, &revoking); err != nil {
			return nil, wrap("read account", err)
		}
		if len(key) != len(a.AccountKey) {
			return nil, fmt.Errorf("postgres: account %q: stored key has %d bytes", handle, len(key))
		}
		copy(a.AccountKey[:], key)
		a.Version = uint64(version)
		if id != nil {
			a.Devices = append(a.Devices, store.Device{ID: uint32(*id), Certificate: cert, Revocation: revoking})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read account", err)
	}
	if a == nil {
		return nil, store.ErrNotFound
	}
	a.Created = a.Created.UTC()
	return a, nil
}
