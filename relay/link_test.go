package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// linkSecret is a test link secret: 32 bytes of b.
func linkSecret(b byte) []byte { return bytes.Repeat([]byte{b}, wire.LinkSecretSize) }

// dialLink sends AuthLink{secret, offer, token} on a new connection and
// returns it with the first frame of the answer.
func (e *relayEnv) dialLink(secret, offer []byte, tok string) (*client, *wire.Frame) {
	e.t.Helper()
	c := e.dialRaw()
	c.send(&wire.Frame{Body: &wire.Frame_AuthLink{AuthLink: &wire.AuthLink{Secret: secret, Offer: offer, Token: tok}}})
	return c, c.read()
}

// connectLink opens a link connection, failing unless it gets its Hello.
func (e *relayEnv) connectLink(secret, offer []byte, tok string) *client {
	e.t.Helper()
	c, f := e.dialLink(secret, offer, tok)
	if _, ok := f.Body.(*wire.Frame_Hello); !ok {
		e.t.Fatalf("answer to AuthLink: %v", f)
	}
	return c
}

// refusedLink checks that AuthLink{secret, offer, tok} is refused with code.
func (e *relayEnv) refusedLink(secret, offer []byte, tok string, code wire.ErrorCode) {
	e.t.Helper()
	c := e.dialRaw()
	c.send(&wire.Frame{Body: &wire.Frame_AuthLink{AuthLink: &wire.AuthLink{Secret: secret, Offer: offer, Token: tok}}})
	c.expectError(code, websocket.StatusPolicyViolation)
}

// fetchLink sends LinkFetch for secret's link id and returns the answer.
func (c *client) fetchLink(secret []byte) *wire.LinkOffer {
	c.t.Helper()
	id := wire.LinkID(secret)
	c.send(&wire.Frame{Body: &wire.Frame_LinkFetch{LinkFetch: &wire.LinkFetch{LinkId: id[:]}}})
	f := c.read()
	o, ok := f.Body.(*wire.Frame_LinkOffer)
	if !ok {
		c.t.Fatalf("answer to LinkFetch: %v", f)
	}
	if !bytes.Equal(o.LinkOffer.LinkId, id[:]) {
		c.t.Fatalf("LinkOffer for link id %x, want %x", o.LinkOffer.LinkId, id)
	}
	return o.LinkOffer
}

// linkGone checks that the store holds no link mailbox for secret.
func (e *relayEnv) linkGone(secret []byte) {
	e.t.Helper()
	if _, err := e.q.Stats(context.Background(), wire.LinkAddress(secret)); !errors.Is(err, store.ErrNoMailbox) {
		e.t.Fatalf("link mailbox still there: %v", err)
	}
}

func TestLinkRoundTrip(t *testing.T) {
	e := startRelay(t, Limits{})
	sN, sE := linkSecret(1), linkSecret(2)
	offer := []byte("the new device's offer")
	n := e.connectLink(sN, offer, "")
	bob, _ := e.connect("bob", 1)
	// E reads the offer from its device connection.
	o := bob.fetchLink(sN)
	wantExp := e.clock.Now().Add(e.lim.LinkTTL).UnixMilli()
	if !bytes.Equal(o.Offer, offer) || o.ExpiresUnixMs != uint64(wantExp) {
		t.Fatalf("LinkOffer %q %d, want %q %d", o.Offer, o.ExpiresUnixMs, offer, wantExp)
	}
	// E's reply mailbox, opened with its token: the device connection
	// stays (not replaced).
	eLink := e.connectLink(sE, nil, e.mint("bob", 1))
	if r := bob.sendEnv(1, []byte("msg1"), wire.LinkAddress(sN)); r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("send to the link mailbox: %v", r.Statuses)
	}
	d := n.deliveries(1)
	if string(d[0].Envelope) != "msg1" {
		t.Fatalf("N got %q", d[0].Envelope)
	}
	n.ack(d[0].Id)
	// N answers into E's reply mailbox from its link connection.
	if r := n.sendEnv(2, []byte("msg2"), wire.LinkAddress(sE)); r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("send from the link connection: %v", r.Statuses)
	}
	d = eLink.deliveries(1)
	if string(d[0].Envelope) != "msg2" {
		t.Fatalf("E got %q", d[0].Envelope)
	}
	eLink.ack(d[0].Id)
	// A token-bearing link connection may fetch offers too.
	if o := eLink.fetchLink(sN); !bytes.Equal(o.Offer, offer) {
		t.Fatalf("LinkOffer on the token link connection: %q", o.Offer)
	}
	// bob's device connection is still open.
	bob.send(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 7}}})
	if f := bob.read(); f.GetPong().GetNonce() != 7 {
		t.Fatalf("bob's connection: %v", f)
	}
	waitFor(t, func() bool { return e.depth(wire.LinkAddress(sN)).Count == 0 })
}

