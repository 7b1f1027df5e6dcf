package localstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/sealpost/sealpost/internal/migrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// migrationFS holds the schema migrations, NNNN_name.sql (internal/migrate).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeoutMillis is how long Open waits for another process's lock
// before it reports ErrLocked.
const busyTimeoutMillis = 2000

// checkPlaintext is sealed in meta row "check" (spec/client-store.md §4):
// Open proves with it that state.db belongs to key.age.
const checkPlaintext = "sealpost/v1/client-store/check"

// openDB opens state.db: WAL, synchronous=FULL, exclusive locking, secure
// delete, one connection. A new store (create) gets its schema and check
// value; an existing one must already have both.
func (s *Store) openDB(ctx context.Context, create bool) error {
	path := filepath.Join(s.dir, stateFileName)
	if strings.ContainsAny(path, "?#") {
		return fmt.Errorf("localstore: invalid store path %q", path)
	}
	params := url.Values{}
	params.Add("_busy_timeout", fmt.Sprint(busyTimeoutMillis))
	params.Add("_pragma", "locking_mode(EXCLUSIVE)")
	params.Add("_pragma", "secure_delete(ON)")
	params.Add("_journal_mode", "WAL")
	params.Add("_synchronous", "FULL")
	params.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return fmt.Errorf("localstore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s.db = db

	if !create {
		var n int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
		if err != nil {
			return dbErr("open "+path, err)
		}
		if n == 0 {
			return corrupt("%s is not a client store", path)
		}
	}
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	if err := migrate.SQLite(ctx, db, ms); err != nil {
		return dbErr("open "+path, err)
	}
	ad := newRowKey("meta", "value").text("check")
	if create {
		sealed, err := s.seal(ad, []byte(checkPlaintext))
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('check', ?)`, sealed); err != nil {
			return dbErr("open "+path, err)
		}
		return nil
	}
	var sealed []byte
	err = db.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'check'`).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return corrupt("%s has no check value", path)
	}
	if err != nil {
		// The schema migrations recorded as applied are not the ones
		// the file holds (a damaged schema): corruption, unless it is
		// another process's lock.
		if e := dbErr("open "+path, err); errors.Is(e, ErrLocked) || errors.Is(e, ErrCorrupt) {
			return e
		}
		return corrupt("open %s: %v", path, err)
	}
	pt, err := s.open(ad, sealed)
	if err != nil || string(pt) != checkPlaintext {
		return corrupt("%s does not belong to %s", path, filepath.Join(s.dir, keyFileName))
	}
	return nil
}

// dbErr wraps a database error: damage is ErrCorrupt, another process's
// lock is ErrLocked.
func dbErr(op string, err error) error {
	if e, ok := errors.AsType[*sqlite.Error](err); ok {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return corrupt("%s: %v", op, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %s: %v", ErrLocked, op, err)
		}
	}
	return fmt.Errorf("localstore: %s: %w", op, err)
}

// sqlTx is a transaction of the SQLite engine.
type sqlTx struct {
	ctx      context.Context
	s        *Store
	tx       *sql.Tx
	readOnly bool
}

// errReadOnly is returned by a write in a View transaction.
var errReadOnly = errors.New("localstore: write in a View transaction")

// Update runs fn in one write transaction and commits it, durably, if fn
// returns nil; if fn returns an error (or panics) nothing it did is kept.
// Do not call other Store methods from fn: use tx.
func (s *Store) Update(ctx context.Context, fn func(tx Tx) error) error {
	return s.run(ctx, false, fn)
}

// View runs fn in a read-only transaction, which sees one committed state;
// the write methods of tx fail.
func (s *Store) View(ctx context.Context, fn func(tx Tx) error) error {
	return s.run(ctx, true, fn)
}

func (s *Store) run(ctx context.Context, readOnly bool, fn func(tx Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	stx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return dbErr("begin", err)
	}
	defer stx.Rollback()
	if err := fn(&sqlTx{ctx: ctx, s: s, tx: stx, readOnly: readOnly}); err != nil {
		return err
	}
	if readOnly {
		return nil
	}
	if err := stx.Commit(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// ctx ended before the commit: database/sql rolled the
			// transaction back (its error is then ErrTxDone, which says
			// nothing of why). Nothing was committed.
			return fmt.Errorf("localstore: commit: %w", ctxErr)
		}
		return dbErr("commit", err)
	}
	return nil
}

// exec runs a statement in the transaction.
func (tx *sqlTx) exec(op, query string, args ...any) (sql.Result, error) {
	if tx.readOnly {
		return nil, errReadOnly
	}
	res, err := tx.tx.ExecContext(tx.ctx, query, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	return res, nil
}

// execOne runs a statement that must change exactly one row; none is
// ErrNotFound.
func (tx *sqlTx) execOne(op, query string, args ...any) error {
	res, err := tx.exec(op, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	return nil
}

// isConstraint reports whether err is a uniqueness or primary key violation.
func isConstraint(err error) bool {
	e, ok := errors.AsType[*sqlite.Error](err)
	return ok && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}
