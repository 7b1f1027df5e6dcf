package relaylink

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// TestReconnectSchedule checks the delays of spec/relay.md §2.5 with a
// fixed seed: the default cap is 2 s (or the relay's window if longer), a
// failed attempt's delay is full jitter under the cap, the first attempt
// after a lost connection is uniform over the relay's window, and a retry
// hint is honoured with at most a tenth added.
func TestReconnectSchedule(t *testing.T) {
	var c Config
	c.validate() // fills the defaults whatever else it reports
	if c.MaxBackoff > 2*time.Second || c.MinBackoff > c.MaxBackoff {
		t.Fatalf("default backoff [%v, %v]: a client must try at least every 2 s", c.MinBackoff, c.MaxBackoff)
	}
	sch := &relayclient.Reconnect{Min: c.MinBackoff, Max: c.MaxBackoff, Rand: rand.New(rand.NewPCG(1, 2))}
	const samples = 20000
	// quartiles returns the 25th, 50th and 75th percentiles and the
	// extremes of n draws.
	quartiles := func(draw func() time.Duration) (q [3]time.Duration, lo, hi time.Duration) {
		ds := make([]time.Duration, samples)
		for i := range ds {
			ds[i] = draw()
		}
		slices.Sort(ds)
		return [3]time.Duration{ds[samples/4], ds[samples/2], ds[3*samples/4]}, ds[0], ds[samples-1]
	}
	// near reports whether got is within 3 % of span from want (with
	// 20,000 draws a quartile's standard error is about 0.3 % of span).
	near := func(got, want, span time.Duration) bool {
		d := got - want
		return d.Abs() <= span*3/100
	}

	// A small relay's window (at most MaxBackoff): retries capped at
	// MaxBackoff. A big relay's: capped at its window, so that its herd
	// retries over the window, not within 2 s.
	for _, window := range []time.Duration{100 * time.Millisecond, c.MaxBackoff, 10 * time.Second} {
		sch.Window = window
		top := max(c.MaxBackoff, window)
		for n := range 40 {
			ceil := min(c.MinBackoff<<min(n, 30), top)
			q, lo, hi := quartiles(func() time.Duration { return sch.Retry(n) })
			if lo <= 0 || hi > ceil {
				t.Fatalf("window %v, retry %d: delays in [%v, %v], want (0, %v]", window, n, lo, hi, ceil)
			}
			for i, want := range []time.Duration{ceil / 4, ceil / 2, ceil * 3 / 4} {
				if !near(q[i], want, ceil) {
					t.Fatalf("window %v, retry %d: quartile %d is %v, want about %v (full jitter under %v)", window, n, i+1, q[i], want, ceil)
				}
			}
		}
	}

	for _, window := range []time.Duration{100 * time.Millisecond, 10 * time.Second, wire.MaxHint} {
		sch.Window = window
		q, lo, hi := quartiles(sch.Spread)
		if lo < 0 || hi > window {
			t.Fatalf("window %v: first attempts in [%v, %v]", window, lo, hi)
		}
		for i, want := range []time.Duration{window / 4, window / 2, window * 3 / 4} {
			if !near(q[i], want, window) {
				t.Fatalf("window %v: quartile %d is %v, want about %v (uniform)", window, i+1, q[i], want)
			}
		}
	}
	sch.Window = 0
	if d := sch.Spread(); d != 0 {
		t.Fatalf("window 0: first attempt after %v", d)
	}

	for _, hint := range []time.Duration{time.Millisecond, 50 * time.Millisecond, 7 * time.Second, wire.MaxHint} {
		_, lo, hi := quartiles(func() time.Duration { return sch.Busy(hint) })
		if lo < hint || hi > hint+hint/10 {
			t.Fatalf("hint %v: waits in [%v, %v], want [%v, %v]", hint, lo, hi, hint, hint+hint/10)
		}
	}
	if d := sch.Busy(time.Hour); d > wire.MaxHint+wire.MaxHint/10 {
		t.Fatalf("hint 1h: waits %v, more than MaxHint", d)
	}
}

// TestReconnectAfterOutage stops a real relay (TLS 1.3, WebSocket,
// 127.0.0.1) for several seconds, starts it again on the same address and
// checks that a link with the default backoff is back within 3.5 s of the
// relay listening again, each of three times: it tries at least every
// MaxBackoff (2 s) while the relay is away. The old 30 s cap left it away
// for up to 10-30 s (6 s and 12 s in two of three runs here).
func TestReconnectAfterOutage(t *testing.T) {
	const (
		down = 5 * time.Second
		runs = 3
		// The next attempt comes at most MaxBackoff after the last one
		// that failed; the rest is for the dial (TLS, Auth, the mailbox)
		// on a loaded CI machine under -race.
		bound = DefaultMaxBackoff + 1500*time.Millisecond
	)
	e := startRelay(t)
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.MinBackoff, cfg.MaxBackoff = 0, 0 // the defaults
	connected := make(chan time.Time, 16)
	cfg.OnConnect = func(*wire.Hello) { connected <- time.Now() }
	l := start(t, cfg)
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no first connection")
	}
	var took []time.Duration
	for i := range runs {
		e.stop()
		time.Sleep(down)
		if l.Connected() {
			t.Fatal("connected to a stopped relay")
		}
		e.start()
		back := time.Now()
		select {
		case at := <-connected:
			d := at.Sub(back)
			took = append(took, d)
			t.Logf("run %d: reconnected %v after the relay came back", i, d.Round(time.Millisecond))
			if d > bound {
				t.Errorf("run %d: reconnected %v after the relay came back, want within %v", i, d, bound)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("run %d: no reconnect within 30 s of the relay coming back", i)
		}
	}
	slices.Sort(took)
	t.Logf("median %v", took[len(took)/2].Round(time.Millisecond))
}

// TestBusyHintHonoured checks that a link the relay refuses for its
// reconnect rate (503 with a retry hint, spec/relay.md §2.5) waits the
// hint instead of retrying at its own backoff: at 1 upgrade per second, a
// second link connects about a second after the first, with a dial or two
// in between (its 20-300 ms backoff alone would make several).
func TestBusyHintHonoured(t *testing.T) {
	e := &relayEnv{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", reconnectRate: 1}
	e.start()
	t.Cleanup(e.stop)
	alice := start(t, linkConfig(t, e, "alice", 1, discard))
	waitConnected(t, alice)
	var dials atomic.Int64
	cfg := linkConfig(t, e, "bob", 1, discard)
	token := cfg.Token
	cfg.Token = func(ctx context.Context) (string, error) {
		dials.Add(1)
		return token(ctx)
	}
	t0 := time.Now()
	bob := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bob.WaitConnected(ctx); err != nil {
		t.Fatalf("bob never connected: %v", err)
	}
	took := time.Since(t0)
	if n := dials.Load(); n > 3 {
		t.Fatalf("%d dials in %v: the retry hint was not honoured", n, took)
	}
	t.Logf("connected after %v with %d dials", took.Round(time.Millisecond), dials.Load())
}