func TestLinkFetchUnknownAndExpired(t *testing.T) {
	e := startRelay(t, Limits{HeartbeatInterval: 50 * time.Millisecond, IdleTimeout: 10 * time.Second})
	bob, _ := e.connect("bob", 1)
	if o := bob.fetchLink(linkSecret(9)); len(o.Offer) != 0 || o.ExpiresUnixMs != 0 {
		t.Fatalf("LinkOffer of an unknown link: %q %d", o.Offer, o.ExpiresUnixMs)
	}
	s := linkSecret(3)
	n := e.connectLink(s, []byte("offer"), "")
	e.clock.Add(e.lim.LinkTTL)
	// The link connection ends at its mailbox's expiry.
	n.expectError(wire.ErrorCode_ERROR_CODE_LINK_EXPIRED, websocket.StatusPolicyViolation)
	if o := bob.fetchLink(s); len(o.Offer) != 0 || o.ExpiresUnixMs != 0 {
		t.Fatalf("LinkOffer of an expired link: %q %d", o.Offer, o.ExpiresUnixMs)
	}
	if r := bob.sendEnv(1, []byte("late"), wire.LinkAddress(s)); r.Statuses[0] != wire.Status_STATUS_NO_MAILBOX {
		t.Fatalf("send to an expired link mailbox: %v", r.Statuses)
	}
	e.refusedLink(s, nil, "", wire.ErrorCode_ERROR_CODE_LINK_EXPIRED)
}

func TestLinkSweep(t *testing.T) {
	e := startRelay(t, Limits{SweepInterval: 20 * time.Millisecond})
	s := linkSecret(4)
	n := e.connectLink(s, []byte("offer"), "")
	n.ws.Close(websocket.StatusNormalClosure, "")
	bob, _ := e.connect("bob", 1)
	bob.sendEnv(1, []byte("queued"), wire.LinkAddress(s))
	if st := e.depth(wire.LinkAddress(s)); st.Count != 1 {
		t.Fatalf("link depth %+v", st)
	}
	e.clock.Add(e.lim.LinkTTL)
	waitFor(t, func() bool {
		_, err := e.q.Stats(context.Background(), wire.LinkAddress(s))
		return errors.Is(err, store.ErrNoMailbox)
	})
	if es, err := e.q.Fetch(context.Background(), wire.LinkAddress(s), 0, 10, e.clock.Now().Add(-time.Hour)); err != nil || len(es) != 0 {
		t.Fatalf("swept link mailbox holds %d envelopes (%v)", len(es), err)
	}
}

