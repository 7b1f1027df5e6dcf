package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay"
)

// TestConversation: alice and bob, both ways, many messages, in order, on
// SQLite and on PostgreSQL.
func TestConversation(t *testing.T) {
	for _, eng := range []engine{engineSQLite, enginePostgres} {
		t.Run(string(eng), func(t *testing.T) {
			s := startServers(t, eng)
			alice, bob := s.newUser("alice"), s.newUser("bob")
			conversation(t, alice, bob, 30)
		})
	}
}

// conversation sends n rounds: a burst from alice, then a burst from bob,
// each checked in order on the other side.
func conversation(t *testing.T, alice, bob *Client, n int) {
	t.Helper()
	for round := range 3 {
		for _, pair := range [][2]*Client{{alice, bob}, {bob, alice}} {
			from, to := pair[0], pair[1]
			var ids []MessageID
			for i := range n / 3 {
				ids = append(ids, send(t, from, to.Handle(), fmt.Sprintf("%s→%s round %d #%d", from.Handle(), to.Handle(), round, i)))
			}
			for i := range n / 3 {
				m := recv(t, to)
				want := fmt.Sprintf("%s→%s round %d #%d", from.Handle(), to.Handle(), round, i)
				if string(m.Plaintext) != want || m.From != from.Handle() || m.ID != ids[i] || m.To != to.Handle() || m.Sent || m.FromDevice != from.DeviceID() {
					t.Fatalf("got %+v %q, want %q from %s id %s", m, m.Plaintext, want, from.Handle(), ids[i])
				}
			}
		}
	}
}

// TestOffline: bob is offline while alice sends 100 messages; when he comes
// back he gets all 100, in order, once.
func TestOffline(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	bob.Close()
	for i := range 100 {
		send(t, alice, "bob", fmt.Sprintf("offline %d", i))
	}
	bob = s.open(bobDir)
	for i := range 100 {
		m := recv(t, bob)
		if want := fmt.Sprintf("offline %d", i); string(m.Plaintext) != want {
			t.Fatalf("message %d: %q, want %q", i, m.Plaintext, want)
		}
	}
	noMessage(t, bob, 500*time.Millisecond)
	// And again after a restart: nothing is shown twice.
	bob.Close()
	bob = s.open(bobDir)
	noMessage(t, bob, time.Second)
}

// TestWrongPassphrase: a wrong passphrase is a clear error and changes
// nothing; the right one still opens.
func TestWrongPassphrase(t *testing.T) {
	s := startServers(t, engineSQLite)
	c, dir := s.newUserDir("alice")
	c.Close()
	cfg := s.config(dir)
	cfg.Passphrase = []byte("wrong")
	if _, err := Open(ctxT(t), cfg); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	c = s.open(dir)
	if c.Handle() != "alice" || c.DeviceID() != 1 {
		t.Fatalf("reopened: %q %d", c.Handle(), c.DeviceID())
	}
	cfg = s.config(t.TempDir())
	cfg.Create = false
	if _, err := Open(ctxT(t), cfg); !errors.Is(err, ErrNoStore) {
		t.Fatalf("no store: %v", err)
	}
}

var _ = bytes.Equal

// TestQueuedSendSurvivesRestart: a message sent while the relay is
// unreachable stays queued across a restart of the sender and is delivered
// once when the relay is back.
func TestQueuedSendSurvivesRestart(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, aliceDir := s.newUserDir("alice")
	bob := s.newUser("bob")
	alice.Close()
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == relay.Path {
			http.Error(w, "relay down", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	alice = s.open(aliceDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	id, err := alice.Send(ctx, "bob", []byte("queued"))
	cancel()
	if !errors.Is(err, ErrQueued) || id == (MessageID{}) {
		t.Fatalf("send without a relay: %s, %v; want an id and ErrQueued", id, err)
	}
	if q, _ := localState(t, alice, "bob"); q != 1 {
		t.Fatalf("%d envelopes queued, want 1", q)
	}
	alice.Close()
	s.setIntercept(nil)
	alice = s.open(aliceDir)
	m := recv(t, bob)
	if string(m.Plaintext) != "queued" || m.ID != id {
		t.Fatalf("got %+v", m)
	}
	noMessage(t, bob, 500*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if q, _ := localState(t, alice, "bob"); q == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue was not emptied after the relay stored the message")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeysAfterClose: work that outlives Close (a token fetch started
// before it) finds the keys gone, not freed memory.
func TestKeysAfterClose(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	id := alice.identity()
	if sig := id.Sign("label", []byte("msg")); len(sig) != 64 {
		t.Fatalf("signature of %d bytes", len(sig))
	}
	alice.Close()
	if sig := id.Sign("label", []byte("msg")); sig != nil {
		t.Fatal("signed after Close")
	}
	if _, _, err := id.deviceKeys(); !errors.Is(err, ErrClosed) {
		t.Fatalf("device keys after Close: %v", err)
	}
	if _, err := alice.Send(ctxT(t), "alice", []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after Close: %v", err)
	}
	if _, ok := <-alice.Messages(); ok {
		t.Fatal("Messages open after Close")
	}
}

// TestUnackedMessageOfferedAgain: a message the application took but did
// not ack (it crashed, or closed first) is offered again after the next
// Open, with the same id; the next message waits for the ack.
func TestUnackedMessageOfferedAgain(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	first := send(t, alice, "bob", "first")
	send(t, alice, "bob", "second")
	var m *Message
	select {
	case m = <-bob.Messages():
	case <-time.After(20 * time.Second):
		t.Fatal("no message")
	}
	if m.ID != first {
		t.Fatalf("got %q first", m.Plaintext)
	}
	noMessage(t, bob, 300*time.Millisecond) // "second" waits for the ack
	bob.Close()
	bob = s.open(bobDir)
	if m := recv(t, bob); m.ID != first || string(m.Plaintext) != "first" {
		t.Fatalf("after reopening: %q, want the unacked first message again", m.Plaintext)
	}
	if m := recv(t, bob); string(m.Plaintext) != "second" {
		t.Fatalf("then %q", m.Plaintext)
	}
	noMessage(t, bob, 300*time.Millisecond)
	bob.Close()
	bob = s.open(bobDir)
	noMessage(t, bob, 500*time.Millisecond)
}
