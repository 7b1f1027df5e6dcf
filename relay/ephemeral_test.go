package relay

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
	"google.golang.org/protobuf/proto"
)

// isConnected reports whether addr has a connection on s.
func isConnected(s *Server, addr []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[string(addr)] != nil
}

// startEphemeral starts a relay with metrics on a tapQueue over a fresh
// SQLite file, so that a test counts the calls that write to the store.
func startEphemeral(t *testing.T, lim Limits) (*relayEnv, *tapQueue) {
	t.Helper()
	sq, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapQueue{Queue: sq, baseCommits: sq.Commits()}
	clk := newClock()
	s, err := New(Config{
		Name: relayName, Queue: tap, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)},
		Limits: lim, Now: clk.Now, Registerer: prometheus.NewRegistry(), SendTokens: testSendTokens().v,
	})
	if err != nil {
		sq.Close()
		t.Fatal(err)
	}
	return serveRelay(t, sq, s, clk), tap
}

func ephemeralFrame(env []byte, to ...[]byte) *wire.Frame {
	m := &wire.SendEphemeral{}
	for _, r := range to {
		m.Items = append(m.Items, &wire.Item{Recipient: r, Envelope: env})
	}
	return &wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: m}}
}

// ephemerals reads frames until it has n ephemeral envelopes, failing on
// any other frame or after d.
func (c *client) ephemerals(n int, d time.Duration) [][]byte {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var out [][]byte
	for len(out) < n {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%d of %d ephemeral envelopes: %v", len(out), n, err)
		}
		de := f.GetDeliverEphemeral()
		if de == nil {
			c.t.Fatalf("want DeliverEphemeral, got %v", f)
		}
		out = append(out, de.Envelopes...)
	}
	if len(out) != n {
		c.t.Fatalf("got %d ephemeral envelopes, want %d", len(out), n)
	}
	return out
}

// alive checks that c's connection is open: a Ping is answered.
func (c *client) alive() {
	c.t.Helper()
	c.send(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 77}}})
	f := c.read()
	if p := f.GetPong(); p == nil || p.Nonce != 77 {
		c.t.Fatalf("want Pong 77, got %v", f)
	}
}

func (e *relayEnv) ephCount(o ephOutcome) int {
	return int(testutil.ToFloat64(e.s.m.ephOutcomes[o]))
}

// noWrites checks that the store saw no write but opening mailboxes: no
// Send (so no envelope and no dedup record) and no Ack; and, over SQLite,
// by the store's own counter, no write transaction committed by any other
// call.
func noWrites(t *testing.T, tap *tapQueue) {
	t.Helper()
	if s, a := tap.sends.Load(), tap.acks.Load(); s != 0 || a != 0 {
		t.Fatalf("store calls: %d Send, %d Ack; want none", s, a)
	}
	if c, ok := tap.commits(); ok {
		if other := c - tap.baseCommits - tap.openCommits.Load(); other != 0 {
			t.Fatalf("the SQLite store committed %d write transactions besides opening mailboxes; want none", other)
		}
	}
}

// spec/relay.md §7.4: an ephemeral envelope reaches a connected
// recipient, is never answered, and is never written to the store; one for
// a device that is not connected is dropped, and is absent, not queued,
// when the device connects afterwards.
func TestEphemeralDelivered(t *testing.T) {
	// Alice's bucket toward bob holds every signal of the test.
	e, tap := startEphemeral(t, Limits{EphemeralPairBurst: 40})
	bob, carol := addr("bob", 1), addr("carol", 1)
	c, _ := e.connect("carol", 1) // carol's mailbox exists
	c.ws.Close(websocket.StatusNormalClosure, "")
	b, hello := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	if l := hello.Limits; l.MaxEphemeralEnvelope != wire.DefaultMaxEphemeralEnvelope || l.EphemeralPerSecond != 20 || l.EphemeralBurst != 40 {
		t.Fatalf("Hello limits %v", l)
	}
	waitFor(t, func() bool { return !isConnected(e.s, carol) })
	opens := tap.opens.Load()

	typing := bytes.Repeat([]byte{0x5e}, 512)
	a.send(ephemeralFrame(typing, bob, carol))
	if got := b.ephemerals(1, 5*time.Second); !bytes.Equal(got[0], typing) {
		t.Fatalf("bob got %x", got[0])
	}
	a.quiet(200 * time.Millisecond) // nothing answered
	waitFor(t, func() bool { return e.ephCount(ephOffline) == 1 })

	// Carol connects after the signal: nothing comes, her mailbox is empty.
	c, _ = e.connect("carol", 1)
	c.quiet(500 * time.Millisecond)
	if st := e.depth(carol); st.Count != 0 || st.Bytes != 0 {
		t.Fatalf("carol's mailbox holds %+v", st)
	}
	if st := e.depth(bob); st.Count != 0 {
		t.Fatalf("bob's mailbox holds %+v", st)
	}

	// Many more: never a store write (OpenMailbox only for carol's
	// reconnection).
	const n = 30
	for i := range n {
		a.send(ephemeralFrame(fmt.Appendf(nil, "signal %d", i), bob))
	}
	got := b.ephemerals(n, 5*time.Second)
	for i, g := range got {
		if want := fmt.Sprintf("signal %d", i); string(g) != want {
			t.Fatalf("envelope %d: %q, want %q (in order)", i, g, want)
		}
	}
	noWrites(t, tap)
	if o := tap.opens.Load(); o != opens+1 {
		t.Fatalf("OpenMailbox calls %d, want %d", o, opens+1)
	}
	// The outcome counter moves just after the push, maybe after bob read it.
	waitFor(t, func() bool { return e.ephCount(ephLocal) >= n+1 })
	if r := testutil.ToFloat64(e.s.m.ephReceived); r != n+2 {
		t.Fatalf("received %v, want %d", r, n+2)
	}
	if l := e.ephCount(ephLocal); l != n+1 {
		t.Fatalf("delivered locally %d, want %d", l, n+1)
	}
	a.alive()
	b.alive()
}