func TestLinkReconnect(t *testing.T) {
	e := startRelay(t, Limits{})
	s := linkSecret(5)
	offer := []byte("first")
	n := e.connectLink(s, offer, "")
	bob, _ := e.connect("bob", 1)
	first := bob.fetchLink(s)
	e.clock.Add(time.Minute)
	// The same secret again, without an offer: replaces the connection,
	// keeps the offer and the expiry.
	n2 := e.connectLink(s, nil, "")
	n.expectError(wire.ErrorCode_ERROR_CODE_REPLACED, websocket.StatusNormalClosure)
	if o := bob.fetchLink(s); !bytes.Equal(o.Offer, offer) || o.ExpiresUnixMs != first.ExpiresUnixMs {
		t.Fatalf("after a reconnect: %q %d, want %q %d", o.Offer, o.ExpiresUnixMs, offer, first.ExpiresUnixMs)
	}
	bob.sendEnv(1, []byte("after"), wire.LinkAddress(s))
	if d := n2.deliveries(1); string(d[0].Envelope) != "after" {
		t.Fatalf("reconnected link got %q", d[0].Envelope)
	}
	// The same offer is a reconnect; another one is refused, nothing
	// changed.
	e.connectLink(s, offer, "")
	e.refusedLink(s, []byte("second"), "", wire.ErrorCode_ERROR_CODE_LINK_CONFLICT)
	if o := bob.fetchLink(s); !bytes.Equal(o.Offer, offer) || o.ExpiresUnixMs != first.ExpiresUnixMs {
		t.Fatalf("after a conflict: %q %d", o.Offer, o.ExpiresUnixMs)
	}
}

func TestLinkClose(t *testing.T) {
	e := startRelay(t, Limits{})
	s := linkSecret(6)
	n := e.connectLink(s, []byte("offer"), "")
	bob, _ := e.connect("bob", 1)
	bob.sendEnv(1, []byte("unread"), wire.LinkAddress(s))
	n.deliveries(1)
	n.send(&wire.Frame{Body: &wire.Frame_LinkClose{LinkClose: &wire.LinkClose{}}})
	if f := n.read(); f.GetLinkClosed() == nil {
		t.Fatalf("answer to LinkClose: %v", f)
	}
	if _, err := n.next(5 * time.Second); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after LinkClosed: %v, want a normal close", err)
	}
	e.linkGone(s)
	if o := bob.fetchLink(s); len(o.Offer) != 0 || o.ExpiresUnixMs != 0 {
		t.Fatalf("LinkOffer after LinkClose: %q %d", o.Offer, o.ExpiresUnixMs)
	}
	if r := bob.sendEnv(2, []byte("late"), wire.LinkAddress(s)); r.Statuses[0] != wire.Status_STATUS_NO_MAILBOX {
		t.Fatalf("send after LinkClose: %v", r.Statuses)
	}
	e.linkGone(s)
}

func TestLinkTokenlessLimits(t *testing.T) {
	e := startRelay(t, Limits{})
	target := linkSecret(7)
	e.connectLink(target, nil, "")
	n := e.connectLink(linkSecret(8), nil, "")
	to := wire.LinkAddress(target)
	r := n.sendEnv(1, bytes.Repeat([]byte{1}, wire.MaxLinkEnvelope+1), to)
	if r.Statuses[0] != wire.Status_STATUS_TOO_LARGE {
		t.Fatalf("envelope over MaxLinkEnvelope: %v", r.Statuses)
	}
	before := e.depth(to)
	if before.Count != 0 {
		t.Fatalf("too large envelope stored: %+v", before)
	}
	r = n.sendEnv(2, bytes.Repeat([]byte{1}, wire.MaxLinkEnvelope), to)
	if r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("envelope of MaxLinkEnvelope: %v", r.Statuses)
	}
	// 2 items so far; 14 more make MaxLinkItems, the next is refused.
	many := make([][]byte, wire.MaxLinkItems-2)
	for i := range many {
		many[i] = to
	}
	r = n.sendEnv(3, []byte("x"), many...)
	if len(r.Statuses) != len(many) {
		t.Fatalf("statuses %v", r.Statuses)
	}
	stored := e.depth(to)
	n.send(sendFrame(4, []byte("x"), to))
	n.expectError(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, websocket.StatusPolicyViolation)
	if st := e.depth(to); st != stored {
		t.Fatalf("refused send changed the mailbox: %+v, was %+v", st, stored)
	}
	// A link connection sends to link addresses only.
	bob, _ := e.connect("bob", 1)
	m := e.connectLink(linkSecret(10), nil, "")
	m.send(sendFrame(1, []byte("x"), addr("bob", 1)))
	m.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	bob.quiet(100 * time.Millisecond)
	// Without a token: no LinkFetch, no SetAccess, no SendEphemeral.
	for _, f := range []*wire.Frame{
		{Body: &wire.Frame_LinkFetch{LinkFetch: &wire.LinkFetch{LinkId: make([]byte, 32)}}},
		{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{Mode: wire.AccessMode_ACCESS_MODE_OPEN}}},
		{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{Items: []*wire.Item{{Recipient: addr("bob", 1), Envelope: []byte("e")}}}}},
		{Body: &wire.Frame_AuthLink{AuthLink: &wire.AuthLink{Secret: linkSecret(10)}}},
	} {
		c := e.connectLink(linkSecret(11), nil, "")
		c.send(f)
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	}
	// With a token: the normal limits.
	tl := e.connectLink(linkSecret(12), nil, e.mint("bob", 1))
	if r := tl.sendEnv(1, bytes.Repeat([]byte{1}, 5000), to); r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("token link connection, 5000-byte envelope: %v", r.Statuses)
	}
	for i := range wire.MaxLinkItems {
		if r := tl.sendEnv(byte(2+i), []byte("y"), to); r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("token link connection, item %d: %v", i, r.Statuses)
		}
	}
}

