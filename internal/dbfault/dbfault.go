// Package dbfault recognises failures of a database or of the disk under
// it — PostgreSQL down or unreachable, a full disk, an I/O error — as
// opposed to a fault of the request or of the code. Such a failure passes
// by itself: servers answer it with "unavailable, retry later"
// (spec/keyserver.md §3, spec/relay.md §10), never with an internal error.
//
// It reads errors by the methods the drivers give them (SQLState of
// pgconn.PgError, Code of modernc.org/sqlite's Error, SafeToRetry of
// pgconn's connection errors) and by the standard library's errors, so it
// imports no driver. The store packages expose it as IsUnavailable.
package dbfault

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// SQLite primary result codes (https://sqlite.org/rescode.html) that mean
// the file or the disk under it cannot serve now.
const (
	sqliteBusy     = 5  // SQLITE_BUSY: the lock stayed held past the busy timeout
	sqliteIOErr    = 10 // SQLITE_IOERR and its extended codes
	sqliteFull     = 13 // SQLITE_FULL: disk full
	sqliteCantOpen = 14 // SQLITE_CANTOPEN
	sqliteProtocol = 15 // SQLITE_PROTOCOL: WAL lock race
)

// Unavailable reports whether err, or an error it wraps, is a failure of
// the database or disk that passes by itself: retrying later may succeed.
// A context cancellation is not (the caller went away); a deadline that
// ran out is (the database did not answer in time).
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true // the connection to the database failed
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return unavailableState(pg.SQLState())
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqliteBusy, sqliteIOErr, sqliteFull, sqliteCantOpen, sqliteProtocol:
			return true
		}
		return false
	}
	var retry interface{ SafeToRetry() bool }
	if errors.As(err, &retry) && retry.SafeToRetry() {
		return true // pgconn: the connection failed before the query was sent
	}
	return false
}

// unavailableState reports whether a PostgreSQL SQLSTATE
// (https://www.postgresql.org/docs/current/errcodes-appendix.html) is a
// condition of the server rather than of the statement.
func unavailableState(s string) bool {
	switch {
	case strings.HasPrefix(s, "08"): // connection exception
		return true
	case strings.HasPrefix(s, "53"): // insufficient resources: disk full, out of memory, too many connections
		return true
	case strings.HasPrefix(s, "58"): // system error: I/O error
		return true
	case s == "57P01", s == "57P02", s == "57P03": // admin shutdown, crash shutdown, cannot connect now
		return true
	case s == "25006": // read-only transaction: a standby or a read-only server
		return true
	}
	return false
}
