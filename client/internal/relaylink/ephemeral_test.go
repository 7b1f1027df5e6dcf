package relaylink

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// OnEphemeral gets the ephemeral envelopes sent to the device, in order
// (spec/relay.md §7.4); SendEphemeral sends on the current connection.
func TestEphemeral(t *testing.T) {
	e := startRelay(t)
	got := make(chan []byte, 64)
	bcfg := linkConfig(t, e, "bob", 1, discard)
	bcfg.OnEphemeral = func(env []byte) { got <- env }
	bob := start(t, bcfg)
	alice := start(t, linkConfig(t, e, "alice", 1, discard))
	waitConnected(t, bob)
	waitConnected(t, alice)
	const n = 5
	for i := range n {
		if err := alice.SendEphemeral(t.Context(), item("bob", 1, fmt.Sprintf("typing %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case env := <-got:
			if want := fmt.Sprintf("typing %d", i); string(env) != want {
				t.Fatalf("envelope %d: %q, want %q", i, env, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d ephemeral envelopes", i, n)
		}
	}
	if d := e.depth("bob", 1); d != 0 {
		t.Fatalf("bob's mailbox holds %d", d)
	}
	// Refused as a frame: nothing sent.
	if err := alice.SendEphemeral(t.Context(), nil); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("no items: %v", err)
	}
}

// Without a connection, SendEphemeral returns ErrNotConnected at once and
// sends nothing later; after Close, ErrClosed.
func TestEphemeralNotConnected(t *testing.T) {
	e := startRelay(t)
	cfg := linkConfig(t, e, "alice", 1, discard)
	cfg.URL = "wss://127.0.0.1:1/v1/relay" // nothing listens
	l := start(t, cfg)
	start := time.Now()
	err := l.SendEphemeral(context.Background(), item("bob", 1, "typing"))
	if !errors.Is(err, ErrNotConnected) {
		t.Fatalf("SendEphemeral: %v, want ErrNotConnected", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("SendEphemeral took %v", d)
	}
	l.Close()
	if err := l.SendEphemeral(context.Background(), item("bob", 1, "typing")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// A link whose relay went away returns ErrNotConnected at once, and the
// signal is not sent when the link is back: nothing is queued or resent
// (spec/relay.md §7.4).
func TestEphemeralNotResent(t *testing.T) {
	e := startRelay(t)
	got := make(chan []byte, 64)
	bcfg := linkConfig(t, e, "bob", 1, discard)
	bcfg.OnEphemeral = func(env []byte) { got <- env }
	bob := start(t, bcfg)
	alice := start(t, linkConfig(t, e, "alice", 1, discard))
	waitConnected(t, bob)
	waitConnected(t, alice)
	e.stop()
	eventually(t, "alice disconnected", func() bool { return !alice.Connected() })
	start := time.Now()
	if err := alice.SendEphemeral(t.Context(), item("bob", 1, "lost")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("SendEphemeral while down: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("SendEphemeral took %v", d)
	}
	e.start()
	waitConnected(t, alice)
	waitConnected(t, bob)
	// Both links are up, but the relay may route to bob's new connection
	// a moment after bob saw its Hello: a signal sent before is dropped,
	// as ephemeral signals may be. Send again until one arrives.
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for arrived := false; !arrived; {
		if err := alice.SendEphemeral(t.Context(), item("bob", 1, "after")); err != nil {
			t.Fatal(err)
		}
		select {
		case env := <-got:
			if string(env) != "after" {
				t.Fatalf("bob got %q, want only signals sent while connected", env)
			}
			arrived = true
		case <-tick.C:
		case <-deadline:
			t.Fatal("no signal after reconnecting")
		}
	}
	for {
		select {
		case env := <-got:
			if string(env) != "after" {
				t.Fatalf("unexpected %q", env)
			}
		case <-time.After(300 * time.Millisecond):
			return
		}
	}
}
