package relay

import (
	"container/heap"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// arrivals is a min-heap of times.
type arrivals []time.Time

func (a arrivals) Len() int           { return len(a) }
func (a arrivals) Less(i, j int) bool { return a[i].Before(a[j]) }
func (a arrivals) Swap(i, j int)      { a[i], a[j] = a[j], a[i] }
func (a *arrivals) Push(x any)        { *a = append(*a, x.(time.Time)) }
func (a *arrivals) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

// TestPacerSpreadsHerd runs the upgrade pacer (spec/relay.md §2.5) against
// a herd that arrives at one instant and comes back exactly when told: it
// is admitted at the reconnect rate, never more than the burst (a tenth of
// a second's worth) and 100 ms of refill in any 100 ms, all within herd/rate seconds and a
// little, and each client is refused only a few times (the hints are
// slots, not a shared deadline they would all hit together).
func TestPacerSpreadsHerd(t *testing.T) {
	const (
		herd = 10000
		rate = 1000
	)
	t0 := time.Unix(1_800_000_000, 0)
	p := newUpgradePacer(rate, t0.Add(-time.Minute))
	var q arrivals
	for range herd {
		q = append(q, t0)
	}
	heap.Init(&q)
	perSlot := map[int64]int{} // admissions per 100 ms
	refusals, admitted := 0, 0
	var last time.Time
	for q.Len() > 0 {
		at := heap.Pop(&q).(time.Time)
		ok, after := p.admit(at)
		if !ok {
			if after < time.Millisecond {
				t.Fatalf("hint %v under 1 ms", after)
			}
			refusals++
			heap.Push(&q, at.Add(after))
			continue
		}
		admitted++
		perSlot[int64(at.Sub(t0)/(100*time.Millisecond))]++
		last = at
	}
	if admitted != herd {
		t.Fatalf("admitted %d of %d", admitted, herd)
	}
	span := last.Sub(t0)
	if want := time.Duration(herd/rate) * time.Second; span < want-time.Second || span > want+time.Second {
		t.Fatalf("herd admitted over %v, want about %v", span, want)
	}
	for slot, n := range perSlot {
		// The burst plus 100 ms of refill.
		if n > 2*rate/10+1 {
			t.Fatalf("%d admissions in 100 ms slot %d, want at most %d", n, slot, 2*rate/10+1)
		}
	}
	if refusals > 2*herd {
		t.Fatalf("%d refusals for %d clients: hints are not slots", refusals, herd)
	}
	t.Logf("%d clients admitted over %v, %d refusals", herd, span, refusals)

	// Idle, the bucket refills: the next upgrade is admitted at once.
	if ok, _ := p.admit(last.Add(time.Second)); !ok {
		t.Fatal("refused after a second of quiet")
	}
}

// TestBusyUpgradeRefused checks the relay's pacing over the wire: beyond
// ReconnectRate an upgrade gets 503 with a retry hint that the client
// reads (relayclient.BusyError), no mailbox is opened for it, and after
// the hint it is admitted; an admitted upgrade carries the reconnect
// window (spec/relay.md §2.5).
func TestBusyUpgradeRefused(t *testing.T) {
	e := startRelay(t, Limits{ReconnectRate: 1, MaxReconnectWindow: 5 * time.Second})
	tlsCfg := e.srv.Client().Transport.(*http.Transport).TLSClientConfig
	dial := func(handle string) (*relayclient.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := relayclient.Dial(ctx, e.url, tlsCfg, e.mint(handle, 1))
		if c != nil {
			t.Cleanup(func() { c.CloseNow() })
		}
		return c, err
	}
	a, err := dial("alice")
	if err != nil {
		t.Fatal(err)
	}
	// One connection open at 1 per second: a 1 s window.
	if w := a.ReconnectWindow(); w != time.Second {
		t.Fatalf("reconnect window %v, want 1s", w)
	}
	_, err = dial("bob")
	var busy *relayclient.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("second upgrade within a second: %v, want a BusyError", err)
	}
	if busy.RetryAfter <= 0 || busy.RetryAfter > time.Second {
		t.Fatalf("retry hint %v, want in (0, 1s]", busy.RetryAfter)
	}
	if _, err := e.q.Stats(context.Background(), addr("bob", 1)); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("refused upgrade: mailbox %v, want none", err)
	}
	time.Sleep(busy.RetryAfter)
	b, err := dial("bob")
	if err != nil {
		t.Fatalf("after the hint: %v", err)
	}
	if w := b.ReconnectWindow(); w != 2*time.Second {
		t.Fatalf("reconnect window %v with two connections, want 2s", w)
	}
}

// TestBusyRetryAfterHeader checks the standard Retry-After of a paced
// upgrade: whole seconds, at least 1.
func TestBusyRetryAfterHeader(t *testing.T) {
	e := startRelay(t, Limits{ReconnectRate: 1})
	e.connect("alice", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{HTTPClient: e.srv.Client(), Subprotocols: []string{Subprotocol}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade beyond the rate: %v, %v", resp, err)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q, want 1", got)
	}
	if d, ok := wire.ParseHint(resp.Header.Get(wire.HeaderRetryAfter)); !ok || d > time.Second {
		t.Fatalf("%s %q", wire.HeaderRetryAfter, resp.Header.Get(wire.HeaderRetryAfter))
	}
}
