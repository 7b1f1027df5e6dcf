package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// Revocations returns at most limit revocations recorded above log index
// after, in index order (spec/keyserver.md §5.9), from the partial index
// devices_revoked_index.
func (s *Store) Revocations(ctx context.Context, after int64, limit int) ([]store.Revocation, error) {
	var out []store.Revocation
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT revoked_index, handle, id, revoked_at FROM devices
			WHERE revoked_index IS NOT NULL AND revoked_index > ? ORDER BY revoked_index LIMIT ?`, after, limit)
		if err != nil {
			return fmt.Errorf("sqlite: read revocations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r store.Revocation
			var at int64
			if err := rows.Scan(&r.LogIndex, &r.Handle, &r.Device, &at); err != nil {
				return fmt.Errorf("sqlite: read revocations: %w", err)
			}
			r.Time = time.Unix(0, at).UTC()
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read revocations: %w", err)
		}
		return nil
	})
	return out, err
}
