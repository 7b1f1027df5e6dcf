//go:build js

package localstore

import (
	"errors"
	"fmt"
)

// The browser build has no SQLite engine (the driver does not build for
// js): the SQLite engine's transaction code still compiles, for one
// source of the SQL, but never runs. These are its two error helpers.

func dbErr(op string, err error) error { return fmt.Errorf("localstore: %s: %w", op, err) }

func isConstraint(err error) bool { return errors.Is(err, errKVConstraint) }
