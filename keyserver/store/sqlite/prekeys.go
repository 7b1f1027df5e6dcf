package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/keyserver/store"
)

// Prekey kinds as stored (spec/keys.md §8, keys.PrekeyKind).
const (
	kindSigned     = 1
	kindOneTime    = 2
	kindLastResort = 3
	kindOneTimeKEM = 4
)

// activeDevice fails with ErrNotFound or ErrDeviceRevoked unless device of
// handle exists and is active.
func activeDevice(ctx context.Context, q querier, handle string, device uint32) error {
	var revoked bool
	err := q.QueryRowContext(ctx, `SELECT revocation IS NOT NULL FROM devices WHERE handle = ? AND id = ?`, handle, device).Scan(&revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %q device %d: %w", handle, device, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: read device: %w", err)
	case revoked:
		return fmt.Errorf("sqlite: %q device %d: %w", handle, device, store.ErrDeviceRevoked)
	}
	return nil
}

// UploadPrekeys stores u for an active device.
func (s *Store) UploadPrekeys(ctx context.Context, u store.Upload) error {
	for _, ps := range [][]store.Prekey{u.OneTime, u.OneTimeKEM} {
		seen := make(map[uint32]bool, len(ps))
		for _, p := range ps {
			if seen[p.ID] {
				return fmt.Errorf("sqlite: prekey %d twice in one upload: %w", p.ID, store.ErrDuplicatePrekey)
			}
			seen[p.ID] = true
		}
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := activeDevice(ctx, tx, u.Handle, u.Device); err != nil {
			return err
		}
		for _, medium := range []struct {
			kind int
			p    *store.Prekey
		}{{kindSigned, u.Signed}, {kindLastResort, u.LastResort}} {
			if medium.p == nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM prekeys WHERE handle = ? AND device = ? AND kind = ?`,
				u.Handle, u.Device, medium.kind); err != nil {
				return fmt.Errorf("sqlite: replace prekey: %w", err)
			}
			if err := insertPrekey(ctx, tx, u.Handle, u.Device, medium.kind, medium.p); err != nil {
				return err
			}
		}
		for _, oneTime := range []struct {
			kind int
			ps   []store.Prekey
		}{{kindOneTime, u.OneTime}, {kindOneTimeKEM, u.OneTimeKEM}} {
			if len(oneTime.ps) == 0 {
				continue
			}
			var held int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM prekeys WHERE handle = ? AND device = ? AND kind = ?`,
				u.Handle, u.Device, oneTime.kind).Scan(&held); err != nil {
				return fmt.Errorf("sqlite: count prekeys: %w", err)
			}
			if held+len(oneTime.ps) > u.MaxOneTime {
				return fmt.Errorf("sqlite: %d held + %d uploaded > %d: %w", held, len(oneTime.ps), u.MaxOneTime, store.ErrTooManyPrekeys)
			}
			for i := range oneTime.ps {
				if err := insertPrekey(ctx, tx, u.Handle, u.Device, oneTime.kind, &oneTime.ps[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// insertPrekey inserts p, failing with ErrDuplicatePrekey if the device
// holds a prekey of that kind and id.
func insertPrekey(ctx context.Context, tx *sql.Tx, handle string, device uint32, kind int, p *store.Prekey) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO prekeys (handle, device, kind, id, encoded) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (handle, device, kind, id) DO NOTHING`, handle, device, kind, p.ID, nonNil(p.Encoded))
	if err != nil {
		return fmt.Errorf("sqlite: insert prekey: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sqlite: prekey kind %d id %d: %w", kind, p.ID, store.ErrDuplicatePrekey)
	}
	return nil
}

// CountPrekeys counts an active device's remaining one-time prekeys.
func (s *Store) CountPrekeys(ctx context.Context, handle string, device uint32) (store.Counts, error) {
	var c store.Counts
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := activeDevice(ctx, tx, handle, device); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT
			COUNT(*) FILTER (WHERE kind = 2),
			COUNT(*) FILTER (WHERE kind = 4)
			FROM prekeys WHERE handle = ? AND device = ?`, handle, device).Scan(&c.OneTime, &c.OneTimeKEM)
		if err != nil {
			return fmt.Errorf("sqlite: count prekeys: %w", err)
		}
		return nil
	})
	return c, err
}

// The claim's statements, prepared at Open (Store.claimStmts).
const (
	claimAccount = iota
	claimDevices
	claimTake
)

var claimQueries = [...]string{
	claimAccount: `SELECT COUNT(*) FROM accounts WHERE handle = ?`,
	claimDevices: `SELECT d.id, d.certificate, s.encoded, lr.encoded
		FROM devices d
		JOIN prekeys s ON s.handle = d.handle AND s.device = d.id AND s.kind = 1
		JOIN prekeys lr ON lr.handle = d.handle AND lr.device = d.id AND lr.kind = 3
		WHERE d.handle = ? AND d.revocation IS NULL
		ORDER BY d.id`,
	// takeOneTime: the lowest-id one-time prekey of a kind, deleted.
	claimTake: `DELETE FROM prekeys
		WHERE handle = ?1 AND device = ?2 AND kind = ?3
		AND id = (SELECT MIN(id) FROM prekeys WHERE handle = ?1 AND device = ?2 AND kind = ?3)
		RETURNING encoded`,
}

// ClaimPrekeys claims one bundle for every eligible device of handle.
func (s *Store) ClaimPrekeys(ctx context.Context, handle string) ([]store.Claimed, error) {
	var claims []store.Claimed
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		claims = nil
		var n int
		if err := tx.StmtContext(ctx, s.claimStmts[claimAccount]).QueryRowContext(ctx, handle).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: read account: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: account %q: %w", handle, store.ErrNotFound)
		}
		rows, err := tx.StmtContext(ctx, s.claimStmts[claimDevices]).QueryContext(ctx, handle)
		if err != nil {
			return fmt.Errorf("sqlite: read devices: %w", err)
		}
		for rows.Next() {
			var c store.Claimed
			if err := rows.Scan(&c.Device, &c.Certificate, &c.Signed, &c.KEM); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: read devices: %w", err)
			}
			claims = append(claims, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read devices: %w", err)
		}
		for i := range claims {
			c := &claims[i]
			take := tx.StmtContext(ctx, s.claimStmts[claimTake])
			ot, err := takeOneTime(ctx, take, handle, c.Device, kindOneTime)
			if err != nil {
				return err
			}
			c.OneTime = ot
			kem, err := takeOneTime(ctx, take, handle, c.Device, kindOneTimeKEM)
			if err != nil {
				return err
			}
			if kem != nil {
				c.KEM, c.KEMOneTime = kem, true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// takeOneTime deletes and returns the device's one-time prekey of kind with
// the lowest id, or nil if it holds none.
func takeOneTime(ctx context.Context, take *sql.Stmt, handle string, device uint32, kind int) ([]byte, error) {
	var enc []byte
	err := take.QueryRowContext(ctx, handle, device, kind).Scan(&enc)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sqlite: claim prekey: %w", err)
	}
	if enc == nil {
		enc = []byte{}
	}
	return enc, nil
}
