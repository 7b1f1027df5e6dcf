package relaylink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

var stored = []wire.Status{wire.Status_STATUS_STORED}

func TestSendDeliverAck(t *testing.T) {
	e := startRelay(t)
	in := newInbox()
	bob := start(t, linkConfig(t, e, "bob", 1, in.deliver))
	waitConnected(t, bob) // bob's mailbox exists from now on
	alice := start(t, linkConfig(t, e, "alice", 1, discard))
	ctx := context.Background()
	const n = 5
	for i := range n {
		st, err := alice.Send(ctx, [16]byte{byte(i + 1)}, item("bob", 1, fmt.Sprintf("envelope %d", i)))
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if !slices.Equal(st, stored) {
			t.Fatalf("Send %d statuses %v", i, st)
		}
	}
	var last uint64
	for i := range n {
		d := in.next(t)
		if want := fmt.Sprintf("envelope %d", i); string(d.Envelope) != want || d.Id <= last {
			t.Fatalf("delivery %d: id %d %q after id %d", i, d.Id, d.Envelope, last)
		}
		last = d.Id
	}
	eventually(t, "bob's queue acked", func() bool { return e.depth("bob", 1) == 0 })
	in.quiet(t, 3*heartbeat)
	if !alice.Connected() || !bob.Connected() {
		t.Fatal("links not connected")
	}
}

func TestSendRefusedLocally(t *testing.T) {
	e := startRelay(t)
	rec := newRecorder()
	cfg := linkConfig(t, e, "alice", 1, discard)
	rec.hook(&cfg)
	alice := start(t, cfg)
	waitConnected(t, alice)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		items []*wire.Item
		want  error
	}{
		"no items":      {nil, wire.ErrMalformed},
		"bad recipient": {[]*wire.Item{{Recipient: []byte("bob"), Envelope: []byte{1}}}, wire.ErrMalformed},
		"empty":         {item("alice", 1, ""), wire.ErrMalformed},
		"over max_frame": {[]*wire.Item{{Recipient: wire.FormatAddress("alice", 1),
			Envelope: make([]byte, wire.DefaultMaxFrame)}}, wire.ErrFrameTooLarge},
	} {
		if _, err := alice.Send(ctx, [16]byte{1}, tc.items); !errors.Is(err, tc.want) {
			t.Errorf("%s: Send = %v, want %v", name, err, tc.want)
		}
	}
	// Nothing was sent: the connection is the first one, the queue empty,
	// and id 1 is still free.
	eventually(t, "OnConnect", func() bool { return rec.connects.Load() >= 1 })
	if got := rec.connects.Load(); got != 1 || !alice.Connected() || len(rec.disconnects) != 0 {
		t.Fatalf("%d connects, connected %v", got, alice.Connected())
	}
	if d := e.depth("alice", 1); d != 0 {
		t.Fatalf("alice's queue holds %d", d)
	}
	alice.Close()
	c := e.plain("alice", 1)
	_, dup, err := c.Send(ctx, [16]byte{1}, item("alice", 1, "x"))
	if err != nil || dup {
		t.Fatalf("id 1 after refusals: dup %v, %v", dup, err)
	}
}

