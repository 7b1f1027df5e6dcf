package relay

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/internal/testbin"

	"github.com/sealpost/sealpost/keyserver/revocation"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

// feed is an in-memory revocation feed; fail makes it answer an error.
type feed struct {
	mu      sync.Mutex
	entries []revocation.Entry
	fail    bool
}

func (f *feed) Revocations(_ context.Context, from int64) ([]revocation.Entry, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, 0, errors.New("feed down")
	}
	var out []revocation.Entry
	next := from
	for _, e := range f.entries {
		if e.Index >= from && len(out) < 2 { // pages of 2
			out = append(out, e)
			next = e.Index + 1
		}
	}
	return out, next, nil
}

func (f *feed) add(handle string, device uint32, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, revocation.Entry{Index: int64(len(f.entries)) * 3, Device: revocation.DeviceHash(handle, device), Time: at})
}

func (f *feed) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

// startRevokingRelay starts a relay on SQLite that reads src every 50 ms,
// with metrics in reg and logs in logs.
func startRevokingRelay(t *testing.T, src RevocationSource, reg prometheus.Registerer, logs io.Writer) *relayEnv {
	t.Helper()
	q, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s, err := New(Config{
		Name: relayName, Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}, Now: clk.Now,
		Revocations: src, RevocationPoll: 50 * time.Millisecond,
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		q.Close()
		t.Fatal(err)
	}
	return serveRelay(t, q, s, clk)
}

// TestRevokedDeviceClosed: a revocation in the feed closes the device's
// live connection with device_revoked and refuses its token from then on,
// across pages, without touching other devices; revocations older than
// the longest token lifetime are ignored; while the feed is down nothing
// is forgotten (spec/relay.md §2.4).
func TestRevokedDeviceClosed(t *testing.T) {
	f := &feed{}
	reg := prometheus.NewRegistry()
	var logs testbin.SyncBuffer
	e := startRevokingRelay(t, f, reg, &logs)
	now := e.clock.Now()
	f.add("carol", 1, now.Add(-revocationKeep-time.Minute)) // long ago: forgotten
	c1, _ := e.connect("carol", 1)
	a2, _ := e.connect("alice", 2)
	a1, _ := e.connect("alice", 1)
	b1, _ := e.connect("bob", 1)

	start := time.Now()
	f.add("bob", 9, now)
	f.add("bob", 8, now)
	f.add("alice", 2, now) // third entry: on the second page
	a2.expectError(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, websocket.StatusPolicyViolation)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %v", d)
	}
	depth := e.depth(addr("alice", 2))

	// Its token is refused at Auth, and the mailbox is left as it was.
	c := e.dialRaw()
	c.send(&wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: e.mint("alice", 2)}}})
	c.expectError(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, websocket.StatusPolicyViolation)
	if got := e.depth(addr("alice", 2)); got != depth {
		t.Fatalf("mailbox changed: %+v, was %+v", got, depth)
	}
	// Other devices keep their connections, the long-revoked one too.
	for _, cl := range []*client{a1, b1, c1} {
		cl.quiet(200 * time.Millisecond)
	}

	// The feed goes down: what was learnt stays; it comes back and the
	// next revocation is applied.
	f.setFail(true)
	time.Sleep(200 * time.Millisecond)
	c = e.dialRaw()
	c.send(&wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: e.mint("alice", 2)}}})
	c.expectError(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, websocket.StatusPolicyViolation)
	f.add("bob", 1, now)
	b1.quiet(200 * time.Millisecond)
	m := e.s.m
	if testutil.ToFloat64(m.revPolls.WithLabelValues("error")) == 0 {
		t.Error("failed feed reads not counted")
	}
	f.setFail(false)
	b1.expectError(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, websocket.StatusPolicyViolation)

	// Metrics and logs: refusals by code, the devices remembered (the
	// long-revoked one is not), the last good read; the logs name no
	// handle and no device hash.
	if got := testutil.ToFloat64(m.refusals.WithLabelValues("device_revoked")); got != 4 {
		t.Errorf("device_revoked refusals %v, want 4", got)
	}
	if got := testutil.ToFloat64(m.revHeld); got != 4 {
		t.Errorf("revoked devices remembered %v, want 4", got)
	}
	if testutil.ToFloat64(m.revLastOK) == 0 {
		t.Error("no successful feed read recorded")
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "revocation feed reachable again") })
	out := logs.String()
	for _, want := range []string{"revocation feed unreachable", "revocation feed reachable again", "closed connections of revoked devices"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	h := revocation.DeviceHash("alice", 2)
	for _, secret := range []string{"alice", "bob", "carol", hex.EncodeToString(h[:]), base64.RawURLEncoding.EncodeToString(h[:])} {
		if strings.Contains(out, secret) {
			t.Errorf("logs name %q:\n%s", secret, out)
		}
	}
}
