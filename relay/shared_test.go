package relay

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// sharedFrame is a shared send of body to each of to (spec/relay.md §16).
func sharedFrame(id byte, body []byte, to ...[]byte) *wire.Frame {
	m := &wire.Send{MessageId: msgID(id), SharedBody: body}
	for _, r := range to {
		m.Items = append(m.Items, &wire.Item{Recipient: r})
	}
	return &wire.Frame{Body: &wire.Frame_Send{Send: m}}
}

// result reads frames until a SendResult, holding the others.
func (c *client) result() *wire.SendResult {
	c.t.Helper()
	var held []*wire.Frame
	defer func() { c.held = append(c.held, held...) }()
	for {
		f, err := c.next(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for SendResult: %v", err)
		}
		if r, ok := f.Body.(*wire.Frame_SendResult); ok {
			return r.SendResult
		}
		if e, ok := f.Body.(*wire.Frame_Error); ok {
			c.t.Fatalf("Error %v", e.Error.Code)
		}
		held = append(held, f)
	}
}

func (e *relayEnv) bodies() store.BodyStats {
	e.t.Helper()
	st, err := e.q.BodyStats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// A shared send is stored once and delivered to each recipient as an
// ordinary Delivery, pushed to connected devices and fetched by the
// others, again after a reconnect until acked; the body goes with the
// last ack; a retry stores nothing; the metrics count it.
func TestSharedSend(t *testing.T) {
	e := startRelay(t, Limits{})
	bob1, bob2, carol := addr("bob", 1), addr("bob", 2), addr("carol", 1)
	b1, _ := e.connect("bob", 1)
	b2, _ := e.connect("bob", 2)
	b2.ws.CloseNow()
	c, _ := e.connect("carol", 1)
	c.ws.CloseNow()
	a, _ := e.connect("alice", 1)
	body := bytes.Repeat([]byte{0xb0}, 3000)
	a.send(sharedFrame(1, body, bob1, bob2, carol, addr("nobody", 1), addr("alice", 1)))
	r := a.result()
	want := []wire.Status{wire.Status_STATUS_STORED, wire.Status_STATUS_STORED, wire.Status_STATUS_STORED, wire.Status_STATUS_NO_MAILBOX, wire.Status_STATUS_STORED}
	if r.Duplicate || fmt.Sprint(r.Statuses) != fmt.Sprint(want) {
		t.Fatalf("answer %v", r)
	}
	if st := e.bodies(); st != (store.BodyStats{Count: 1, Bytes: 3000, Refs: 4}) {
		t.Fatalf("bodies %+v", st)
	}
	// Pushed to bob's connected device, and to the sender's own.
	d := b1.deliveries(1)[0]
	if !bytes.Equal(d.Envelope, body) {
		t.Fatal("bob 1 was delivered another envelope")
	}
	b1.ack(d.Id)
	if da := a.deliveries(1)[0]; !bytes.Equal(da.Envelope, body) {
		t.Fatal("alice was delivered another envelope")
	} else {
		a.ack(da.Id)
	}
	// A retry: the first answer, nothing stored.
	a.send(sharedFrame(1, body, bob1, bob2, carol, addr("nobody", 1), addr("alice", 1)))
	if again := a.result(); !again.Duplicate || fmt.Sprint(again.Statuses) != fmt.Sprint(want) {
		t.Fatalf("retry answer %v", again)
	}
	waitFor(t, func() bool { return e.bodies().Refs == 2 })
	// carol fetches it at connect, and again after a reconnect without ack.
	for range 2 {
		c, _ = e.connect("carol", 1)
		if d := c.deliveries(1)[0]; !bytes.Equal(d.Envelope, body) {
			t.Fatal("carol was delivered another envelope")
		}
		c.ws.CloseNow()
	}
	c, _ = e.connect("carol", 1)
	c.ack(c.deliveries(1)[0].Id)
	b2, _ = e.connect("bob", 2)
	b2.ack(b2.deliveries(1)[0].Id)
	waitFor(t, func() bool { return e.bodies() == store.BodyStats{} })
	for _, x := range [][]byte{bob1, bob2, carol} {
		if st := e.depth(x); st != (store.Stats{}) {
			t.Fatalf("depth %+v after the acks", st)
		}
	}
	m := e.s.m
	got := []float64{testutil.ToFloat64(m.sharedSends), testutil.ToFloat64(m.sharedRecipients),
		testutil.ToFloat64(m.sharedBodyBytes), testutil.ToFloat64(m.sharedEachBytes)}
	if fmt.Sprint(got) != fmt.Sprint([]float64{1, 4, 3000, 12000}) {
		t.Fatalf("shared metrics %v", got)
	}
}

// Frame rules for shared sends reach the relay as malformed frames, and
// the quota and the caps count the body per recipient.
func TestSharedSendRefused(t *testing.T) {
	e := startRelay(t, Limits{MaxEnvelope: 100, MaxQueueCount: 2})
	// The sender's own other device: exempt from the quotas (§6.1), so
	// that the queue cap decides.
	bob := addr("alice", 2)
	b, _ := e.connect("alice", 2)
	b.ws.CloseNow()
	a, _ := e.connect("alice", 1)
	// Too large: every item too_large, nothing stored.
	a.send(sharedFrame(1, bytes.Repeat([]byte{1}, 101), bob, bob))
	if r := a.result(); r.Statuses[0] != wire.Status_STATUS_TOO_LARGE || r.Statuses[1] != wire.Status_STATUS_TOO_LARGE {
		t.Fatalf("answer %v", r)
	}
	// Three references to one mailbox of cap 2: the third is queue_full.
	a.send(sharedFrame(2, []byte("x"), bob, bob, bob))
	if r := a.result(); r.Statuses[2] != wire.Status_STATUS_QUEUE_FULL || r.Statuses[1] != wire.Status_STATUS_STORED {
		t.Fatalf("answer %v", r)
	}
	if st := e.depth(bob); st != (store.Stats{Count: 2, Bytes: 2}) {
		t.Fatalf("depth %+v", st)
	}
	// An envelope on an item of a shared send is malformed.
	f := sharedFrame(3, []byte("x"), bob)
	f.GetSend().Items[0].Envelope = []byte("y")
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	a.writeRaw(raw)
	a.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, 1002)
	if st := e.depth(bob); st.Count != 2 {
		t.Fatalf("a malformed shared send changed the queue: %+v", st)
	}
}

