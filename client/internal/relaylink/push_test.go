package relaylink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// TestPushTargetSentOnConnect: the configured target goes to the relay
// after every connect and its answer is reported; SetPush answers with
// the relay's status (this relay sends no wake-ups: disabled); a target
// that breaks the frame rules is refused before anything is sent.
func TestPushTargetSentOnConnect(t *testing.T) {
	e := startRelay(t)
	p := startProxy(t, e.addr)
	target := &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_GATEWAY, Endpoint: "https://gw.example", Token: []byte("tok")}
	answers := make(chan wire.PushStatus, 16)
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.URL = p.url()
	cfg.Push = target
	cfg.OnPushStatus = func(got *wire.SetPush, st wire.PushStatus) {
		if got != target {
			t.Errorf("OnPushStatus for %v, want the configured target", got)
		}
		answers <- st
	}
	r := newRecorder()
	r.hook(&cfg)
	l := start(t, cfg)
	next := func() wire.PushStatus {
		t.Helper()
		select {
		case st := <-answers:
			return st
		case <-time.After(5 * time.Second):
			t.Fatal("no push answer")
			return 0
		}
	}
	if st := next(); st != wire.PushStatus_PUSH_STATUS_DISABLED {
		t.Errorf("first connect: %v, want disabled", st)
	}
	p.blackhole(true) // the connection dies; the next one sends it again
	<-r.disconnects
	if st := next(); st != wire.PushStatus_PUSH_STATUS_DISABLED {
		t.Errorf("second connect: %v, want disabled", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := l.SetPush(ctx, &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_NONE})
	if err != nil || st != wire.PushStatus_PUSH_STATUS_DISABLED {
		t.Errorf("SetPush(none) = %v, %v; want disabled", st, err)
	}
	if _, err := l.SetPush(ctx, &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_WEB_PUSH, Endpoint: "https://x"}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("SetPush of a web push target without keys: %v, want ErrMalformed", err)
	}
	if _, err := Start(Config{URL: e.url(), Token: cfg.Token, Deliver: discard, Push: &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_GATEWAY}}); err == nil {
		t.Error("Start with a gateway target without endpoint accepted")
	}
}

// TestDrainTakesTheMailbox: Drain returns once every envelope the mailbox
// held has been passed to Deliver and acked, however slowly Deliver
// takes them.
func TestDrainTakesTheMailbox(t *testing.T) {
	e := startRelay(t)
	e.plain("alice", 1).Close() // makes the mailbox
	sender := e.plain("bob", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 40
	for i := range n {
		id := [wire.MessageIDSize]byte{byte(i + 1)}
		st, _, err := sender.Send(ctx, id, item("alice", 1, fmt.Sprint("m", i)))
		if err != nil || st[0] != wire.Status_STATUS_STORED {
			t.Fatalf("send %d: %v, %v", i, st, err)
		}
	}
	var (
		mu  sync.Mutex
		got = map[string]bool{}
	)
	cfg := linkConfig(t, e, "alice", 1, func(ctx context.Context, d *wire.Delivery) error {
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		got[string(d.Envelope)] = true
		mu.Unlock()
		return nil
	})
	l := start(t, cfg)
	if err := l.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	mu.Lock()
	if len(got) != n {
		t.Errorf("Drain returned after %d of %d envelopes", len(got), n)
	}
	mu.Unlock()
	eventually(t, "the relay's mailbox empties", func() bool { return e.depth("alice", 1) == 0 })
	// Nothing waiting: Drain returns at once.
	if err := l.Drain(ctx); err != nil {
		t.Fatalf("second Drain: %v", err)
	}
	l.Close()
	if err := l.Drain(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Drain after Close: %v, want ErrClosed", err)
	}
}

// natProxy forwards TCP between clients and the relay and, like a NAT
// whose mapping expires, silently stops forwarding (without closing) a
// connection that carried no byte either way for longer than expire.
type natProxy struct {
	ln       net.Listener
	upstream string
	expire   time.Duration
	expired  atomic.Int64 // connections whose mapping expired
}

func startNATProxy(t *testing.T, upstream string, expire time.Duration) *natProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &natProxy{ln: ln, upstream: upstream, expire: expire}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, down, up)
			mu.Unlock()
			m := &mapping{p: p}
			m.last.Store(time.Now().UnixNano())
			wg.Add(2)
			go func() { defer wg.Done(); m.pipe(down, up) }()
			go func() { defer wg.Done(); m.pipe(up, down) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *natProxy) url() string { return "wss://" + p.ln.Addr().String() + "/v1/relay" }

// mapping is one proxied connection's NAT state.
type mapping struct {
	p    *natProxy
	last atomic.Int64 // Unix ns of the last byte forwarded either way
	dead atomic.Bool
}

