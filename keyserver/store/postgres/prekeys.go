package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/keyserver/store"
)

// One-time prekey kinds in the prekeys table.
const (
	kindX25519 = 0
	kindKEM    = 1
)

// UploadPrekeys implements store.Store. It locks the device row, so
// uploads to one device (and its revocation) run one at a time and the
// per-device cap holds under concurrency.
func (s *Store) UploadPrekeys(ctx context.Context, u store.Upload) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var revocation []byte
		err := tx.QueryRow(ctx, `SELECT revocation FROM devices WHERE handle = $1 AND id = $2 FOR UPDATE`,
			u.Handle, int64(u.Device)).Scan(&revocation)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return wrap("read device", err)
		}
		if revocation != nil {
			return store.ErrDeviceRevoked
		}
		if len(u.OneTime) > 0 || len(u.OneTimeKEM) > 0 {
			have, err := countPrekeys(ctx, tx, u.Handle, u.Device)
			if err != nil {
				return err
			}
			if have.OneTime+len(u.OneTime) > u.MaxOneTime || have.OneTimeKEM+len(u.OneTimeKEM) > u.MaxOneTime {
				return store.ErrTooManyPrekeys
			}
		}
		if u.Signed != nil {
			if _, err := tx.Exec(ctx, `UPDATE devices SET signed_id = $3, signed = $4 WHERE handle = $1 AND id = $2`,
				u.Handle, int64(u.Device), int64(u.Signed.ID), nonNil(u.Signed.Encoded)); err != nil {
				return wrap("store signed prekey", err)
			}
		}
		if u.LastResort != nil {
			if _, err := tx.Exec(ctx, `UPDATE devices SET last_resort_id = $3, last_resort = $4 WHERE handle = $1 AND id = $2`,
				u.Handle, int64(u.Device), int64(u.LastResort.ID), nonNil(u.LastResort.Encoded)); err != nil {
				return wrap("store last-resort prekey", err)
			}
		}
		n := len(u.OneTime) + len(u.OneTimeKEM)
		if n == 0 {
			return nil
		}
		kinds := make([]int16, 0, n)
		ids := make([]int64, 0, n)
		encs := make([][]byte, 0, n)
		for _, p := range u.OneTime {
			kinds, ids, encs = append(kinds, kindX25519), append(ids, int64(p.ID)), append(encs, nonNil(p.Encoded))
		}
		for _, p := range u.OneTimeKEM {
			kinds, ids, encs = append(kinds, kindKEM), append(ids, int64(p.ID)), append(encs, nonNil(p.Encoded))
		}
		_, err = tx.Exec(ctx, `INSERT INTO prekeys (handle, device, kind, id, encoded)
			SELECT $1, $2, k, i, e FROM unnest($3::smallint[], $4::bigint[], $5::bytea[]) AS u (k, i, e)`,
			u.Handle, int64(u.Device), kinds, ids, encs)
		if uniqueViolation(err, "prekeys_pkey") {
			return store.ErrDuplicatePrekey
		}
		if err != nil {
			return wrap("store one-time prekeys", err)
		}
		return nil
	})
}

// CountPrekeys implements store.Store: ErrNotFound for an unknown device,
// ErrDeviceRevoked for a revoked one. Device and counts are read in one
// statement, so from one snapshot.
func (s *Store) CountPrekeys(ctx context.Context, handle string, device uint32) (store.Counts, error) {
	var (
		found, revoked bool
		c              store.Counts
	)
	err := s.pool.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM devices WHERE handle = $1 AND id = $2),
			EXISTS (SELECT 1 FROM devices WHERE handle = $1 AND id = $2 AND revocation IS NOT NULL),
			count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1)
		FROM prekeys WHERE handle = $1 AND device = $2`, handle, int64(device)).Scan(&found, &revoked, &c.OneTime, &c.OneTimeKEM)
	switch {
	case err != nil:
		return store.Counts{}, wrap("count prekeys", err)
	case !found:
		return store.Counts{}, store.ErrNotFound
	case revoked:
		return store.Counts{}, store.ErrDeviceRevoked
	}
	return c, nil
}

func countPrekeys(ctx context.Context, tx pgx.Tx, handle string, device uint32) (store.Counts, error) {
	var c store.Counts
	err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1)
		FROM prekeys WHERE handle = $1 AND device = $2`, handle, int64(device)).Scan(&c.OneTime, &c.OneTimeKEM)
	if err != nil {
		return store.Counts{}, wrap("count prekeys", err)
	}
	return c, nil
}

// nonNil keeps a NOT NULL bytea column from receiving NULL for a nil slice.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