// relayclient's shared sends, authenticated and anonymous (one token for
// the whole send), and SplitShared.
func TestRelayclientShared(t *testing.T) {
	e := startRelay(t, Limits{})
	var to [][]byte
	var conns []*client
	for i := range 6 {
		to = append(to, addr(fmt.Sprintf("member%d", i/2), uint32(i%2+1)))
		c, _ := e.connect(fmt.Sprintf("member%d", i/2), uint32(i%2+1))
		conns = append(conns, c)
	}
	tlsCfg := e.srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := relayclient.Dial(ctx, e.url, tlsCfg, e.mint("alice", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	r, err := c.SendShared(ctx, [wire.MessageIDSize]byte{1}, []byte("to the group"), to)
	if err != nil || len(r.Statuses) != 6 || r.Duplicate {
		t.Fatalf("SendShared: %v %v", r, err)
	}
	anon, _, err := relayclient.DialAnonymous(ctx, e.url, tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.CloseNow()
	items := make([]*wire.Item, len(to))
	for i, x := range to {
		items[i] = &wire.Item{Recipient: x}
	}
	tok := goodToken(t)
	for _, dup := range []bool{false, true} {
		r, err := anon.SendSharedAnonymous(ctx, [wire.MessageIDSize]byte{2}, tok, []byte("anonymous"), items)
		if err != nil || r.Duplicate != dup || r.Statuses[5] != wire.Status_STATUS_STORED {
			t.Fatalf("SendSharedAnonymous: %v %v", r, err)
		}
	}
	for _, m := range conns {
		ds := m.deliveries(2)
		if string(ds[0].Envelope) != "to the group" || string(ds[1].Envelope) != "anonymous" {
			t.Fatalf("delivered %q %q", ds[0].Envelope, ds[1].Envelope)
		}
	}

	// SplitShared: every group fits the frame cap and MaxSharedRecipients.
	many := make([]*wire.Item, 4500)
	for i := range many {
		many[i] = &wire.Item{Recipient: addr(fmt.Sprintf("m%04d", i/2), uint32(i%2+1)), AccessKey: bytes.Repeat([]byte{1}, wire.AccessKeySize)}
	}
	const bodyLen = 200 << 10
	groups, err := relayclient.SplitShared(many, bodyLen, wire.DefaultMaxFrame, true)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range groups {
		f := &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: make([]byte, 16), Items: g,
			SharedBody: make([]byte, bodyLen), SendToken: make([]byte, wire.SendTokenSize)}}}
		b, err := wire.Encode(f)
		if err != nil || len(b) > wire.DefaultMaxFrame || len(g) > wire.MaxSharedRecipients {
			t.Fatalf("group of %d: %d bytes, %v", len(g), len(b), err)
		}
		n += len(g)
	}
	if n != len(many) || len(groups) < 2 {
		t.Fatalf("%d groups of %d items", len(groups), n)
	}
	if _, err := relayclient.SplitShared(many[:1], wire.DefaultMaxFrame, wire.DefaultMaxFrame, false); err == nil {
		t.Fatal("a body over the frame cap was split")
	}
}

