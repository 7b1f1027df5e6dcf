package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// querier is what a pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// LogSize implements store.Store.
func (s *Store) LogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT size FROM log_head WHERE id = 1`).Scan(&n); err != nil {
		return 0, wrap("log size", err)
	}
	return n, nil
}

// ReadHashes implements store.Store; an index not stored is an error.
func (s *Store) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return readHashes(ctx, s.pool, indexes)
}

// txHashReader reads hashes inside the append transaction.
func txHashReader(tx pgx.Tx) func(context.Context, []int64) ([]tlog.Hash, error) {
	return func(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
		return readHashes(ctx, tx, indexes)
	}
}

// readHashes reads the v1 log's stored hashes at indexes, in their order.
func readHashes(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	return readTableHashes(ctx, q, "log_hashes", indexes)
}

// readTableHashes reads the stored hashes at indexes from table (log_hashes
// or, for the epoch log, kt_log_hashes), in their order.
func readTableHashes(ctx context.Context, q querier, table string, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT idx, hash FROM `+table+` WHERE idx = ANY($1)`, indexes)
	if err != nil {
		return nil, wrap("read hashes", err)
	}
	found := make(map[int64]tlog.Hash, len(indexes))
	var (
		idx  int64
		hash []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&idx, &hash}, func() error {
		if len(hash) != tlog.HashSize {
			return fmt.Errorf("postgres: stored hash %d has %d bytes", idx, len(hash))
		}
		found[idx] = tlog.Hash(hash)
		return nil
	})
	if err != nil {
		return nil, wrap("read hashes", err)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, fmt.Errorf("postgres: log hash %d not stored", x)
		}
		out[i] = h
	}
	return out, nil
}

// Leaves implements store.Store; it needs 0 <= start <= end <= LogSize.
func (s *Store) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("postgres: bad leaf range [%d, %d)", start, end)
	}
	if start == end {
		n, err := s.LogSize(ctx)
		if err != nil {
			return nil, err
		}
		if end > n {
			return nil, fmt.Errorf("postgres: leaves [%d, %d) beyond the log size %d", start, end, n)
		}
		return nil, nil
	}
	return readLeaves(ctx, s.pool, "log_leaves", start, end)
}

// readLeaves reads the leaves [start, end) of table (log_leaves or, for
// the epoch log, kt_log_leaves), failing if one is missing.
func readLeaves(ctx context.Context, q querier, table string, start, end int64) ([][]byte, error) {
	rows, err := q.Query(ctx, `SELECT idx, leaf FROM `+table+` WHERE idx >= $1 AND idx < $2 ORDER BY idx`, start, end)
	if err != nil {
		return nil, wrap("read leaves", err)
	}
	out := make([][]byte, 0, min(end-start, 1024))
	var (
		idx  int64
		leaf []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&idx, &leaf}, func() error {
		if idx != start+int64(len(out)) {
			return fmt.Errorf("postgres: leaf %d missing", start+int64(len(out)))
		}
		out = append(out, leaf)
		return nil
	})
	if err != nil {
		return nil, wrap("read leaves", err)
	}
	if int64(len(out)) != end-start {
		return nil, fmt.Errorf("postgres: leaves [%d, %d) beyond the log size", start, end)
	}
	return out, nil
}