func TestLinkOpenRateLimit(t *testing.T) {
	e := startRelay(t, Limits{LinkOpensPerMinute: 1, LinkOpenBurst: 2})
	e.connectLink(linkSecret(1), nil, "")
	e.connectLink(linkSecret(2), nil, "")
	e.refusedLink(linkSecret(3), nil, "", wire.ErrorCode_ERROR_CODE_RATE_LIMITED)
	e.linkGone(linkSecret(3))
	// With a token the bucket does not apply.
	e.connectLink(linkSecret(4), nil, e.mint("bob", 1))
	// A bad token is refused as at Auth.
	e.refusedLink(linkSecret(5), nil, "not a token", wire.ErrorCode_ERROR_CODE_INVALID_TOKEN)
	wrong := mintFor(t, "bob", 1, "relay:elsewhere", e.clock.Now(), e.clock.Now().Add(time.Hour), issuer)
	e.refusedLink(linkSecret(5), nil, wrong, wire.ErrorCode_ERROR_CODE_WRONG_AUDIENCE)
	expired := mintFor(t, "bob", 1, "relay:"+relayName, e.clock.Now().Add(-2*time.Hour), e.clock.Now().Add(-time.Hour), issuer)
	e.refusedLink(linkSecret(5), nil, expired, wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED)
	e.linkGone(linkSecret(5))
}

func TestLinkCap(t *testing.T) {
	e := startRelay(t, Limits{MaxLinks: 1})
	e.connectLink(linkSecret(1), []byte("a"), "")
	e.refusedLink(linkSecret(2), []byte("b"), "", wire.ErrorCode_ERROR_CODE_RATE_LIMITED)
	e.linkGone(linkSecret(2))
	e.connectLink(linkSecret(1), nil, "") // a reconnect creates nothing
}

func TestLinkAnonymousRefused(t *testing.T) {
	e := startRelay(t, Limits{})
	s := linkSecret(1)
	e.connectLink(s, nil, "")
	c, _ := e.connectAnonymous()
	// The client's encoder refuses it too: written raw.
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(anonFrame(1, goodToken(t), []byte("x"), wire.LinkAddress(s)))
	if err != nil {
		t.Fatal(err)
	}
	c.writeRaw(raw)
	c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
	if st := e.depth(wire.LinkAddress(s)); st.Count != 0 {
		t.Fatalf("anonymous send stored %+v", st)
	}
	// Nor LinkFetch on an anonymous connection.
	c, _ = e.connectAnonymous()
	id := wire.LinkID(s)
	c.send(&wire.Frame{Body: &wire.Frame_LinkFetch{LinkFetch: &wire.LinkFetch{LinkId: id[:]}}})
	c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	// LinkClose on a device connection is unexpected too.
	bob, _ := e.connect("bob", 1)
	bob.send(&wire.Frame{Body: &wire.Frame_LinkClose{LinkClose: &wire.LinkClose{}}})
	bob.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
}

