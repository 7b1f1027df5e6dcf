package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sealpost/sealpost/keyserver/store"
)

// Bundles returns every eligible device's bundle without one-time
// prekeys, taking nothing (store.Store).
func (s *Store) Bundles(ctx context.Context, handle string) ([]store.Claimed, error) {
	var out []store.Claimed
	err := s.read(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, claimQueries[claimAccount], handle).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: read account: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: account %q: %w", handle, store.ErrNotFound)
		}
		rows, err := tx.QueryContext(ctx, claimQueries[claimDevices], handle)
		if err != nil {
			return fmt.Errorf("sqlite: read devices: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c store.Claimed
			if err := rows.Scan(&c.Device, &c.Certificate, &c.Signed, &c.KEM); err != nil {
				return fmt.Errorf("sqlite: read devices: %w", err)
			}
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read devices: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PrekeyIDs returns the ids of an active device's one-time prekeys
// (store.Store).
func (s *Store) PrekeyIDs(ctx context.Context, handle string, device uint32) (store.HeldIDs, error) {
	var h store.HeldIDs
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := activeDevice(ctx, tx, handle, device); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT kind, id FROM prekeys
			WHERE handle = ? AND device = ? AND kind IN (2, 4) ORDER BY kind, id`, handle, device)
		if err != nil {
			return fmt.Errorf("sqlite: read prekey ids: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				kind int
				id   uint32
			)
			if err := rows.Scan(&kind, &id); err != nil {
				return fmt.Errorf("sqlite: read prekey ids: %w", err)
			}
			if kind == kindOneTime {
				h.OneTime = append(h.OneTime, id)
			} else {
				h.OneTimeKEM = append(h.OneTimeKEM, id)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read prekey ids: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.HeldIDs{}, err
	}
	return h, nil
}
