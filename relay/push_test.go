package relay

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

// startTapped starts a relay on a tapQueue over a fresh SQLite file: the
// test counts its Fetch calls, and no wake-up reaches the relay.
func startTapped(t *testing.T, lim Limits) (*relayEnv, *tapQueue) {
	t.Helper()
	sq, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapQueue{Queue: sq, wake: make(chan []byte)}
	clk := newClock()
	s, err := New(Config{
		Name: relayName, Queue: tap, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)},
		Limits: lim, Now: clk.Now,
	})
	if err != nil {
		sq.Close()
		t.Fatal(err)
	}
	return serveRelay(t, sq, s, clk), tap
}

// An envelope a Send stores for a device connected to this relay is pushed
// from the Send's answer, without reading the store; acks read it only
// when it may hold more (spec/relay.md §8.2).
func TestPushWithoutFetch(t *testing.T) {
	e, tap := startTapped(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 7)
	// The first fetch of each connection, of nothing.
	waitFor(t, func() bool { return tap.fetched.Load() >= 2 })
	fetched := tap.fetched.Load()

	var last uint64
	for i := range 20 {
		want := fmt.Sprintf("envelope %d", i)
		if r := a.sendEnv(byte(i), []byte(want), bob); r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("send %d: %v", i, r)
		}
		ds := b.deliveries(1)
		if string(ds[0].Envelope) != want || ds[0].Id <= last {
			t.Fatalf("delivery %d: %q id %d after %d", i, ds[0].Envelope, ds[0].Id, last)
		}
		if ds[0].ArrivedUnixMs != uint64(e.clock.Now().UnixMilli()) {
			t.Fatalf("arrived %d, want %d", ds[0].ArrivedUnixMs, e.clock.Now().UnixMilli())
		}
		last = ds[0].Id
		b.ack(ds[0].Id)
	}
	waitFor(t, func() bool { return e.depth(bob).Count == 0 })
	if n := tap.fetched.Load() - fetched; n != 0 {
		t.Fatalf("%d fetches for 20 pushed envelopes and their acks", n)
	}
}

// An envelope the relay did not store itself (another node's, or one
// stored while the connection's window was full) comes before the pushed
// ones that follow it: the relay fetches rather than skip it.
func TestPushAfterUnpushedEnvelope(t *testing.T) {
	e, tap := startTapped(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 7)
	waitFor(t, func() bool { return tap.fetched.Load() >= 2 })

	// Stored behind the relay's back, and no wake-up: bob's connection
	// does not know of it.
	now := e.clock.Now()
	res, err := e.q.Send(context.Background(), store.Send{
		Sender: addr("carol", 3), MessageID: [store.MessageIDSize]byte{9},
		Items: []store.Item{{Recipient: bob, Envelope: []byte("first")}},
		Now:   now, Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
		MaxEnvelope: e.lim.MaxEnvelope, MaxQueueCount: e.lim.MaxQueueCount, MaxQueueBytes: e.lim.MaxQueueBytes,
	})
	if err != nil || res.Statuses[0] != store.Stored {
		t.Fatalf("Send: %v, %v", res, err)
	}
	b.quiet(100 * time.Millisecond)

	a.sendEnv(1, []byte("second"), bob)
	ds := b.deliveries(2)
	if string(ds[0].Envelope) != "first" || string(ds[1].Envelope) != "second" || ds[0].Id >= ds[1].Id {
		t.Fatalf("got %q (%d), %q (%d), want first then second", ds[0].Envelope, ds[0].Id, ds[1].Envelope, ds[1].Id)
	}
	b.ack(ds[0].Id, ds[1].Id)
	waitFor(t, func() bool { return e.depth(bob).Count == 0 })
}

// Envelopes stored while the window is full are not held by the
// connection: they are fetched once acks make room, in order.
func TestPushWindowFull(t *testing.T) {
	const window = 4
	e, _ := startTapped(t, Limits{DeliveryWindow: window})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 7)
	for i := range 3 * window {
		a.sendEnv(byte(i), fmt.Appendf(nil, "envelope %d", i), bob)
	}
	next := 0
	for next < 3*window {
		ds := b.deliveries(window)
		b.quiet(50 * time.Millisecond) // the window is full
		ids := make([]uint64, 0, len(ds))
		for _, d := range ds {
			if want := fmt.Sprintf("envelope %d", next); string(d.Envelope) != want {
				t.Fatalf("got %q, want %q", d.Envelope, want)
			}
			next++
			ids = append(ids, d.Id)
		}
		b.ack(ids...)
	}
	b.quiet(50 * time.Millisecond)
	waitFor(t, func() bool { return e.depth(bob).Count == 0 })
}
