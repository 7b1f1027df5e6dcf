package ksclient

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/api"
)

// forgeUnavailable makes the server answer the first n requests to path
// with 503 unavailable and Retry-After retry, as the key server does when
// its database is down or its disk full (spec/keyserver.md §3; the real
// answer is tested against a stopped PostgreSQL and a full disk in
// cmd/sealpostd).
func (s *server) forgeUnavailable(path string, n int, retry string) {
	var left atomic.Int64
	left.Store(int64(n))
	s.setForge(func(w http.ResponseWriter, r *http.Request, real http.Handler) bool {
		if r.URL.Path != path || left.Add(-1) < 0 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", retry)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"unavailable","message":"temporarily unavailable, retry later"}` + "\n"))
		return true
	})
}

// TestUnavailableRetried checks that a 503 unavailable is retried after
// its Retry-After, like a 429, and that the retry's answer is returned.
func TestUnavailableRetried(t *testing.T) {
	s := newServer(t, "", nil)
	s.forgeUnavailable("/v1/challenges", 1, "1")
	start := time.Now()
	c, err := s.c.Challenge(context.Background(), "")
	if err != nil || len(c.Challenge) == 0 {
		t.Fatalf("challenge after one 503: %v", err)
	}
	if n := s.count("/v1/challenges"); n != 2 {
		t.Errorf("%d requests, want 2 (one 503, one retry)", n)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %s, before the Retry-After of 1s", d)
	}
}

// TestUnavailableGivesUp checks that a 503 whose Retry-After is longer
// than the client waits is returned at once as an *APIError carrying it,
// for the caller to retry later.
func TestUnavailableGivesUp(t *testing.T) {
	s := newServer(t, "", nil)
	s.forgeUnavailable("/v2/log/checkpoint", 100, "60")
	_, err := s.c.Checkpoint(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != api.CodeUnavailable || ae.RetryAfter != time.Minute {
		t.Fatalf("checkpoint: %#v, want 503 unavailable with RetryAfter 1m", err)
	}
	if n := s.count("/v2/log/checkpoint"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
