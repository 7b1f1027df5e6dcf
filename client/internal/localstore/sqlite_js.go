//go:build js

package localstore

import (
	"context"
	"errors"
	"fmt"
)

// The browser build has no SQLite engine (the driver does not build for
// js): the SQLite engine's transaction code still compiles, for one
// source of the SQL, but no transaction of it is ever made, so the linker
// leaves its methods out of the module. These are its two error helpers
// and the transaction start that a browser store, always a kv one, never
// reaches.

func dbErr(op string, err error) error { return fmt.Errorf("localstore: %s: %w", op, err) }

func isConstraint(err error) bool { return errors.Is(err, errKVConstraint) }

// runSQL fails: a browser store has no SQLite database (Store.run runs
// its kv engine).
func (s *Store) runSQL(context.Context, bool, func(Tx) error) error {
	return errors.New("localstore: no SQLite engine in the browser")
}

// closeSQL has nothing to close: a browser store has no SQLite database.
func (s *Store) closeSQL() error { return nil }

// checkpointSQL fails: a browser store has no SQLite database
// (Store.Checkpoint checkpoints its kv engine).
func (s *Store) checkpointSQL() error {
	return errors.New("localstore: no SQLite engine in the browser")
}
