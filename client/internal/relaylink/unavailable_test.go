package relaylink

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// outageQueue is the relay's real store, whose Send and OpenMailbox fail
// with store.ErrUnavailable while down is set: the relay then ends the
// connection with ERROR_CODE_UNAVAILABLE (spec/relay.md §10), as it does
// with PostgreSQL stopped or the disk full (tested for real in
// cmd/sealpostd).
type outageQueue struct {
	store.Queue
	down *atomic.Bool
}

func (q outageQueue) Send(ctx context.Context, s store.Send) (store.SendResult, error) {
	if q.down.Load() {
		return store.SendResult{}, fmt.Errorf("test: %w", store.ErrUnavailable)
	}
	return q.Queue.Send(ctx, s)
}

func (q outageQueue) OpenMailbox(ctx context.Context, addr []byte, now time.Time) error {
	if q.down.Load() {
		return fmt.Errorf("test: %w", store.ErrUnavailable)
	}
	return q.Queue.OpenMailbox(ctx, addr, now)
}

// TestUnavailableReconnects checks that a send the relay refuses with
// ERROR_CODE_UNAVAILABLE is not lost: the link reconnects with backoff
// while the relay keeps refusing, and sends it again under its message id
// once the store serves; the recipient gets it once.
func TestUnavailableReconnects(t *testing.T) {
	var down atomic.Bool
	e := &relayEnv{t: t, dir: t.TempDir(), addr: "127.0.0.1:0",
		wrap: func(q store.Queue) store.Queue { return outageQueue{q, &down} }}
	e.start()
	t.Cleanup(e.stop)
	in := newInbox()
	bob := start(t, linkConfig(t, e, "bob", 1, in.deliver))
	waitConnected(t, bob)
	rec := newRecorder()
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	rec.hook(&cfg)
	alice := start(t, cfg)
	waitConnected(t, alice)

	down.Store(true)
	type result struct {
		st  []wire.Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := alice.Send(context.Background(), [16]byte{9}, item("bob", 1, "through the outage"))
		done <- result{st, err}
	}()
	select {
	case err := <-rec.disconnects:
		if !isCode(err, wire.ErrorCode_ERROR_CODE_UNAVAILABLE) {
			t.Fatalf("disconnected with %v, want ERROR_CODE_UNAVAILABLE", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect after the store failed")
	}
	time.Sleep(300 * time.Millisecond) // several reconnects, each refused
	select {
	case r := <-done:
		t.Fatalf("Send returned during the outage: %v %v", r.st, r.err)
	default:
	}
	if d := e.depth("bob", 1); d != 0 {
		t.Fatalf("bob's queue holds %d during the outage, want 0", d)
	}

	down.Store(false)
	select {
	case r := <-done:
		if r.err != nil || !slices.Equal(r.st, stored) {
			t.Fatalf("Send after the outage: %v %v", r.st, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send not answered after the outage")
	}
	if d := in.next(t); string(d.Envelope) != "through the outage" {
		t.Fatalf("bob got %q", d.Envelope)
	}
	in.quiet(t, 200*time.Millisecond)
	if n := rec.connects.Load(); n < 2 {
		t.Errorf("%d connects, want a reconnect", n)
	}
}