// spec/relay.md §7.4: over-rate items are dropped and counted, and the
// connection stays open; the per-recipient-account bucket stops one
// account flooding another, and does not count the sender's own devices.
func TestEphemeralRateLimits(t *testing.T) {
	t.Run("sender", func(t *testing.T) {
		e, tap := startEphemeral(t, Limits{EphemeralPerSecond: 1, EphemeralBurst: 5, EphemeralPairBurst: 100})
		b, _ := e.connect("bob", 1)
		a, _ := e.connect("alice", 1)
		bob := addr("bob", 1)
		to := make([][]byte, 12)
		for i := range to {
			to[i] = bob
		}
		a.send(ephemeralFrame([]byte("x"), to...)) // one frame: one instant
		b.ephemerals(5, 5*time.Second)
		b.quiet(200 * time.Millisecond)
		if r := e.ephCount(ephRate); r != 7 {
			t.Fatalf("dropped for rate %d, want 7", r)
		}
		a.alive()
		noWrites(t, tap)
	})
	t.Run("pair", func(t *testing.T) {
		e, tap := startEphemeral(t, Limits{EphemeralPerSecond: 1, EphemeralBurst: 100, EphemeralPairRate: 1, EphemeralPairBurst: 3})
		b, _ := e.connect("bob", 1)
		b2, _ := e.connect("bob", 2)
		c, _ := e.connect("carol", 1)
		a2, _ := e.connect("alice", 2)
		a, _ := e.connect("alice", 1)
		bob, bob2, carol, alice2 := addr("bob", 1), addr("bob", 2), addr("carol", 1), addr("alice", 2)
		// Bob's account gets 3 in all, whichever of his devices.
		a.send(ephemeralFrame([]byte("b"), bob, bob2, bob, bob2, bob, bob2, carol, carol, alice2, alice2, alice2, alice2, alice2))
		b.ephemerals(2, 5*time.Second)  // items 1 and 3
		b2.ephemerals(1, 5*time.Second) // item 2
		b.quiet(200 * time.Millisecond)
		b2.quiet(10 * time.Millisecond)
		c.ephemerals(2, 5*time.Second)        // another account: its own bucket
		a2.ephemerals(5, 5*time.Second)       // own devices: exempt
		if r := e.ephCount(ephRate); r != 3 { // bob's 4th to 6th
			t.Fatalf("dropped for rate %d, want 3", r)
		}
		a.alive()
		noWrites(t, tap)
	})
}

// spec/relay.md §7.4: an envelope over max_ephemeral_envelope is dropped,
// the rest of the frame goes on.
func TestEphemeralTooLarge(t *testing.T) {
	e, tap := startEphemeral(t, Limits{MaxEphemeralEnvelope: 512})
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	bob := addr("bob", 1)
	a.send(&wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{Items: []*wire.Item{
		{Recipient: bob, Envelope: make([]byte, 513)},
		{Recipient: bob, Envelope: make([]byte, 512)},
	}}}})
	if got := b.ephemerals(1, 5*time.Second); len(got[0]) != 512 {
		t.Fatalf("delivered %d bytes", len(got[0]))
	}
	b.quiet(200 * time.Millisecond)
	if n := e.ephCount(ephTooLarge); n != 1 {
		t.Fatalf("too_large %d, want 1", n)
	}
	a.alive()
	noWrites(t, tap)
}

