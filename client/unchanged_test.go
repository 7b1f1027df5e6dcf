package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// front is a second door to the servers for one client: it counts that
// client's directory lookups and checkpoint fetches, and may answer the
// checkpoint itself.
type front struct {
	url         string
	lookups     atomic.Int64 // GET /v2/accounts/{handle}
	checkpoints atomic.Int64 // GET /v2/log/checkpoint
	mu          sync.Mutex
	checkpoint  []byte // if set, the checkpoint it answers instead
}

// newFront starts a front for s with s's TLS certificate (so the same
// pin).
func (s *servers) newFront(t *testing.T) *front {
	t.Helper()
	f := &front{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/accounts/") && !strings.HasSuffix(r.URL.Path, "/history"):
			f.lookups.Add(1)
		case r.Method == http.MethodGet && r.URL.Path == "/v2/log/checkpoint":
			f.checkpoints.Add(1)
			f.mu.Lock()
			forged := f.checkpoint
			f.mu.Unlock()
			if forged != nil {
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(api.CheckpointResponse{Checkpoint: string(forged)})
				return
			}
		}
		s.srv.Config.Handler.ServeHTTP(w, r)
	}))
	srv.TLS = s.srv.TLS
	srv.StartTLS()
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// counts returns the lookups and checkpoint fetches since the last call.
func (f *front) counts() (lookups, checkpoints int64) {
	return f.lookups.Swap(0), f.checkpoints.Swap(0)
}

// answer makes the front answer the checkpoint with signed (nil: the key
// server's).
func (f *front) answer(signed []byte) {
	f.mu.Lock()
	f.checkpoint = signed
	f.mu.Unlock()
}

// userVia opens a client that reaches the servers through f and
// registers handle.
func (s *servers) userVia(t *testing.T, f *front, handle string, edit func(*Config)) *Client {
	t.Helper()
	cfg := s.config(t.TempDir())
	cfg.KeyServer = f.url
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Register(ctx, handle); err != nil {
		t.Fatalf("register %s: %v", handle, err)
	}
	return c
}

