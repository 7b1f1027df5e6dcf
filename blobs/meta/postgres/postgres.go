// Package postgres is the blob service's PostgreSQL database, through
// github.com/jackc/pgx/v5 and a pgxpool connection pool, implementing
// meta.Store.
//
// Several blob service processes may share one database (and schema).
// The quota holds across them: CreateUpload first takes a
// transaction-scoped advisory lock keyed by the schema and the account
// (pg_advisory_xact_lock), then sums the account's usage and inserts, and
// the lock is held to its commit. Under READ COMMITTED each statement sees
// what committed before it began, so the sum, taken after the lock, sees
// every earlier CreateUpload of the account. An advisory lock rather than
// a per-account row locked FOR UPDATE: it needs no table of accounts kept
// in step, and nothing else needs it. Only CreateUpload adds to an
// account's usage, so only it takes the lock; the other writes lower the
// usage (deletes) or move bytes from Open to Stored in one transaction
// (CompleteUpload), which a concurrent sum sees wholly or not at all. Two
// accounts whose keys collide in the lock's 64-bit hash only wait for each
// other.
//
// The lease and the commit of a part lock the upload's row (SELECT ... FOR
// UPDATE) while they check and change it.
//
// Errors of a server that cannot be reached or cannot serve now (internal/
// dbfault) match meta.ErrUnavailable.
//
// Migrations are embedded (migrations/NNNN_name.sql), recorded in
// schema_migrations under the component "blobs" and applied at Open under
// an advisory lock (internal/migrate). Tables live in the first schema of
// the connection's search_path; select another with the DSN
// (search_path=NAME).
//
// Durability: sessions run with synchronous_commit=on unless the DSN sets
// it, so a write that returned is in the server's flushed WAL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/internal/dbfault"
	"github.com/sealpost/sealpost/internal/pgpool"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultConnectTimeout bounds each connection attempt when the DSN sets no
// connect_timeout, so an unreachable server is an error, not a hang.
const DefaultConnectTimeout = 10 * time.Second

// DefaultMaxConns is the pool size when the DSN sets no pool_max_conns.
const DefaultMaxConns = 16

// Store is a meta.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ meta.Store = (*Store)(nil)

// Open connects to the database named by dsn (a URL or keyword/value
// connection string that pgx accepts, including pool_max_conns and the
// like), checks that it answers and applies any migrations it lacks. A
// server that cannot be reached is an error matching meta.ErrUnavailable.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgpool.Config(dsn, DefaultMaxConns, DefaultConnectTimeout)
	if err != nil {
		return nil, err
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	pool, err := pgpool.Open(ctx, cfg, migrationComponent, ms)
	if err != nil {
		if dbfault.Unavailable(err) {
			return nil, fmt.Errorf("%w: %w", meta.ErrUnavailable, err)
		}
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool after the operations in flight; later calls of
// every method fail. It may be called more than once.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// write runs fn in a transaction and commits it if fn returns nil.
func (s *Store) write(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	return wrap(what, pgx.BeginFunc(ctx, s.pool, fn))
}

// wrap prefixes err with the package name and what failed, and marks a
// server that cannot serve now with meta.ErrUnavailable. nil and the meta
// sentinels pass as they are.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{meta.ErrNotFound, meta.ErrQuota, meta.ErrOffset, meta.ErrBusy} {
		if err == s {
			return err
		}
	}
	if dbfault.Unavailable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", what, meta.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// notFound turns pgx.ErrNoRows into meta.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.ErrNotFound
	}
	return err
}

// changed returns meta.ErrNotFound when a statement changed no row.
func changed(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// nanos and fromNanos convert times to and from the columns' Unix
// nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// copy32 copies a 32-byte column into dst.
func copy32(dst *[32]byte, b []byte) error {
	if len(b) != len(dst) {
		return fmt.Errorf("column of %d bytes, want %d", len(b), len(dst))
	}
	copy(dst[:], b)
	return nil
}
