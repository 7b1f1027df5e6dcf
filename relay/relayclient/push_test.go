package relayclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

// TestSetPushInOrder: answers go to the SetPush frames in order, each with
// its status; a target that breaks the frame rules is refused before
// anything is sent.
func TestSetPushInOrder(t *testing.T) {
	statuses := []wire.PushStatus{wire.PushStatus_PUSH_STATUS_OK, wire.PushStatus_PUSH_STATUS_GATEWAY_UNKNOWN, wire.PushStatus_PUSH_STATUS_DISABLED}
	got := make(chan *wire.SetPush, len(statuses))
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, _ string) {
		writeFrame(ctx, ws, hello())
		for _, st := range statuses {
			f, err := readFrame(ctx, ws, 0)
			if err != nil {
				t.Errorf("fake relay: %v", err)
				return
			}
			got <- f.GetSetPush()
			writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_PushSet{PushSet: &wire.PushSet{Status: st}}})
		}
		readFrame(ctx, ws, 0) // until the client closes
	})
	c, err := dial(t, url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	p256dh := make([]byte, wire.PushP256dhSize)
	p256dh[0] = 4
	_, err = c.SetPush(ctx, &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_WEB_PUSH, Endpoint: "https://push.example/x", P256Dh: p256dh[:10], Auth: make([]byte, 16)})
	if !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("short p256dh: %v, want ErrMalformed", err)
	}
	targets := []*wire.SetPush{
		{Kind: wire.PushKind_PUSH_KIND_WEB_PUSH, Endpoint: "https://push.example/x", P256Dh: p256dh, Auth: make([]byte, 16)},
		{Kind: wire.PushKind_PUSH_KIND_GATEWAY, Endpoint: "https://gw.example", Token: []byte("device")},
		{Kind: wire.PushKind_PUSH_KIND_NONE},
	}
	for i, p := range targets {
		st, err := c.SetPush(ctx, p)
		if err != nil {
			t.Fatalf("SetPush %d: %v", i, err)
		}
		if st != statuses[i] {
			t.Errorf("SetPush %d: status %v, want %v", i, st, statuses[i])
		}
		if g := <-got; g.Kind != p.Kind || g.Endpoint != p.Endpoint {
			t.Errorf("relay got %v, want %v", g, p)
		}
	}
}

// TestDrainCountsDeliveries: Drain returns after Drained, with every
// delivery sent before it counted and on Deliveries; a Drained that
// answers no Drain ends the connection as a protocol violation.
func TestDrainCountsDeliveries(t *testing.T) {
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, _ string) {
		writeFrame(ctx, ws, hello())
		f, err := readFrame(ctx, ws, 0)
		if err != nil || f.GetDrain() == nil {
			t.Errorf("fake relay: want Drain, got %v, %v", f, err)
			return
		}
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Deliver{Deliver: &wire.Deliver{Deliveries: []*wire.Delivery{
			{Id: 1, Envelope: []byte("a"), ArrivedUnixMs: 1}, {Id: 2, Envelope: []byte("b"), ArrivedUnixMs: 1}}}}})
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Deliver{Deliver: &wire.Deliver{Deliveries: []*wire.Delivery{
			{Id: 3, Envelope: []byte("c"), ArrivedUnixMs: 1}}}}})
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Drained{Drained: &wire.Drained{}}})
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Drained{Drained: &wire.Drained{}}})
		readFrame(ctx, ws, 0)
	})
	c, err := dial(t, url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := c.DrainCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("DrainCount = %d, want 3", n)
	}
	if len(c.Deliveries()) != 3 {
		t.Errorf("%d deliveries waiting, want 3", len(c.Deliveries()))
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("a Drained answering no Drain did not end the connection")
	}
	if !errors.Is(c.Err(), ErrProtocol) {
		t.Errorf("Err = %v, want ErrProtocol", c.Err())
	}
}

// TestPingPong: PingPong returns on the Pong to its own nonce only, and
// fails with ctx's error when no Pong comes.
func TestPingPong(t *testing.T) {
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, _ string) {
		writeFrame(ctx, ws, hello())
		f, err := readFrame(ctx, ws, 0)
		if err != nil || f.GetPing() == nil {
			t.Errorf("fake relay: want Ping, got %v, %v", f, err)
			return
		}
		nonce := f.GetPing().Nonce
		if nonce>>63 != 1 {
			t.Errorf("PingPong nonce %#x without the top bit", nonce)
		}
		// A Pong to another nonce first: ignored.
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: nonce + 1}}})
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: nonce}}})
		// The second Ping goes unanswered.
		readFrame(ctx, ws, 0)
		readFrame(ctx, ws, 0)
	})
	c, err := dial(t, url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.PingPong(ctx); err != nil {
		t.Fatalf("PingPong: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if err := c.PingPong(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered PingPong: %v, want DeadlineExceeded", err)
	}
}