// signCheckpoint signs a checkpoint of the directory's log over size and
// root, timestamped at, with the servers' log key: what a key server
// could serve.
func (s *servers) signCheckpoint(t *testing.T, size int64, root tlog.Hash, at time.Time) []byte {
	t.Helper()
	origin := serverName + directory.OriginSuffix
	ls, err := kt.NewSigner(origin, s.logKey)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := kt.NewTimestampSigner(origin, s.logKey, at)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := kt.SignCheckpoint(ls, origin, size, root, ts)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// recvText waits for the next message of c and checks its text.
func recvText(t *testing.T, c *Client, text string) *Message {
	t.Helper()
	m := recv(t, c)
	if string(m.Plaintext) != text {
		t.Fatalf("%s/%d got %q, want %q", c.Handle(), c.DeviceID(), m.Plaintext, text)
	}
	return m
}

// TestSendUnchangedDirectory (spec/client.md §6.1, "Unchanged
// directory"): while the directory does not change, a Send fetches the
// checkpoint once instead of looking both accounts up; a device added to
// the peer's account or to this one grows the directory, and the next
// Send looks both up again and reaches it.
func TestSendUnchangedDirectory(t *testing.T) {
	s := startServers(t, engineSQLite)
	f := s.newFront(t)
	alice := s.userVia(t, f, "alice", nil)
	bob := s.newUser("bob")

	send(t, alice, "bob", "one")
	recvText(t, bob, "one")
	if l, _ := f.counts(); l == 0 {
		t.Fatal("the first send looked nothing up")
	}
	send(t, alice, "bob", "two")
	recvText(t, bob, "two")
	if l, c := f.counts(); l != 0 || c != 1 {
		t.Fatalf("send in an unchanged directory: %d lookups, %d checkpoint fetches; want 0 and 1", l, c)
	}

	// A device added to bob's account: the checkpoint grew.
	bob2 := s.restoreDevice(t, bob)
	send(t, alice, "bob", "three")
	for _, c := range []*Client{bob, bob2} {
		recvText(t, c, "three")
	}
	if l, c := f.counts(); l != 2 || c != 1 {
		t.Fatalf("send after bob's directory changed: %d lookups, %d checkpoint fetches; want 2 and 1", l, c)
	}
	send(t, alice, "bob", "four")
	for _, c := range []*Client{bob, bob2} {
		recvText(t, c, "four")
	}
	if l, c := f.counts(); l != 0 || c != 1 {
		t.Fatalf("send in the unchanged directory again: %d lookups, %d checkpoint fetches; want 0 and 1", l, c)
	}

	// A device added to alice's own account, approved by her: it gets
	// the sent copy of the next message.
	alice2 := s.restoreDevice(t, alice)
	id := send(t, alice, "bob", "five")
	for _, c := range []*Client{bob, bob2} {
		recvText(t, c, "five")
	}
	if m := recvText(t, alice2, "five"); !m.Sent || m.ID != id {
		t.Fatalf("alice's new device got %+v", m)
	}
}

// TestSendUnchangedDirectoryRefused: a checkpoint that would let a Send
// keep the key sets it holds is refused as a lookup's would be, and
// nothing is queued or pinned: one signed over the held size and root
// but too old (ErrStale), one of the pinned size with another root (a
// fork, ErrSecurity), and a replay of the held one after the pin moved
// on (ErrStale).
func TestSendUnchangedDirectoryRefused(t *testing.T) {
	s := startServers(t, engineSQLite)
	f := s.newFront(t)
	alice := s.userVia(t, f, "alice", func(c *Config) { c.MaxCheckpointAge = time.Hour })
	bob := s.newUser("bob")
	send(t, alice, "bob", "one")
	recvText(t, bob, "one")
	held := alice.pin
	sign := func(size int64, root tlog.Hash, at time.Time) []byte { return s.signCheckpoint(t, size, root, at) }
	var otherRoot tlog.Hash
	rand.Read(otherRoot[:])

	refused := func(name string, signed []byte, want error) {
		t.Helper()
		q0, n0 := localState(t, alice, "bob")
		pin := alice.pin
		f.answer(signed)
		defer f.answer(nil)
		f.counts()
		_, err := alice.Send(ctxT(t), "bob", []byte(name))
		if !errors.Is(err, want) || (want != ErrSecurity && errors.Is(err, ErrSecurity)) {
			t.Fatalf("%s: send: %v, want %v", name, err, want)
		}
		if l, c := f.counts(); l != 0 || c == 0 {
			t.Fatalf("%s: %d lookups, %d checkpoint fetches; want none and some", name, l, c)
		}
		if q, n := localState(t, alice, "bob"); q != q0 || n != n0 {
			t.Fatalf("%s: state changed: %d queued, %d sessions, was %d, %d", name, q, n, q0, n0)
		}
		if alice.pin != pin {
			t.Fatalf("%s: the pin moved", name)
		}
	}
	refused("too old", sign(held.Size, held.Root, time.Now().Add(-2*time.Hour)), ErrStale)
	refused("forked", sign(held.Size, otherRoot, time.Now()), ErrSecurity)

	// The pin moves on (alice looks carol up after carol registered);
	// the key server replays the checkpoint alice's key sets were
	// verified under.
	s.newUser("carol")
	if _, err := alice.lookup(ctxT(t), "carol", true); err != nil {
		t.Fatal(err)
	}
	if alice.pin.Size <= held.Size {
		t.Fatalf("pin of size %d after carol registered, was %d", alice.pin.Size, held.Size)
	}
	refused("replayed", held.Signed, ErrStale)

	// The key server's own checkpoint: the directory changed, so both
	// accounts are looked up, and the message goes.
	send(t, alice, "bob", "two")
	recvText(t, bob, "two")
}

// TestPinLaterTimestamp (spec/client.md §6.1 step 6, spec/transparency.md
// §7.1 step 4): of two checkpoints of the pinned size, the one the log key
// timestamped later is pinned, in memory and in the store; an earlier
// signature of the same tree leaves the pin as it was.
func TestPinLaterTimestamp(t *testing.T) {
	s := startServers(t, engineSQLite)
	f := s.newFront(t)
	alice := s.userVia(t, f, "alice", func(c *Config) { c.MaxCheckpointAge = time.Hour })
	bob := s.newUser("bob")
	send(t, alice, "bob", "one")
	recvText(t, bob, "one")
	held := alice.pin
	sign := func(at time.Time) []byte { return s.signCheckpoint(t, held.Size, held.Root, at) }
	stored := func() string {
		t.Helper()
		var text []byte
		err := alice.store.View(ctxT(t), func(tx localstore.Tx) error {
			var err error
			text, _, err = tx.Checkpoint()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(text)
	}
	if stored() != string(held.Signed) {
		t.Fatal("the stored pin is not the one in memory")
	}

	// An earlier signature of the pinned tree: used, not pinned.
	earlier := sign(held.Time.Add(-time.Minute))
	f.answer(earlier)
	send(t, alice, "bob", "two")
	recvText(t, bob, "two")
	if alice.pin != held || stored() != string(held.Signed) {
		t.Fatalf("an earlier signature of size %d moved the pin", held.Size)
	}

	// A later one (the key server re-signs its tree every
	// checkpoint_refresh): pinned.
	later := sign(held.Time.Add(time.Minute))
	f.answer(later)
	send(t, alice, "bob", "three")
	recvText(t, bob, "three")
	f.answer(nil)
	if alice.pin.Size != held.Size || !alice.pin.Time.After(held.Time) {
		t.Fatalf("pin of size %d at %v after a later signature, want size %d after %v", alice.pin.Size, alice.pin.Time, held.Size, held.Time)
	}
	if string(alice.pin.Signed) != string(later) || stored() != string(later) {
		t.Fatal("the later signature of the pinned tree is not the pin in memory and in the store")
	}
}