// pipe copies src to dst until the mapping expires; after that it reads
// and drops, never closing, as a NAT that forgot the flow would.
func (m *mapping) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !m.dead.Load() {
			now := time.Now()
			if now.Sub(time.Unix(0, m.last.Load())) > m.p.expire {
				if m.dead.CompareAndSwap(false, true) {
					m.p.expired.Add(1)
				}
			} else {
				m.last.Store(now.UnixNano())
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// memStore is a HeartbeatStore that records what it is told.
type memStore struct {
	mu     sync.Mutex
	mem    map[string]HeartbeatMemory
	stored []HeartbeatMemory
}

func (s *memStore) LoadHeartbeat(network string) (HeartbeatMemory, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mem[network]
	return m, ok
}

func (s *memStore) StoreHeartbeat(network string, m HeartbeatMemory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mem[network] = m
	s.stored = append(s.stored, m)
}

// TestAdaptiveHeartbeatThroughNAT (spec/push.md §9): through a NAT that
// forgets a flow idle for 2 s, with the relay's heartbeat at 0.5 s and
// its idle timeout at 10 s, the link widens its interval step by step,
// passes the NAT's limit once (a silent death), falls back below it and
// stays there; every envelope sent meanwhile is delivered.
func TestAdaptiveHeartbeatThroughNAT(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 25 s")
	}
	const expire = 2 * time.Second
	e := startRelayWith(t, func(e *relayEnv) { e.heartbeat, e.idle = 500*time.Millisecond, 10*time.Second })
	nat := startNATProxy(t, e.addr, expire)
	mem := &memStore{mem: map[string]HeartbeatMemory{}}
	in := newInbox()
	cfg := linkConfig(t, e, "alice", 1, in.deliver)
	cfg.URL = nat.url()
	cfg.Heartbeats = mem
	cfg.PongTimeout = time.Second
	r := newRecorder()
	r.hook(&cfg)
	l := start(t, cfg)
	waitConnected(t, l)

	// Send an envelope now and then, on a connection of its own that does
	// not pass the NAT.
	sender := e.plain("bob", 1)
	sent := 0
	send := func() {
		t.Helper()
		sent++
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, _, err := sender.Send(ctx, [wire.MessageIDSize]byte{byte(sent)}, item("alice", 1, fmt.Sprint("m", sent)))
		if err != nil || st[0] != wire.Status_STATUS_STORED {
			t.Fatalf("send %d: %v, %v", sent, st, err)
		}
	}

	// Widening, then the silent death past 2 s.
	deadline := time.After(40 * time.Second)
	var silent error
	for silent == nil {
		select {
		case err := <-r.disconnects:
			if !errors.Is(err, errSilent) {
				t.Fatalf("disconnected: %v, want a silent death", err)
			}
			silent = err
		case <-time.After(3 * time.Second):
			send()
		case <-deadline:
			t.Fatalf("no silent death; interval %v", l.HeartbeatInterval())
		}
	}
	if nat.expired.Load() != 1 {
		t.Errorf("%d NAT mappings expired, want 1", nat.expired.Load())
	}
	mem.mu.Lock()
	var widest time.Duration
	for _, m := range mem.stored {
		widest = max(widest, m.Good)
	}
	last := mem.stored[len(mem.stored)-1]
	mem.mu.Unlock()
	t.Logf("silent death: %v; memory %+v", silent, last)
	if last.Bad <= expire || last.Good >= expire || last.Good != widest {
		t.Errorf("after the silent death: memory %+v, want good (the widest good, %v) below %v and bad above", last, widest, expire)
	}
	if widest <= 500*time.Millisecond {
		t.Errorf("the interval never widened: widest good %v", widest)
	}

	// Reconnected at the last good interval: it stays there, below the
	// NAT's limit, and no connection dies any more.
	waitConnected(t, l)
	stay := time.After(3*last.Good*2 + time.Second)
	for done := false; !done; {
		select {
		case err := <-r.disconnects:
			t.Fatalf("disconnected again: %v", err)
		case <-time.After(time.Second):
			send()
		case <-stay:
			done = true
		}
	}
	if got := l.HeartbeatInterval(); got != last.Good {
		t.Errorf("interval %v after the fall back, want %v", got, last.Good)
	}
	if nat.expired.Load() != 1 {
		t.Errorf("%d NAT mappings expired, want 1", nat.expired.Load())
	}

	// No envelope lost.
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < sent {
		select {
		case d := <-in:
			seen[string(d.Envelope)] = true
		case <-timeout:
			t.Fatalf("%d of %d envelopes delivered", len(seen), sent)
		}
	}
}