// TestDeliverErrorRetriedInOrder checks that a delivery Deliver refuses is
// offered again, never skipped and never acked, until Deliver takes it.
func TestDeliverErrorRetriedInOrder(t *testing.T) {
	e := startRelay(t)
	var (
		mu    sync.Mutex
		calls []string
		fail  atomic.Bool
	)
	fail.Store(true)
	in := newInbox()
	deliver := func(ctx context.Context, d *wire.Delivery) error {
		mu.Lock()
		calls = append(calls, string(d.Envelope))
		mu.Unlock()
		if fail.Load() {
			return errors.New("store busy")
		}
		return in.deliver(ctx, d)
	}
	ncalls := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }
	bob := start(t, linkConfig(t, e, "bob", 1, deliver))
	waitConnected(t, bob)
	alice := start(t, linkConfig(t, e, "alice", 1, discard))
	ctx := context.Background()
	for i, env := range []string{"first", "second"} {
		if _, err := alice.Send(ctx, [16]byte{byte(i + 1)}, item("bob", 1, env)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "several refused tries", func() bool { return ncalls() >= 4 })
	bob.Close()
	mu.Lock()
	for i, c := range calls {
		if c != "first" {
			t.Fatalf("call %d delivered %q while the first was refused: %q", i, c, calls)
		}
	}
	mu.Unlock()
	// Nothing was acked: a fresh connection of bob's gets both again, in order.
	if d := e.depth("bob", 1); d != 2 {
		t.Fatalf("bob's queue holds %d, want 2", d)
	}
	raw := e.plain("bob", 1)
	for _, want := range []string{"first", "second"} {
		select {
		case d := <-raw.Deliveries():
			if string(d.Envelope) != want {
				t.Fatalf("redelivered %q, want %q", d.Envelope, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("not redelivered")
		}
	}
	raw.Close()

	// Deliver takes the first after a few refusals: both arrive in order
	// and are acked.
	mu.Lock()
	calls = nil
	mu.Unlock()
	var refusals atomic.Int64
	cfg := linkConfig(t, e, "bob", 1, func(ctx context.Context, d *wire.Delivery) error {
		if refusals.Add(1) <= 3 {
			return errors.New("store busy")
		}
		return deliver(ctx, d)
	})
	fail.Store(false)
	start(t, cfg)
	for _, want := range []string{"first", "second"} {
		if d := in.next(t); string(d.Envelope) != want {
			t.Fatalf("delivered %q, want %q", d.Envelope, want)
		}
	}
	eventually(t, "bob's queue acked", func() bool { return e.depth("bob", 1) == 0 })
}

// TestRelayRestart checks that a relay restart is survived: the link
// reconnects on its own, and a Send issued while the relay is down
// completes once it is back, stored once.
func TestRelayRestart(t *testing.T) {
	e := startRelay(t)
	bob := start(t, linkConfig(t, e, "bob", 1, discard))
	waitConnected(t, bob)
	bob.Close() // bob's mailbox exists; nobody takes its envelopes
	rec := newRecorder()
	cfg := linkConfig(t, e, "alice", 1, discard)
	rec.hook(&cfg)
	alice := start(t, cfg)
	waitConnected(t, alice)

	e.stop()
	select {
	case err := <-rec.disconnects:
		if !isGoingAway(err) {
			t.Fatalf("disconnect reason %v, want shutting_down", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect when the relay stopped")
	}
	id := [16]byte{0xaa}
	type result struct {
		st  []wire.Status
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := alice.Send(context.Background(), id, item("bob", 1, "while down"))
		res <- result{st, err}
	}()
	time.Sleep(300 * time.Millisecond) // a few failed dials
	if alice.Connected() {
		t.Fatal("connected to a stopped relay")
	}
	select {
	case r := <-res:
		t.Fatalf("Send returned while the relay was down: %v", r.err)
	default:
	}

	e.start()
	back := time.Now()
	select {
	case r := <-res:
		// Back off from 20 ms, at most 300 ms: the relay is found again
		// within about MaxBackoff.
		if took := time.Since(back); took > time.Second {
			t.Errorf("Send completed %v after the relay came back", took)
		}
		if r.err != nil || !slices.Equal(r.st, stored) {
			t.Fatalf("Send after restart: %v %v", r.st, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not complete after the relay came back")
	}
	if !alice.Connected() {
		t.Fatal("not connected after restart")
	}
	if d := e.depth("bob", 1); d != 1 {
		t.Fatalf("bob's queue holds %d, want 1", d)
	}
	// The relay knows the id: a retry is a duplicate with the same answer.
	alice.Close()
	c := e.plain("alice", 1)
	st, dup, err := c.Send(context.Background(), id, item("bob", 1, "while down"))
	if err != nil || !dup || !slices.Equal(st, stored) {
		t.Fatalf("retry: %v dup %v, %v", st, dup, err)
	}
	if d := e.depth("bob", 1); d != 1 {
		t.Fatalf("bob's queue holds %d after the retry, want 1", d)
	}
}

// TestLostAnswerRetried checks a Send whose answer is lost with its
// connection: the relay stored it, the link finds the connection dead by
// its silence, sends the same id on the next connection and gets the first
// answer back; the envelope is stored once.
func TestLostAnswerRetried(t *testing.T) {
	e := startRelay(t)
	bob := start(t, linkConfig(t, e, "bob", 1, discard))
	waitConnected(t, bob)
	bob.Close()
	p := startProxy(t, e.addr)
	rec := newRecorder()
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.URL = p.url()
	rec.hook(&cfg)
	alice := start(t, cfg)
	waitConnected(t, alice)

	p.blackhole(false) // the relay hears alice, alice hears nothing
	began := time.Now()
	st, err := alice.Send(context.Background(), [16]byte{7}, item("bob", 1, "once"))
	if err != nil || !slices.Equal(st, stored) {
		t.Fatalf("Send: %v %v", st, err)
	}
	if took := time.Since(began); took < idle/2 || took > idle+2*time.Second {
		t.Fatalf("Send took %v with idle timeout %v", took, idle)
	}
	if got := rec.connects.Load(); got != 2 {
		t.Fatalf("%d connects, want 2", got)
	}
	if d := e.depth("bob", 1); d != 1 {
		t.Fatalf("bob's queue holds %d, want 1", d)
	}
}

// TestHeartbeatDetectsDeadRelay checks that a relay that stops answering
// is declared dead within about its idle timeout and the link reconnects.
func TestHeartbeatDetectsDeadRelay(t *testing.T) {
	e := startRelay(t)
	p := startProxy(t, e.addr)
	rec := newRecorder()
	in := newInbox()
	cfg := linkConfig(t, e, "bob", 1, in.deliver)
	cfg.URL = p.url()
	rec.hook(&cfg)
	bob := start(t, cfg)
	waitConnected(t, bob)
	// Several idle timeouts of a live connection do not end it: the
	// relay's Pings and the answers to the link's keep it up.
	time.Sleep(3 * idle)
	if rec.connects.Load() != 1 || len(rec.disconnects) != 0 {
		t.Fatalf("a live connection was dropped: %d connects", rec.connects.Load())
	}

	p.blackhole(true)
	began := time.Now()
	select {
	case <-rec.disconnects:
		if took := time.Since(began); took > idle+time.Second {
			t.Fatalf("dead connection found after %v, idle timeout %v", took, idle)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dead connection not found")
	}
	eventually(t, "reconnected", func() bool { return rec.connects.Load() == 2 && bob.Connected() })
	// The new connection works.
	alice := start(t, linkConfig(t, e, "alice", 1, discard))
	if _, err := alice.Send(context.Background(), [16]byte{1}, item("bob", 1, "after")); err != nil {
		t.Fatal(err)
	}
	if d := in.next(t); string(d.Envelope) != "after" {
		t.Fatalf("delivered %q", d.Envelope)
	}
}

func TestCloseWhileSendWaits(t *testing.T) {
	e := startRelay(t)
	// A port nobody listens on: every dial fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.URL = "wss://" + ln.Addr().String() + "/v1/relay"
	l := start(t, cfg)
	res := make(chan error, 1)
	go func() {
		_, err := l.Send(context.Background(), [16]byte{1}, item("bob", 1, "x"))
		res <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-res:
		t.Fatalf("Send returned without a relay: %v", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.WaitConnected(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected = %v, want deadline exceeded", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("waiting Send = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Send still waiting after Close")
	}
	if _, err := l.Send(context.Background(), [16]byte{2}, item("bob", 1, "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if err := l.WaitConnected(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitConnected after Close = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if l.Connected() {
		t.Fatal("Connected after Close")
	}
}

// TestCloseWhileConnected checks that Close ends the connection with a
// normal closure: the relay frees the address at once.
func TestCloseWhileConnected(t *testing.T) {
	e := startRelay(t)
	in := newInbox()
	l := start(t, linkConfig(t, e, "bob", 1, in.deliver))
	waitConnected(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	c := e.plain("alice", 1)
	if _, _, err := c.Send(context.Background(), [16]byte{1}, item("bob", 1, "x")); err != nil {
		t.Fatal(err)
	}
	in.quiet(t, 3*heartbeat)
	if d := e.depth("bob", 1); d != 1 {
		t.Fatalf("bob's queue holds %d, want 1", d)
	}
}

// TestTokenRefused checks that a token the relay refuses is invalidated
// and a fresh one used for the next dial.
func TestTokenRefused(t *testing.T) {
	e := startRelay(t)
	var (
		mu     sync.Mutex
		events []string
	)
	log := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	stale := true
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.Token = func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if stale {
			events = append(events, "stale token")
			return mint(t, "alice", 1, stranger, time.Hour), nil
		}
		events = append(events, "fresh token")
		return mint(t, "alice", 1, issuer, time.Hour), nil
	}
	cfg.InvalidateToken = func() {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, "invalidate")
		stale = false
	}
	cfg.OnConnect = func(*wire.Hello) { log("connected") }
	l := start(t, cfg)
	waitConnected(t, l)
	eventually(t, "OnConnect", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 4 })
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"stale token", "invalidate", "fresh token", "connected"}; !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}

// TestTokenExpiredWhileConnected checks that a connection the relay closes
// at its token's expiry comes back with a fresh token.
func TestTokenExpiredWhileConnected(t *testing.T) {
	e := startRelay(t)
	var tokens, invalidations atomic.Int64
	rec := newRecorder()
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.Token = func(context.Context) (string, error) {
		if tokens.Add(1) == 1 {
			return mint(t, "alice", 1, issuer, time.Second), nil
		}
		return mint(t, "alice", 1, issuer, time.Hour), nil
	}
	cfg.InvalidateToken = func() { invalidations.Add(1) }
	rec.hook(&cfg)
	l := start(t, cfg)
	waitConnected(t, l)
	select {
	case err := <-rec.disconnects:
		if !isCode(err, wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED) {
			t.Fatalf("disconnect reason %v, want token_expired", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the relay kept an expired token's connection")
	}
	eventually(t, "reconnected", func() bool { return rec.connects.Load() == 2 })
	if tokens.Load() != 2 || invalidations.Load() != 1 {
		t.Fatalf("%d tokens, %d invalidations", tokens.Load(), invalidations.Load())
	}
}

// TestReplacedBacksOff checks that two links of one device, which replace
// each other at the relay (spec/relay.md §8.4), do not fight in a tight
// loop.
func TestReplacedBacksOff(t *testing.T) {
	e := startRelay(t)
	var recs [2]*recorder
	for i := range recs {
		recs[i] = newRecorder()
		cfg := linkConfig(t, e, "alice", 1, discard)
		recs[i].hook(&cfg)
		start(t, cfg)
	}
	const span = 2 * time.Second
	time.Sleep(span)
	total := recs[0].connects.Load() + recs[1].connects.Load()
	// Backoff from 20 ms doubling to 300 ms with full jitter: a few dozen
	// connects at most; a tight loop would make hundreds.
	if total > 40 {
		t.Fatalf("%d connects in %v", total, span)
	}
	for _, r := range recs {
		for len(r.disconnects) > 0 {
			if err := <-r.disconnects; !isCode(err, wire.ErrorCode_ERROR_CODE_REPLACED) {
				t.Fatalf("disconnect reason %v, want replaced", err)
			}
		}
	}
	t.Logf("%d connects in %v", total, span)
}

func TestStartValidates(t *testing.T) {
	_, err := Start(Config{URL: "https://x/v1/relay", MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	if err == nil {
		t.Fatal("Start accepted a bad Config")
	}
	for _, want := range []string{"wss://", "Token", "Deliver", "MaxBackoff"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestCloseCancelsDeliver checks that Close cancels a Deliver in progress
// and that its delivery stays queued.
func TestCloseCancelsDeliver(t *testing.T) {
	e := startRelay(t)
	entered := make(chan struct{}, 1)
	bob := start(t, linkConfig(t, e, "bob", 1, func(ctx context.Context, d *wire.Delivery) error {
		entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}))
	waitConnected(t, bob)
	alice := start(t, linkConfig(t, e, "alice", 1, discard))
	if _, err := alice.Send(context.Background(), [16]byte{1}, item("bob", 1, "x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver not called")
	}
	closed := make(chan error, 1)
	go func() { closed <- bob.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel Deliver")
	}
	if d := e.depth("bob", 1); d != 1 {
		t.Fatalf("bob's queue holds %d, want 1", d)
	}
}

func TestJitter(t *testing.T) {
	const lo, hi = 250 * time.Millisecond, 30 * time.Second
	for n := range 70 {
		ceil := hi
		if n < 7 {
			ceil = lo << n
		}
		for range 100 {
			if d := jitter(lo, hi, n); d <= 0 || d > ceil {
				t.Fatalf("attempt %d: delay %v outside (0, %v]", n, d, ceil)
			}
		}
	}
}
