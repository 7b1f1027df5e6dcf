package dbfault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
)

type stateErr string

func (e stateErr) Error() string    { return "pg: " + string(e) }
func (e stateErr) SQLState() string { return string(e) }

type codeErr int

func (e codeErr) Error() string { return fmt.Sprintf("sqlite: %d", int(e)) }
func (e codeErr) Code() int     { return int(e) }

type retryErr bool

func (e retryErr) Error() string     { return "conn" }
func (e retryErr) SafeToRetry() bool { return bool(e) }

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"canceled", fmt.Errorf("q: %w", context.Canceled), false},
		{"deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), true},
		{"enospc", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"eof mid-query", fmt.Errorf("q: %w", io.ErrUnexpectedEOF), true},
		{"pg admin shutdown", fmt.Errorf("q: %w", stateErr("57P01")), true},
		{"pg disk full", stateErr("53100"), true},
		{"pg connection", stateErr("08006"), true},
		{"pg unique violation", stateErr("23505"), false},
		{"pg serialization", stateErr("40001"), false},
		{"sqlite full", fmt.Errorf("q: %w", codeErr(13)), true},
		{"sqlite ioerr write", codeErr(778), true},
		{"sqlite constraint", codeErr(2067), false},
		{"safe to retry", retryErr(true), true},
		{"not safe to retry", retryErr(false), false},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
