package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/keyserver/store"
)

// Revocations implements store.Store (spec/keyserver.md §5.9), from the
// partial index devices_revoked_index. Leaves commit in index order (the
// log_head lock), so a reader never sees an index before a smaller one
// that is still to commit.
func (s *Store) Revocations(ctx context.Context, after int64, limit int) ([]store.Revocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT revoked_index, handle, id, revoked_at FROM devices
		WHERE revoked_index IS NOT NULL AND revoked_index > $1 ORDER BY revoked_index LIMIT $2`, after, limit)
	if err != nil {
		return nil, wrap("read revocations", err)
	}
	var (
		out []store.Revocation
		r   store.Revocation
		id  int64
	)
	_, err = pgx.ForEachRow(rows, []any{&r.LogIndex, &r.Handle, &id, &r.Time}, func() error {
		r.Device = uint32(id)
		r.Time = r.Time.UTC()
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, wrap("read revocations", err)
	}
	return out, nil
}
