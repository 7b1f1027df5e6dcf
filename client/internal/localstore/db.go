package localstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// checkPlaintext is sealed in meta row "check" (spec/client-store.md §4):
// Open proves with it that state.db belongs to key.age.
const checkPlaintext = "sealpost/v1/client-store/check"

// sqlTx is a transaction of the SQLite engine.
type sqlTx struct {
	ctx      context.Context
	s        *Store
	tx       *sql.Tx
	readOnly bool
}

// sqlTx is a Tx. Only the native build makes one (runSQL); this
// assertion, which makes none, leaves the methods out of the browser's
// module while still checking them there.
var _ Tx = (*sqlTx)(nil)

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

// run runs fn in a transaction of the store's engine: kv (kv.go) or
// SQLite (runSQL, which the browser build does not have).
func (s *Store) run(ctx context.Context, readOnly bool, fn func(tx Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.kv != nil {
		return s.kv.run(ctx, s, readOnly, fn)
	}
	return s.runSQL(ctx, readOnly, fn)
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
