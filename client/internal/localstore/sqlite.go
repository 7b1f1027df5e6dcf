//go:build !js

package localstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealpost/sealpost/internal/migrate"
	"github.com/sealpost/sealpost/internal/secmem"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The SQLite engine's files, Create and Open (spec/client-store.md §1, §5).
// The browser build (js) has no SQLite: only the kv engine.

// migrationFS holds the schema migrations, NNNN_name.sql (internal/migrate).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeoutMillis is how long Open waits for another process's lock
// before it reports ErrLocked.
const busyTimeoutMillis = 2000

// testEngineEnv, set to "kv", makes Create make kv stores on a log file
// (kv_file.go) instead of SQLite ones, so that the conformance tests run the
// browser's engine natively. Open finds the engine from the files in dir.
const testEngineEnv = "SEALPOST_TEST_LOCALSTORE_ENGINE"

// Create creates a new store in dir (made with mode 0700 if missing): a
// random store key wrapped to u in key.age and an empty state.db. It fails
// with ErrExist if dir already holds key.age or state.db. key.age is written
// last, so a Create that fails part way leaves no key.age behind.
func Create(ctx context.Context, dir string, u Unlock) (*Store, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if os.Getenv(testEngineEnv) == "kv" {
		return createKVFile(ctx, dir, u)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstore: create %s: %w", dir, err)
	}
	for _, name := range []string{keyFileName, stateFileName, stateFileName + "-wal"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return nil, fmt.Errorf("%w: %s", ErrExist, filepath.Join(dir, name))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("localstore: create: %w", err)
		}
	}
	statePath := filepath.Join(dir, stateFileName)
	// Create the file ourselves so that it and the -wal file SQLite makes
	// beside it are private (SQLite gives the -wal the database's mode).
	f, err := os.OpenFile(statePath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localstore: create: %w", err)
	}
	f.Close()

	storeKey := make([]byte, storeKeySize)
	if err := randRead(storeKey); err != nil {
		removeState(statePath)
		return nil, err
	}
	s, err := newStore(dir, storeKey) // wipes storeKey
	if err != nil {
		removeState(statePath)
		return nil, err
	}
	fail := func(err error) (*Store, error) {
		s.Close()
		removeState(statePath)
		return nil, err
	}
	if err := s.openDB(ctx, true); err != nil {
		return fail(err)
	}
	if err := s.writeKeyFile(u); err != nil {
		return fail(err)
	}
	return s, nil
}

// removeState removes a state.db that Create made, with its -wal and -shm.
func removeState(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
}

// Open opens the store in dir with u. A passphrase or identity that does
// not decrypt key.age gives ErrWrongPassphrase or ErrWrongIdentity and
// leaves both files untouched; a damaged key.age or state.db gives
// ErrCorrupt. A missing key.age gives an error wrapping fs.ErrNotExist.
func Open(ctx context.Context, dir string, u Unlock) (*Store, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(filepath.Join(dir, kvFileName)); err == nil {
		return openKVFile(ctx, dir, u)
	}
	storeKey, err := readKeyFile(filepath.Join(dir, keyFileName), u)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, stateFileName)); err != nil {
		secmem.WipeBytes(storeKey)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, corrupt("%s is missing", filepath.Join(dir, stateFileName))
		}
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	s, err := newStore(dir, storeKey) // wipes storeKey
	if err != nil {
		return nil, err
	}
	if err := s.openDB(ctx, false); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

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

// isConstraint reports whether err is a uniqueness or primary key violation.
func isConstraint(err error) bool {
	e, ok := errors.AsType[*sqlite.Error](err)
	return ok && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// runSQL runs fn in a transaction of the SQLite engine (Store.run).
func (s *Store) runSQL(ctx context.Context, readOnly bool, fn func(tx Tx) error) error {
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

// closeSQL closes the SQLite database, if the store has one (Store.Close).
func (s *Store) closeSQL() error {
	if s.db == nil {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("localstore: close: %w", err)
	}
	return nil
}

// checkpointSQL copies SQLite's write-ahead log into the database file
// and truncates it (Store.Checkpoint).
func (s *Store) checkpointSQL() error {
	if _, err := s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return dbErr("checkpoint", err)
	}
	return nil
}
