package store

import (
	"errors"

	"github.com/sealpost/sealpost/internal/dbfault"
)

// ErrUnavailable reports that the database cannot serve now: PostgreSQL
// is down or unreachable, the disk is full, an I/O error. It passes by
// itself; servers answer it with "unavailable, retry later", never with an
// internal error. Engines return it (wrapped) from Ready; the drivers'
// own errors for the same conditions match IsUnavailable.
var ErrUnavailable = errors.New("store: database unavailable")

// IsUnavailable reports whether err is ErrUnavailable or a driver's error
// for a database or disk that cannot serve now (internal/dbfault reads
// both engines' errors: SQLite's result codes, PostgreSQL's SQLSTATEs and
// connection failures).
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || dbfault.Unavailable(err)
}
