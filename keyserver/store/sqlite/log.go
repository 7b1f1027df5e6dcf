package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/keyserver/store"
	"golang.org/x/mod/sumdb/tlog"
)

// querier is what both *sql.Tx and *sql.DB offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// logTables names the tables of one tlog log: the v1 log of key-set
// entries, or the v2 epoch log (directory.go).
type logTables struct{ leaves, hashes string }

var (
	v1Log    = logTables{leaves: "log_leaves", hashes: "log_hashes"}
	epochLog = logTables{leaves: "kt_log_leaves", hashes: "kt_log_hashes"}
)

// readHashes reads the stored hashes at indexes of the v1 log, in their
// order.
func readHashes(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	return v1Log.readHashes(ctx, q, indexes)
}

// readHashes reads the stored hashes at indexes, in their order.
func (lt logTables) readHashes(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	hashes := make([]tlog.Hash, len(indexes))
	query := `SELECT hash FROM ` + lt.hashes + ` WHERE idx = ?`
	for i, x := range indexes {
		var b []byte
		err := q.QueryRowContext(ctx, query, x).Scan(&b)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("sqlite: log hash %d: %w", x, store.ErrNotFound)
		case err != nil:
			return nil, fmt.Errorf("sqlite: read log hash %d: %w", x, err)
		case len(b) != tlog.HashSize:
			return nil, fmt.Errorf("sqlite: log hash %d has %d bytes", x, len(b))
		}
		copy(hashes[i][:], b)
	}
	return hashes, nil
}

// LogSize returns the number of leaves in the log.
func (s *Store) LogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: log size: %w", err)
	}
	return n, nil
}

// ReadHashes returns the stored hashes at the given indexes.
func (s *Store) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	var hashes []tlog.Hash
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		hashes, err = readHashes(ctx, tx, indexes)
		return err
	})
	return hashes, err
}

// Leaves returns the leaves with index in [start, end), which must lie
// within the log.
func (s *Store) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
	return s.leaves(ctx, v1Log, start, end)
}

// leaves returns the leaves of lt with index in [start, end), which must
// lie within the log.
func (s *Store) leaves(ctx context.Context, lt logTables, start, end int64) ([][]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("sqlite: leaves [%d, %d): invalid range", start, end)
	}
	leaves := make([][]byte, 0, min(end-start, 1024))
	err := s.read(ctx, func(tx *sql.Tx) error {
		var size int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM `+lt.leaves).Scan(&size); err != nil {
			return fmt.Errorf("sqlite: log size: %w", err)
		}
		if end > size {
			return fmt.Errorf("sqlite: leaves [%d, %d): log has %d leaves: %w", start, end, size, store.ErrNotFound)
		}
		rows, err := tx.QueryContext(ctx, `SELECT idx, leaf FROM `+lt.leaves+` WHERE idx >= ? AND idx < ? ORDER BY idx`, start, end)
		if err != nil {
			return fmt.Errorf("sqlite: read leaves: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var idx int64
			var leaf []byte
			if err := rows.Scan(&idx, &leaf); err != nil {
				return fmt.Errorf("sqlite: read leaves: %w", err)
			}
			if idx != start+int64(len(leaves)) {
				return fmt.Errorf("sqlite: log has no leaf %d", start+int64(len(leaves)))
			}
			leaves = append(leaves, leaf)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read leaves: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(leaves)) != end-start {
		return nil, fmt.Errorf("sqlite: leaves [%d, %d): log has a gap", start, end)
	}
	return leaves, nil
}