// A shared send through one node of two sharing a PostgreSQL database
// (spec/relay.md §12, §16): pushed to a recipient connected to each node,
// acked on each, and the body deleted with the last ack.
func TestSharedSendTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	clk := newClock()
	n1, n2 := startPGNode(t, dsn, clk), startPGNode(t, dsn, clk)
	b, _ := n2.connect("bob", 1)
	c, _ := n1.connect("carol", 1)
	a, _ := n1.connect("alice", 1)
	body := bytes.Repeat([]byte{0x5b}, 500)
	a.send(sharedFrame(1, body, addr("bob", 1), addr("carol", 1)))
	if r := a.result(); r.Statuses[0] != wire.Status_STATUS_STORED || r.Statuses[1] != wire.Status_STATUS_STORED {
		t.Fatalf("answer %v", r)
	}
	ctx := context.Background()
	if st, err := n1.pq.BodyStats(ctx); err != nil || st != (store.BodyStats{Count: 1, Bytes: 500, Refs: 2}) {
		t.Fatalf("bodies %+v, %v", st, err)
	}
	for _, x := range []*client{b, c} {
		d := x.deliveries(1)[0]
		if !bytes.Equal(d.Envelope, body) {
			t.Fatal("delivered another envelope")
		}
		x.ack(d.Id)
	}
	waitFor(t, func() bool {
		st, err := n2.pq.BodyStats(ctx)
		return err == nil && st == store.BodyStats{}
	})
}

// A shared send with items over quota is split (spec/relay.md §7.2,
// §16.2): the admitted items are stored as ordinary envelopes, the others
// answered quota; a retry under the same id stores only those.
func TestSharedSendSplit(t *testing.T) {
	e := startRelay(t, Limits{MaxQueueCount: 20}) // a share of 2 per mailbox
	bob, carol := addr("bob", 1), addr("carol", 1)
	b, _ := e.connect("bob", 1)
	c, _ := e.connect("carol", 1)
	a, _ := e.connect("alice", 1)
	a.sendEnv(1, []byte("fills alice's share of bob"), bob, bob)
	ds := b.deliveries(2)
	body := []byte("split group message")
	a.send(sharedFrame(2, body, carol, bob))
	r := a.result()
	if r.Duplicate || r.Statuses[0] != wire.Status_STATUS_STORED || r.Statuses[1] != wire.Status_STATUS_QUOTA || r.RetryAfterMs == 0 {
		t.Fatalf("answer %v", r)
	}
	if st := e.bodies(); st != (store.BodyStats{}) {
		t.Fatalf("a split send stored a shared body: %+v", st)
	}
	if d := c.deliveries(1)[0]; !bytes.Equal(d.Envelope, body) {
		t.Fatal("carol was delivered another envelope")
	}
	b.ack(ds[0].Id, ds[1].Id)
	waitFor(t, func() bool { return e.depth(bob).Count == 0 })
	// The share frees at the next over-share item once the mailbox's depth
	// is a second old (spec/relay.md §6.1).
	time.Sleep(1100 * time.Millisecond)
	a.send(sharedFrame(2, body, carol, bob))
	r = a.result()
	if r.Duplicate || r.Statuses[0] != wire.Status_STATUS_STORED || r.Statuses[1] != wire.Status_STATUS_STORED || r.RetryAfterMs != 0 {
		t.Fatalf("retry answer %v", r)
	}
	if d := b.deliveries(1)[0]; !bytes.Equal(d.Envelope, body) {
		t.Fatal("the retry delivered another envelope")
	}
	c.quiet(200 * time.Millisecond)
	if st := e.depth(carol); st.Count != 1 {
		t.Fatalf("after the retry carol holds %d, want 1", st.Count)
	}
}