// spec/relay.md §2.2, §3.2: a malformed SendEphemeral is malformed, a
// client's DeliverEphemeral and a SendEphemeral before Auth are
// unexpected; each closes the connection and changes nothing.
func TestEphemeralRefused(t *testing.T) {
	e, tap := startEphemeral(t, Limits{})
	b, _ := e.connect("bob", 1)
	bob := addr("bob", 1)
	item := func(r, env []byte) []byte {
		b, err := proto.Marshal(&wire.Item{Recipient: r, Envelope: env})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	field := func(num byte, b []byte) []byte { return append([]byte{num<<3 | 2, byte(len(b))}, b...) }
	for _, c := range []struct {
		name  string
		frame []byte
		code  wire.ErrorCode
	}{
		{"no items", field(10, nil), wire.ErrorCode_ERROR_CODE_MALFORMED},
		{"empty envelope", field(10, field(1, item(bob, nil))), wire.ErrorCode_ERROR_CODE_MALFORMED},
		{"not an address", field(10, field(1, item([]byte("bob"), []byte("e")))), wire.ErrorCode_ERROR_CODE_MALFORMED},
		{"deliver from a client", field(11, field(1, []byte("e"))), wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _ := e.connect("alice", 1)
			a.writeRaw(c.frame)
			a.expectError(c.code, websocket.StatusProtocolError)
		})
	}
	t.Run("before auth", func(t *testing.T) {
		a := e.dialRaw()
		a.send(ephemeralFrame([]byte("e"), bob))
		a.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	b.quiet(200 * time.Millisecond)
	if n := testutil.ToFloat64(e.s.m.ephReceived); n != 0 {
		t.Fatalf("received %v items from refused frames", n)
	}
	noWrites(t, tap)
	if st := e.depth(bob); st.Count != 0 {
		t.Fatalf("bob's mailbox %+v", st)
	}
}

// spec/relay.md §7.4: a connection that does not take its ephemeral
// envelopes is congested: beyond maxEphemeralQueued, new ones are
// dropped, not buffered; queued ones share DeliverEphemeral frames.
func TestEphemeralCongested(t *testing.T) {
	s := &Server{lim: DefaultLimits()}
	c := &conn{s: s, writing: true} // a writer that never takes out
	c.authed.Store(true)
	env := make([]byte, 1024)
	for i := range maxEphemeralQueued {
		if o := c.pushEphemeral(env, ephLocal); o != ephLocal {
			t.Fatalf("envelope %d: %s", i, ephLabels[o])
		}
	}
	if o := c.pushEphemeral(env, ephLocal); o != ephCongested {
		t.Fatalf("envelope beyond maxEphemeralQueued: %s", ephLabels[o])
	}
	n := 0
	for _, f := range c.out {
		de := f.GetDeliverEphemeral()
		n += len(de.Envelopes)
		if b, err := wire.Encode(f); err != nil || len(b) > s.lim.MaxFrame {
			t.Fatalf("frame of %d bytes: %v", len(b), err)
		}
	}
	if n != maxEphemeralQueued || len(c.out) != 1 {
		t.Fatalf("%d envelopes in %d frames, want %d in 1", n, len(c.out), maxEphemeralQueued)
	}
	c.closing = true
	if o := c.pushEphemeral(env, ephLocal); o != ephOffline {
		t.Fatalf("to a closing connection: %s", ephLabels[o])
	}
}

// spec/relay.md §7.4, §12: with two nodes on one PostgreSQL database, an
// ephemeral envelope reaches a device connected to the other node, and is
// dropped, not stored, when the device is connected nowhere.
func TestEphemeralAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	clk := newClock()
	n1, n2 := startPGNode(t, dsn, clk), startPGNode(t, dsn, clk)
	bob, carol := addr("bob", 1), addr("carol", 1)
	c, _ := n1.connect("carol", 1)
	c.ws.Close(websocket.StatusNormalClosure, "")
	b, _ := n1.connect("bob", 1)
	a, _ := n2.connect("alice", 1)
	waitFor(t, func() bool { return !isConnected(n1.s, carol) })

	start := time.Now()
	a.send(ephemeralFrame([]byte("typing"), bob))
	if got := b.ephemerals(1, crossNodeDelay); string(got[0]) != "typing" {
		t.Fatalf("bob got %q", got[0])
	}
	t.Logf("ephemeral across nodes in %v", time.Since(start))
	// The counters move just after the push, which may be after bob has read
	// the frame: wait for them, then check they went no further.
	waitFor(t, func() bool { return n2.ephCount(ephPublished) >= 1 && n1.ephCount(ephRemote) >= 1 })
	if p, r := n2.ephCount(ephPublished), n1.ephCount(ephRemote); p != 1 || r != 1 {
		t.Fatalf("published %d on node 2, pushed %d on node 1; want 1, 1", p, r)
	}

	a.send(ephemeralFrame([]byte("typing"), carol))
	waitFor(t, func() bool { return n2.ephCount(ephPublished) == 2 })
	time.Sleep(300 * time.Millisecond) // the notification has reached node 1 by now
	c, _ = n1.connect("carol", 1)
	c.quiet(500 * time.Millisecond)
	c2, _ := n2.connect("carol", 2)
	c2.quiet(10 * time.Millisecond)
	if d := n1.depth(carol); d != 0 {
		t.Fatalf("carol's mailbox holds %d", d)
	}
	for _, n := range []*pgNode{n1, n2} {
		noWrites(t, n.tap)
	}
	a.alive()
}
