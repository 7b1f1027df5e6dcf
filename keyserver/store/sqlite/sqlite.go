// Package sqlite is the key server's SQLite store (modernc.org/sqlite, pure
// Go): one database file in the data directory.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so every
// method that returns nil has its transaction in the WAL file and fsynced
// before it returns. A committed change survives a crash of the process and
// a crash or power loss of the machine, provided the disk honours fsync; an
// uncommitted one leaves no trace. The -wal and -shm files beside the
// database are part of it and must be kept (and backed up) with it.
//
// Concurrency: SQLite allows one writer at a time, so every write goes
// through one connection (a *sql.DB with one open connection) whose
// transactions start with BEGIN IMMEDIATE; reads use a separate pool of
// read-only connections and see the last committed state. The busy timeout
// covers other processes opening the same file (for example the sealpostd
// invite subcommand), which a single key server does not need.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/sealpost/sealpost/keyserver/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeoutMillis is how long a connection waits for another one's lock.
const busyTimeoutMillis = 10000

// Store is a store.Store backed by one SQLite file.
type Store struct {
	w *sql.DB // the one writer connection, used by the writer goroutine
	r *sql.DB // read-only connections

	// claimStmts are the claim's statements, prepared once on the writer
	// connection: parsing SQL was most of a claim's cost.
	claimStmts [len(claimQueries)]*sql.Stmt
	// readStmts are the directory's hot reads (directory.go), prepared
	// once on the read pool.
	readStmts [len(readQueries)]*sql.Stmt

	// The writer goroutine (batch.go).
	reqs      chan *writeReq
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

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
	w, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w}
	// The writer connects first: it creates the file, switches it to WAL
	// and brings the schema up to date before any reader looks at it.
	if err := s.migrate(context.Background()); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	for i, q := range claimQueries {
		if s.claimStmts[i], err = w.PrepareContext(context.Background(), q); err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open %s: prepare: %w", path, err)
		}
	}

	params.Del("_journal_mode") // persistent in the file; a reader may not set it
	params.Set("_txlock", "deferred")
	params.Add("_query_only", "1")
	r, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.r = r
	if err := r.PingContext(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	for i, q := range readQueries {
		if s.readStmts[i], err = r.PrepareContext(context.Background(), q); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite: open %s: prepare: %w", path, err)
		}
	}
	s.startWriter()
	return s, nil
}

// Close waits for the writes in progress and closes the database; later
// calls fail.
func (s *Store) Close() error {
	s.stopWriter()
	var errs []error
	for _, st := range s.readStmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	for _, st := range s.claimStmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// read runs fn in a read transaction, which sees one committed state.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}
