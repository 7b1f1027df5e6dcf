package relay

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

// parked reports whether the reader of the connection of address a is
// handed to the poller (it has no goroutine then).
func (e *relayEnv) parked(a []byte) bool {
	e.s.mu.Lock()
	c := e.s.conns[string(a)]
	e.s.mu.Unlock()
	if c == nil || c.pc == nil {
		return false
	}
	pc := c.pc
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.parked
}

// waitParked waits until the connection of address a parks.
func (e *relayEnv) waitParked(a []byte) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !e.parked(a) {
		if time.Now().After(deadline) {
			e.t.Fatalf("connection %q did not park", a)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestParkedReader checks that an idle connection parks (its reader hands
// the socket to the poller) and that a parked connection still reads
// frames, receives deliveries, and ends when the client leaves or the
// relay shuts down.
func TestParkedReader(t *testing.T) {
	if !canPark {
		t.Skip("no poller on this system")
	}
	e := startRelay(t, Limits{})
	alice, _ := e.connect("alice", 1)
	bob, _ := e.connect("bob", 1)
	e.waitParked(addr("alice", 1))

	// A frame wakes the reader, which answers it and parks again.
	for i := range 3 {
		alice.send(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: uint64(i + 1)}}})
		f := alice.read()
		if p, ok := f.Body.(*wire.Frame_Pong); !ok || p.Pong.Nonce != uint64(i+1) {
			t.Fatalf("answer to Ping %d: %v", i+1, f)
		}
		e.waitParked(addr("alice", 1))
	}

	// A delivery reaches a parked connection (the writer needs no reader)
	// and its Ack wakes the reader.
	e.waitParked(addr("bob", 1))
	if r := alice.sendEnv(1, []byte("to bob"), addr("bob", 1)); len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("send: %v", r)
	}
	ds := bob.deliveries(1)
	bob.ack(ds[0].Id)
	waitFor(t, func() bool { return e.depth(addr("bob", 1)).Count == 0 })

	// The client leaves while parked: the reader ends and the connection
	// is unregistered.
	e.waitParked(addr("bob", 1))
	bob.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return e.s.openConns() == 1 })

	// The relay shuts down while alice is parked: she gets the Error, and
	// Shutdown returns (every reader ended).
	e.waitParked(addr("alice", 1))
	done := make(chan struct{})
	go func() { e.stop(); close(done) }()
	alice.expectError(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, websocket.StatusGoingAway)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}

// TestParkedSilentClient checks that a parked connection whose client no
// longer reads (it never answers the close handshake, so its socket never
// becomes readable) still ends: closing the connection resumes the parked
// reader, and Shutdown returns.
func TestParkedSilentClient(t *testing.T) {
	if !canPark {
		t.Skip("no poller on this system")
	}
	e := startRelay(t, Limits{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{
		HTTPClient: e.srv.Client(), Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	b, _ := wire.Encode(&wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: e.mint("carol", 1)}}})
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); err != nil { // Hello
		t.Fatal(err)
	}
	// From here on nothing reads ws.
	e.waitParked(addr("carol", 1))
	start := time.Now()
	e.stop() // fails the test if Shutdown does not return within 10 s
	if e.s.openConns() != 0 {
		t.Errorf("%d connections open after Shutdown", e.s.openConns())
	}
	t.Logf("Shutdown took %v", time.Since(start).Round(time.Millisecond))
}