// TestLinkAcrossNodes: a send through node A reaches a link connection on
// node B, through the store and NOTIFY like any mailbox (spec/relay.md
// §17.3, §12).
func TestLinkAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	clk := newClock()
	a := startPGNode(t, dsn, clk)
	b := startPGNode(t, dsn, clk)
	s := linkSecret(1)
	n := b.connectLink(s, []byte("offer"), "")
	bob, _ := a.connect("bob", 1)
	if o := bob.fetchLink(s); string(o.Offer) != "offer" {
		t.Fatalf("LinkOffer through node A: %q", o.Offer)
	}
	if r := bob.sendEnv(1, []byte("cross"), wire.LinkAddress(s)); r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("send through node A: %v", r.Statuses)
	}
	f, err := n.next(crossNodeDelay)
	if err != nil {
		t.Fatalf("no delivery on node B: %v", err)
	}
	if d := f.GetDeliver(); d == nil || string(d.Deliveries[0].Envelope) != "cross" {
		t.Fatalf("node B delivered %v", f)
	}
}

// TestLinkRevoked: a link connection opened with a token is refused and
// closed for its device's revocation, as Auth is (spec/relay.md §17.2);
// one without a token is not affected.
func TestLinkRevoked(t *testing.T) {
	f := &feed{}
	e := startRevokingRelay(t, f, prometheus.NewRegistry(), io.Discard)
	tokLink := e.connectLink(linkSecret(1), nil, e.mint("bob", 1))
	plain := e.connectLink(linkSecret(2), nil, "")
	f.add("bob", 1, e.clock.Now())
	tokLink.expectError(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, websocket.StatusPolicyViolation)
	e.refusedLink(linkSecret(3), nil, e.mint("bob", 1), wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED)
	e.linkGone(linkSecret(3))
	plain.send(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 3}}})
	if fr := plain.read(); fr.GetPong().GetNonce() != 3 {
		t.Fatalf("link connection without a token: %v", fr)
	}
}

// TestLinkNoWakeUp: the pusher never notes a link address (spec/relay.md
// §17.3): a link mailbox has no push registration to wake.
func TestLinkNoWakeUp(t *testing.T) {
	p := &pusher{due: map[string]dueAt{}}
	p.note(wire.LinkAddress(linkSecret(1)))
	if len(p.due) != 0 {
		t.Fatalf("a link address was noted for a wake-up: %v", p.due)
	}
}

// TestLinkMetrics: opened, reopened, closed and expired link mailboxes
// and fetches are counted (spec/relay.md §17.7).
func TestLinkMetrics(t *testing.T) {
	e := startRelay(t, Limits{SweepInterval: 20 * time.Millisecond})
	a := e.connectLink(linkSecret(1), []byte("o"), "")
	e.connectLink(linkSecret(1), nil, "")
	a.expectError(wire.ErrorCode_ERROR_CODE_REPLACED, websocket.StatusNormalClosure)
	c := e.connectLink(linkSecret(2), nil, "")
	c.send(&wire.Frame{Body: &wire.Frame_LinkClose{LinkClose: &wire.LinkClose{}}})
	c.read()
	bob, _ := e.connect("bob", 1)
	bob.fetchLink(linkSecret(1))
	bob.fetchLink(linkSecret(2))
	e.clock.Add(e.lim.LinkTTL)
	waitFor(t, func() bool {
		return testutil.ToFloat64(e.s.m.links.WithLabelValues("expired")) == 1
	})
	for ev, want := range map[string]float64{"opened": 2, "reopened": 1, "closed": 1} {
		if got := testutil.ToFloat64(e.s.m.links.WithLabelValues(ev)); got != want {
			t.Errorf("links_total{event=%q} = %v, want %v", ev, got, want)
		}
	}
	for r, want := range map[string]float64{"found": 1, "none": 1} {
		if got := testutil.ToFloat64(e.s.m.linkFetches.WithLabelValues(r)); got != want {
			t.Errorf("link_fetches_total{result=%q} = %v, want %v", r, got, want)
		}
	}
}
