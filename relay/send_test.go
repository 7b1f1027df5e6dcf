package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

// A retried send (same sender, same message id) gets the first answer with
// duplicate=true and stores nothing, also after the relay restarted on the
// same database; the same id from another sender is a new send.
func TestSendDeduplicated(t *testing.T) {
	clk := newClock()
	path := t.TempDir() + "/relay.db"
	e := startRelayAt(t, path, clk, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()
	a, _ := e.connect("alice", 1)
	first := a.sendEnv(1, []byte("one"), bob, addr("nobody", 1))
	if first.Duplicate || first.Statuses[0] != wire.Status_STATUS_STORED || first.Statuses[1] != wire.Status_STATUS_NO_MAILBOX {
		t.Fatalf("first answer %v", first)
	}
	again := a.sendEnv(1, []byte("one"), bob, addr("nobody", 1))
	if !again.Duplicate || again.Statuses[0] != first.Statuses[0] || again.Statuses[1] != first.Statuses[1] {
		t.Fatalf("retry answer %v", again)
	}
	if st := e.depth(bob); st.Count != 1 {
		t.Fatalf("queue %d after retry, want 1", st.Count)
	}

	// Restart: close server and store, reopen the same file.
	e.stop()
	e = startRelayAt(t, path, clk, Limits{})
	a, _ = e.connect("alice", 1)
	// Even different content under the same id is a duplicate.
	r := a.sendEnv(1, []byte("other"), bob)
	if !r.Duplicate || len(r.Statuses) != 2 || r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("retry after restart %v", r)
	}
	if st := e.depth(bob); st.Count != 1 {
		t.Fatalf("queue %d after restart retry, want 1", st.Count)
	}
	c, _ := e.connect("carol", 1)
	if r := c.sendEnv(1, []byte("carol's"), bob); r.Duplicate {
		t.Fatalf("another sender's id was a duplicate")
	}
	b, _ = e.connect("bob", 1)
	ds := b.deliveries(2)
	if string(ds[0].Envelope) != "one" || string(ds[1].Envelope) != "carol's" {
		t.Fatalf("delivered %q, %q", ds[0].Envelope, ds[1].Envelope)
	}

	// After the dedup window the id is fresh again (once swept).
	clk.Add(7*24*time.Hour + time.Second)
	if _, err := e.q.Sweep(context.Background(), clk.Now()); err != nil {
		t.Fatal(err)
	}
	a, _ = e.connect("alice", 1)
	if r := a.sendEnv(1, []byte("new"), bob); r.Duplicate {
		t.Fatal("dedup outlived its window")
	}
}

// Envelopes expire TTL after arrival: never delivered after, and swept.
func TestTTLExpiry(t *testing.T) {
	e := startRelay(t, Limits{TTL: time.Hour, SweepInterval: 20 * time.Millisecond})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()
	a, _ := e.connect("alice", 1)
	a.sendEnv(1, []byte("old"), bob)
	e.clock.Add(30 * time.Minute)
	a, _ = e.connect("alice", 1) // fresh token on the moved clock
	a.sendEnv(2, []byte("new"), bob)
	e.clock.Add(30*time.Minute + time.Second) // "old" expired, "new" not

	b, _ = e.connect("bob", 1)
	if d := b.deliveries(1); string(d[0].Envelope) != "new" {
		t.Fatalf("delivered %q", d[0].Envelope)
	}
	b.quiet(100 * time.Millisecond)
	// The sweeper deleted the expired one.
	waitFor(t, func() bool { return e.depth(bob).Count == 1 })
}

// A full queue refuses per recipient with queue_full, by count and by
// bytes, counting earlier items of the same send.
func TestQueueFull(t *testing.T) {
	e := startRelay(t, Limits{MaxQueueCount: 3, MaxQueueBytes: 100, QuotaSharePercent: 100}) // the queue caps, not shares (quota_test.go)
	bob, carol := addr("bob", 1), addr("carol", 1)
	e.connect("bob", 1)
	e.connect("carol", 1)
	a, hello := e.connect("alice", 1)
	if hello.Limits.MaxQueueCount != 3 || hello.Limits.MaxQueueBytes != 100 {
		t.Fatalf("limits %v", hello.Limits)
	}
	r := a.sendEnv(1, []byte("x"), bob, bob, bob, bob, carol)
	want := []wire.Status{1, 1, 1, 3, 1}
	for i := range want {
		if r.Statuses[i] != want[i] {
			t.Fatalf("statuses %v, want %v", r.Statuses, want)
		}
	}
	r = a.sendEnv(2, make([]byte, 100), carol)
	if r.Statuses[0] != wire.Status_STATUS_QUEUE_FULL {
		t.Fatalf("byte cap: %v", r.Statuses)
	}
	r = a.sendEnv(3, make([]byte, 99), carol, carol)
	if r.Statuses[0] != wire.Status_STATUS_STORED || r.Statuses[1] != wire.Status_STATUS_QUEUE_FULL {
		t.Fatalf("byte cap within a send: %v", r.Statuses)
	}
	if st := e.depth(carol); st.Count != 2 || st.Bytes != 100 {
		t.Fatalf("carol's queue %+v", st)
	}
}

// Shutdown answers the sends in flight, closes every connection with
// Error{shutting_down} and going-away, and refuses new connections.
func TestShutdown(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	const n = 20
	for i := range n {
		a.send(sendFrame(byte(i), []byte{byte(i)}, bob))
	}
	// Let the frames reach the relay's reader before shutting down.
	waitFor(t, func() bool { return e.depth(bob).Count > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.closed = true
	answered := 0
	for {
		f := a.read()
		if f.GetSendResult() != nil {
			answered++
			continue
		}
		if f.GetError().GetCode() != wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN {
			t.Fatalf("got %v", f)
		}
		break
	}
	if _, err := a.next(5 * time.Second); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close: %v", err)
	}
	b.expectError(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, websocket.StatusGoingAway)
	// Every answered send is stored.
	if st := e.depth(bob); st.Count < answered {
		t.Fatalf("%d answered, %d stored", answered, st.Count)
	}
	t.Logf("%d of %d sends answered before shutdown", answered, n)

	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_, resp, err := websocket.Dial(ctx2, e.url, &websocket.DialOptions{HTTPClient: e.srv.Client(), Subprotocols: []string{Subprotocol}})
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("dial after shutdown: %v %v", resp, err)
	}
	e.srv.Close()
	if err := e.q.Close(); err != nil {
		t.Fatal(err)
	}
}

// New reports every problem of a Config at once.
func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(Config{Name: "x", Limits: Limits{MaxEnvelope: 1000, MaxFrame: 1001, IdleTimeout: time.Second, HeartbeatInterval: time.Minute, TTL: 1500 * time.Millisecond}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"Queue is required", "TokenKeys is required", "MaxFrame", "IdleTimeout", "TTL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	q := &nopQueue{}
	_, err = New(Config{Name: "bad name!", Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}})
	if err == nil {
		t.Fatal("accepted a bad name")
	}
	s, err := New(Config{Name: "ok", Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	if s.lim != DefaultLimits() {
		t.Fatalf("zero limits became %+v", s.lim)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err == nil {
		t.Fatal("second Shutdown succeeded")
	}
}

var errNop = errors.New("nop")
