package keyserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// faultStore is a real store whose writes, account reads and reads of the
// directory's latest epoch (every lookup and checkpoint starts with one)
// fail with *fail while it is set: a driver-shaped error for a database that cannot
// serve (spec/keyserver.md §3.1), or any other fault. The real conditions
// (PostgreSQL stopped, a full file system) are tested in cmd/sealpostd.
type faultStore struct {
	store.Store
	fail *atomic.Pointer[error]
}

func (s faultStore) err() error {
	if p := s.fail.Load(); p != nil {
		return *p
	}
	return nil
}

func (s faultStore) PutChallenge(ctx context.Context, nonce []byte, expiry time.Time) error {
	if err := s.err(); err != nil {
		return fmt.Errorf("faultstore: put challenge: %w", err)
	}
	return s.Store.PutChallenge(ctx, nonce, expiry)
}

func (s faultStore) UpdateKeySet(ctx context.Context, u store.KeySetUpdate) (int64, error) {
	if err := s.err(); err != nil {
		return 0, fmt.Errorf("faultstore: update: %w", err)
	}
	return s.Store.UpdateKeySet(ctx, u)
}

func (s faultStore) LatestEpoch(ctx context.Context) (uint64, error) {
	if err := s.err(); err != nil {
		return 0, fmt.Errorf("faultstore: latest epoch: %w", err)
	}
	return s.Store.LatestEpoch(ctx)
}

func (s faultStore) Account(ctx context.Context, handle string) (*store.Account, error) {
	if err := s.err(); err != nil {
		return nil, fmt.Errorf("faultstore: account: %w", err)
	}
	return s.Store.Account(ctx, handle)
}

// pgState is an error with a PostgreSQL SQLSTATE, as pgconn.PgError.
type pgState string

func (e pgState) Error() string    { return "ERROR: terminating connection (SQLSTATE " + string(e) + ")" }
func (e pgState) SQLState() string { return string(e) }

// TestStoreUnavailable checks that every store failure that passes by
// itself is answered 503 unavailable with Retry-After, never 500, and
// changes nothing; any other fault stays 500 internal.
func TestStoreUnavailable(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		var fail atomic.Pointer[error]
		e := newEnvOn(t, func(t *testing.T) store.Store { return faultStore{open(t), &fail} }, nil)
		alice := e.newUser("alice")
		e.register(alice)
		bob := e.newUser("bob")
		reg := e.registerRequest(bob)
		e.waitSequenced()
		before := e.snapshot("alice", "bob")

		for _, tc := range []struct {
			name string
			err  error
		}{
			{"disk full", syscall.ENOSPC},
			{"postgres shutdown", pgState("57P01")},
			{"postgres disk full", pgState("53100")},
		} {
			fail.Store(&tc.err)
			for _, r := range []struct {
				what string
				rep  reply
			}{
				{"challenge", e.do("POST", "/v1/challenges", api.ChallengeRequest{}, "")},
				{"register", e.do("POST", "/v1/accounts", reg, "")},
				{"lookup", e.do("GET", "/v2/accounts/alice", nil, "")},
				{"checkpoint", e.do("GET", "/v2/log/checkpoint", nil, "")},
			} {
				ra, err := strconv.Atoi(r.rep.header.Get("Retry-After"))
				if r.rep.status != http.StatusServiceUnavailable || r.rep.code() != api.CodeUnavailable || err != nil || ra < 1 {
					t.Errorf("%s, %s: %d %s Retry-After %q, want 503 unavailable", tc.name, r.what, r.rep.status, r.rep.body, r.rep.header.Get("Retry-After"))
				}
			}
			fail.Store(nil)
			e.unchanged(before, "alice", "bob")
		}

		other := errors.New("a bug")
		fail.Store(&other)
		if r := e.do("POST", "/v1/challenges", api.ChallengeRequest{}, ""); r.status != http.StatusInternalServerError || r.code() != api.CodeInternal || r.header.Get("Retry-After") != "" {
			t.Errorf("other fault: %d %s, want 500 internal", r.status, r.body)
		}
		fail.Store(nil)
		e.unchanged(before, "alice", "bob")
	})
}
