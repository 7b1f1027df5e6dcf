package postgres

import (
	"context"

	"github.com/sealpost/sealpost/keyserver/store"
)

// bundlesSQL reads every eligible device of handle $1 as claimSQL does,
// taking nothing: one row per eligible device, one row with a NULL id for
// an account with no eligible device, no row for an unknown handle.
const bundlesSQL = `SELECT d.id, d.certificate, d.signed, d.last_resort
	FROM accounts a LEFT JOIN devices d ON d.handle = a.handle
		AND d.revocation IS NULL AND d.signed IS NOT NULL AND d.last_resort IS NOT NULL
	WHERE a.handle = $1 ORDER BY d.id`

// Bundles implements store.Store: every eligible device's bundle without
// one-time prekeys, in one statement.
func (s *Store) Bundles(ctx context.Context, handle string) ([]store.Claimed, error) {
	rows, err := s.pool.Query(ctx, bundlesSQL, handle)
	if err != nil {
		return nil, wrap("bundles", err)
	}
	defer rows.Close()
	var out []store.Claimed
	found := false
	for rows.Next() {
		found = true
		var (
			id *int64
			c  store.Claimed
		)
		if err := rows.Scan(&id, &c.Certificate, &c.Signed, &c.KEM); err != nil {
			return nil, wrap("bundles", err)
		}
		if id == nil {
			continue
		}
		c.Device = uint32(*id)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("bundles", err)
	}
	if !found {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// PrekeyIDs implements store.Store: device and ids are read in one
// statement, so from one snapshot.
func (s *Store) PrekeyIDs(ctx context.Context, handle string, device uint32) (store.HeldIDs, error) {
	var (
		found, revoked bool
		x, k           []int64
	)
	err := s.pool.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM devices WHERE handle = $1 AND id = $2),
			EXISTS (SELECT 1 FROM devices WHERE handle = $1 AND id = $2 AND revocation IS NOT NULL),
			coalesce(array_agg(id ORDER BY id) FILTER (WHERE kind = 0), '{}'),
			coalesce(array_agg(id ORDER BY id) FILTER (WHERE kind = 1), '{}')
		FROM prekeys WHERE handle = $1 AND device = $2`, handle, int64(device)).Scan(&found, &revoked, &x, &k)
	switch {
	case err != nil:
		return store.HeldIDs{}, wrap("prekey ids", err)
	case !found:
		return store.HeldIDs{}, store.ErrNotFound
	case revoked:
		return store.HeldIDs{}, store.ErrDeviceRevoked
	}
	return store.HeldIDs{OneTime: toU32(x), OneTimeKEM: toU32(k)}, nil
}

func toU32(v []int64) []uint32 {
	if len(v) == 0 {
		return nil
	}
	out := make([]uint32, len(v))
	for i, id := range v {
		out[i] = uint32(id)
	}
	return out
}
