// Package sqlite is the blob service's SQLite database (modernc.org/sqlite,
// pure Go): one file in the data directory, implementing meta.Store.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so every
// write that returned nil is in the WAL file and fsynced. The -wal and -shm
// files beside the database are part of it.
//
// Concurrency: every write runs in a BEGIN IMMEDIATE transaction on the one
// writer connection, so writes of this process run one at a time, and
// those of another process opening the same file wait for the file's write
// lock (up to the busy timeout). CreateUpload reads the account's usage
// and inserts in one such transaction, so no two CreateUploads can both
// take the last bytes of a quota. Reads use a pool of read-only
// connections and see the last committed state.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/internal/dbfault"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeoutMillis is how long a connection waits for another one's lock
// (another process on the file).
const busyTimeoutMillis = 10000

// Store is a meta.Store backed by one SQLite file.
type Store struct {
	w *sql.DB // the one writer connection
	r *sql.DB // read-only connections
}

var _ meta.Store = (*Store)(nil)

// Open opens or creates the database at path and applies any migrations
// it lacks. It fails with a clear error on a file that is not a SQLite
// database, or one written by a newer version of this package.
func Open(path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: invalid database path %q", path)
	}
	params := url.Values{}
	params.Add("_busy_timeout", fmt.Sprint(busyTimeoutMillis))
	params.Add("_foreign_keys", "1")
	params.Add("_journal_mode", "WAL")
	params.Add("_synchronous", "FULL")
	params.Add("_txlock", "immediate")
	s := &Store{}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.w, _ = sql.Open("sqlite", path+"?"+params.Encode()) // fails only for an unknown driver
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	// The writer connects first: it creates the file, switches it to WAL
	// and brings the schema up to date before any reader looks at it.
	if err := applyMigrations(context.Background(), s.w); err != nil {
		return fail(err)
	}
	params.Del("_journal_mode") // persistent in the file; a reader may not set it
	params.Set("_txlock", "deferred")
	params.Add("_query_only", "1")
	s.r, _ = sql.Open("sqlite", path+"?"+params.Encode())
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := s.r.PingContext(context.Background()); err != nil {
		return fail(err)
	}
	return s, nil
}

// Close closes the database; later calls of every method fail.
func (s *Store) Close() error {
	var errs []error
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) and commits it if
// fn returns nil. fn's sentinel errors pass unwrapped.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return wrap(what, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(what, err)
	}
	return nil
}

// read runs fn in a read transaction, which sees one committed state.
func (s *Store) read(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap(what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return wrap(what, err)
	}
	return nil
}

// wrap prefixes err with the package name and what failed, and marks a
// database or disk that cannot serve now with meta.ErrUnavailable. The
// meta sentinels pass as they are.
func wrap(what string, err error) error {
	for _, s := range []error{meta.ErrNotFound, meta.ErrQuota, meta.ErrOffset, meta.ErrBusy} {
		if err == s {
			return err
		}
	}
	if dbfault.Unavailable(err) {
		return fmt.Errorf("sqlite: %s: %w: %w", what, meta.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// changed returns meta.ErrNotFound when res changed no row.
func changed(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// nanos and fromNanos convert times to and from the columns' Unix
// nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }
