// Package postgres is the PostgreSQL implementation of store.Store, through
// github.com/jackc/pgx/v5 and a pgxpool connection pool.
//
// Several key server processes may share one database (and schema): every
// log append locks the single log_head row (SELECT ... FOR UPDATE) first, so
// appends are serialised across processes and the log has no gaps; a claim
// is one statement that locks (FOR UPDATE SKIP LOCKED) and deletes the
// one-time prekeys it hands out, so no key goes to two claimers (claim.go
// says why it never waits on a lock and never falls back while a key
// remains). Migrations are embedded
// (migrations/NNNN_name.sql), recorded in schema_migrations and applied at
// Open under a transaction-scoped advisory lock, so processes starting
// together do not race.
//
// It needs PostgreSQL 12 or newer. Tables live in the first schema of the connection's search_path; select
// another schema with the DSN (search_path=NAME).
//
// Durability: every session runs with synchronous_commit=on (unless the DSN
// sets synchronous_commit itself), so a call that returned has its
// transaction flushed to the server's write-ahead log and survives a crash
// of the server or its machine (given fsync on and honest disks). This
// matters for the transparency log: a signed checkpoint must never name a
// tree that a crash could take back. Claims, the frequent write, are
// grouped several to a statement (claimbatch.go) so they share one
// flush; commits of concurrent transactions also share flushes, which is
// why the pool is larger than pgx's default (DefaultMaxConns).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/pgpool"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealpost/sealpost/keyserver/store"
)

// DefaultConnectTimeout bounds each connection attempt when the DSN sets no
// connect_timeout, so an unreachable server is an error, not a hang.
const DefaultConnectTimeout = 10 * time.Second

// DefaultMaxConns is the pool size when the DSN sets no pool_max_conns.
// Every commit waits for the server's WAL flush; transactions in flight
// together share one flush (group commit), so more connections than CPUs
// raise throughput (claims: about 3x from 4 to 16 on a 2-core machine).
const DefaultMaxConns = 32

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	claims *claimers // claimbatch.go
	// claimPool holds the claimers' connections, planning claimSQL
	// generically (Open).
	claimPool *pgxpool.Pool

	// held are the releases of the sequencer locks this Store holds
	// (directory.go), so that Close can let them go.
	heldMu sync.Mutex
	held   map[*byte]func()
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a URL or keyword/value
// connection string that pgx accepts, including pool_max_conns and the
// like), checks that it answers, and applies any migrations it lacks.
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
		return nil, err
	}
	// The claimers' own connections (claimbatch.go) plan claimSQL once
	// per connection: planning its CTEs again for each group, as
	// PostgreSQL's default does for a statement whose generic plan it
	// estimates dearer, costs more server CPU than running a small group.
	// Only claimSQL runs there, so no other statement's plan changes.
	ccfg := cfg.Copy()
	ccfg.MaxConns, ccfg.MinConns = claimWorkers, 0
	ccfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	claimPool, err := pgxpool.NewWithConfig(ctx, ccfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, claimPool: claimPool}
	s.startClaimers()
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
// It may be called more than once.
func (s *Store) Close() error {
	s.stopClaimers()
	s.releaseSequencers()
	s.claimPool.Close()
	s.pool.Close()
	return nil
}

// inTx runs fn in a read-committed transaction, committing if fn returns
// nil and rolling back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// uniqueViolation reports whether err is a unique violation (SQLSTATE
// 23505), optionally of the named constraint ("" matches any).
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}

// wrap prefixes err with the package name and what failed.
func wrap(what string, err error) error {
	return fmt.Errorf("postgres: %s: %w", what, err)
}
