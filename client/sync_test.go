package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/wire"
)

// mailbox returns how many envelopes the relay holds for handle's device.
func (s *servers) mailbox(t *testing.T, handle string, device uint32) int {
	t.Helper()
	st, err := s.q.Stats(ctxT(t), wire.FormatAddress(handle, device))
	if err != nil {
		t.Fatal(err)
	}
	return st.Count
}

// TestSyncReceivesQueued (spec/client.md §16.2): an app woken with mail
// waiting opens the client and calls Sync without reading Messages; Sync
// returns once all of it is in the local inbox and acked at the relay,
// with the count; the app then reads every message, in order, once.
func TestSyncReceivesQueued(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	device := bob.DeviceID()
	bob.Close()
	const n = 50
	for i := range n {
		send(t, alice, "bob", fmt.Sprint("queued ", i))
	}
	waitFor(t, func() bool { return s.mailbox(t, "bob", device) == n })

	bob = s.open(bobDir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := bob.Sync(ctx)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got != n {
		t.Errorf("Sync = %d, want %d", got, n)
	}
	waitFor(t, func() bool { return s.mailbox(t, "bob", device) == 0 })
	for i := range n {
		m := recv(t, bob)
		if want := fmt.Sprint("queued ", i); string(m.Plaintext) != want || m.From != "alice" {
			t.Fatalf("message %d: %q from %s, want %q", i, m.Plaintext, m.From, want)
		}
	}
	noMessage(t, bob, 300*time.Millisecond)

	// Nothing waiting: at once, 0. Later mail is handed over directly.
	if got, err := bob.Sync(ctx); err != nil || got != 0 {
		t.Errorf("second Sync = %d, %v; want 0", got, err)
	}
	send(t, alice, "bob", "live")
	if m := recv(t, bob); string(m.Plaintext) != "live" {
		t.Errorf("after Sync: %q, want live", m.Plaintext)
	}
}

// TestSyncInboxLeftover: messages a previous run stored but the app did
// not take do not hold Sync up (they are handed over after it, first),
// and Sync counts them.
func TestSyncInboxLeftover(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	device := bob.DeviceID()
	// bob is connected but the app reads nothing: the first message is
	// stored and offered, the rest wait at the relay.
	for i := range 3 {
		send(t, alice, "bob", fmt.Sprint("m", i))
	}
	waitFor(t, func() bool {
		n := 0
		bob.store.View(ctxT(t), func(tx localstore.Tx) error {
			var err error
			n, err = tx.CountUndelivered()
			return err
		})
		return n == 1
	})
	if got := s.mailbox(t, "bob", device); got != 3 {
		t.Fatalf("relay holds %d, want 3 (nothing acked)", got)
	}
	bob.Close()

	bob = s.open(bobDir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := bob.Sync(ctx)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got != 3 {
		t.Errorf("Sync = %d, want 3", got)
	}
	for i := range 3 {
		if m := recv(t, bob); string(m.Plaintext) != fmt.Sprint("m", i) {
			t.Fatalf("message %d: %q", i, m.Plaintext)
		}
	}
	noMessage(t, bob, 300*time.Millisecond)
}

// TestSyncBoundedByContext: with the relay unreachable Sync gives up when
// ctx ends, with ctx's error; nothing is lost, and the next Sync gets it
// all. Before Register: ErrNotRegistered; after Close: ErrClosed.
func TestSyncBoundedByContext(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	bob.Close()
	send(t, alice, "bob", "waiting")
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == relay.Path {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	bob = s.open(bobDir)
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := bob.Sync(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with the relay down: %v, want DeadlineExceeded", err)
	}
	s.setIntercept(nil)
	ctx, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if got, err := bob.Sync(ctx); err != nil || got != 1 {
		t.Fatalf("Sync = %d, %v; want 1", got, err)
	}
	if m := recv(t, bob); string(m.Plaintext) != "waiting" {
		t.Errorf("got %q", m.Plaintext)
	}

	fresh := s.open(t.TempDir())
	if _, err := fresh.Sync(ctx); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("Sync before Register: %v, want ErrNotRegistered", err)
	}
	bob.Close()
	if _, err := bob.Sync(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close: %v, want ErrClosed", err)
	}
}
