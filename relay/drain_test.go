package relay

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

var drainFrame = &wire.Frame{Body: &wire.Frame_Drain{Drain: &wire.Drain{}}}

// A device that connects and sends Drain gets every envelope its mailbox
// held, through the delivery window as it acks, and then Drained, after
// the last Deliver (spec/push.md §8).
func TestDrainAfterQueuedMail(t *testing.T) {
	e := startRelay(t, Limits{DeliveryWindow: 3})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()
	a, _ := e.connect("alice", 1)
	for i := range 7 {
		a.sendEnv(byte(i), []byte{byte(i)}, bob)
	}
	waitFor(t, func() bool { return e.depth(bob).Count == 7 })

	b, _ = e.connect("bob", 1)
	b.send(drainFrame)
	var got []byte
	for {
		f := b.read()
		if f.GetDrained() != nil {
			break
		}
		d := f.GetDeliver()
		if d == nil {
			t.Fatalf("want Deliver or Drained, got %v", f)
		}
		for _, dl := range d.Deliveries {
			got = append(got, dl.Envelope[0])
			b.ack(dl.Id)
		}
	}
	if len(got) != 7 {
		t.Fatalf("Drained after %d deliveries, want 7: %v", len(got), got)
	}
	for i, v := range got {
		if v != byte(i) {
			t.Fatalf("delivery %d is envelope %d", i, v)
		}
	}
	b.quiet(100 * time.Millisecond)
}

// Drain on an empty mailbox is answered at once; several are answered
// one each, in order.
func TestDrainEmpty(t *testing.T) {
	e := startRelay(t, Limits{})
	b, _ := e.connect("bob", 1)
	for range 3 {
		b.send(drainFrame)
	}
	for range 3 {
		if f := b.read(); f.GetDrained() == nil {
			t.Fatalf("want Drained, got %v", f)
		}
	}
	b.quiet(100 * time.Millisecond)
}

// A device that does not ack is never told it is drained while its
// window is full; more than maxDrains unanswered Drains end the
// connection with rate_limited.
func TestDrainWaitsForAcks(t *testing.T) {
	e := startRelay(t, Limits{DeliveryWindow: 2})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()
	a, _ := e.connect("alice", 1)
	for i := range 3 {
		a.sendEnv(byte(i), []byte{byte(i)}, bob)
	}
	b, _ = e.connect("bob", 1)
	b.send(drainFrame)
	ds := b.deliveries(2)
	b.quiet(200 * time.Millisecond) // the third waits for an ack, and so does Drained
	b.ack(ds[0].Id)
	if d := b.deliveries(1); d[0].Envelope[0] != 2 {
		t.Fatalf("third delivery %d", d[0].Envelope[0])
	}
	if f := b.read(); f.GetDrained() == nil {
		t.Fatalf("want Drained, got %v", f)
	}
	for range maxDrains + 1 {
		b.send(drainFrame)
	}
	b.expectError(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, websocket.StatusPolicyViolation)
}

// Drain is for authenticated connections: an anonymous one that sends
// it is refused.
func TestDrainAnonymousRefused(t *testing.T) {
	e := startRelay(t, Limits{})
	c := e.dialRaw()
	c.send(&wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}})
	if f := c.read(); f.GetHello() == nil {
		t.Fatalf("answer to AuthAnonymous: %v", f)
	}
	c.send(drainFrame)
	c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
}
