package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// storedKeySet returns the key set c holds for handle.
func storedKeySet(t *testing.T, c *Client, handle string) *kt.Entry {
	t.Helper()
	var e *kt.Entry
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		raw, err := tx.KeySet(handle)
		if err != nil {
			return err
		}
		e, err = kt.ParseEntry(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestTrustRootRequired: a client is given the log key, or opts in to
// trusting the first answer explicitly (spec/client.md §6.1).
func TestTrustRootRequired(t *testing.T) {
	s := startServers(t, engineSQLite)
	cfg := s.config(t.TempDir())
	cfg.LogKey = ""
	if c, err := Open(ctxT(t), cfg); !errors.Is(err, errNoLogKey) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Open without a log key: %v, want errNoLogKey", err)
	}
	cfg.LogKey = s.logVerifierKey()
	cfg.KeyServerName = "other.test"
	if _, err := Open(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "KeyServerName") {
		t.Fatalf("Open with a server name that is not the log key's: %v", err)
	}
}

// TestLogKeyMismatch: a key server whose discovery document publishes
// another log key than the configured one is refused before anything is
// registered.
func TestLogKeyMismatch(t *testing.T) {
	s := startServers(t, engineSQLite)
	other := startServers(t, engineSQLite)
	cfg := s.config(t.TempDir())
	cfg.LogKey = other.logVerifierKey()
	c, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Register(ctxT(t), "alice"); !errors.Is(err, ErrSecurity) {
		t.Fatalf("Register: %v, want ErrSecurity", err)
	}
	if c.Handle() != "" {
		t.Fatal("registered under a log key that is not the configured one")
	}
	if resp, err := c.ks.DirectoryLookup(ctxT(t), "alice"); !ksclient.IsCode(err, "unavailable") && (err != nil || len(resp.Entry) != 0) {
		t.Fatalf("the key server has alice: %+v, %v", resp, err)
	}
}

// TestTrustOnFirstUse: with the opt-in, the first discovery document's
// log key is stored and later ones are held to it.
func TestTrustOnFirstUse(t *testing.T) {
	s := startServers(t, engineSQLite)
	dir := t.TempDir()
	cfg := s.config(dir)
	cfg.LogKey, cfg.TrustOnFirstUse = "", true
	c, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctxT(t), "alice"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var stored string
	reopen := func() *Client {
		cfg := s.config(dir)
		cfg.LogKey, cfg.TrustOnFirstUse = "", false // the stored key is enough now
		c, err := Open(ctxT(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c = reopen()
	c.store.View(ctxT(t), func(tx localstore.Tx) error { stored, _ = tx.LogKey(); return nil })
	if stored != s.logVerifierKey() {
		t.Fatalf("stored log key %q, want %q", stored, s.logVerifierKey())
	}
	s.newUser("bob")
	if _, err := c.Send(ctxT(t), "bob", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// The server now publishes another log key: refused, nothing sent.
	otherKey := startServers(t, engineSQLite).logVerifierKey()
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path != "/.well-known/sealpost-keyserver" {
			next.ServeHTTP(w, r)
			return
		}
		var wk api.WellKnown
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		json.Unmarshal(rec.Body.Bytes(), &wk)
		wk.DirectoryVerifierKey = otherKey
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(wk)
	})
	c = reopen()
	defer c.Close()
	if _, err := c.Send(ctxT(t), "bob", []byte("to the other log")); !errors.Is(err, ErrSecurity) {
		t.Fatalf("send after the log key changed: %v, want ErrSecurity", err)
	}
	if q, _ := localState(t, c, "bob"); q != 0 {
		t.Fatal("queued under another log key")
	}
}

// TestStaleCheckpointRefused (SQLite and PostgreSQL): an answer under a checkpoint older than the
// client's maximum age is ErrStale; nothing is encrypted or stored.
func TestStaleCheckpointRefused(t *testing.T) {
	for _, eng := range []engine{engineSQLite, enginePostgres} {
		t.Run(string(eng), func(t *testing.T) { staleCheckpointRefused(t, startServers(t, eng)) })
	}
}

func staleCheckpointRefused(t *testing.T, s *servers) {
	dir := t.TempDir()
	cfg := s.config(dir)
	cfg.MaxCheckpointAge = time.Minute
	// alice's clock: real time plus skip, so that the checkpoint ages
	// without the test waiting (and without a slow machine making the
	// first, fresh lookup stale).
	var skip atomic.Int64
	cfg.now = func() time.Time { return time.Now().Add(time.Duration(skip.Load())) }
	alice, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if err := alice.Register(ctxT(t), "alice"); err != nil {
		t.Fatal(err)
	}
	s.newUser("bob")
	if _, err := alice.lookup(ctxT(t), "bob", true); err != nil {
		t.Fatal(err)
	}
	// The server signs its unchanged tree again only every 10 minutes:
	// two minutes on, the checkpoint it serves is older than alice
	// accepts.
	skip.Store(int64(2 * time.Minute))
	pinBefore := alice.pin
	id, err := alice.Send(ctxT(t), "bob", []byte("hi"))
	if !errors.Is(err, ErrStale) || errors.Is(err, ErrSecurity) || id != (MessageID{}) {
		t.Fatalf("send under a stale checkpoint: %v, %v; want ErrStale", id, err)
	}
	if q, n := localState(t, alice, "bob"); q != 0 || n != 0 {
		t.Fatalf("state changed: %d queued, %d sessions", q, n)
	}
	if alice.pin != pinBefore {
		t.Fatal("the pin moved to a stale checkpoint")
	}
}

// TestAuditComparesLatest (SQLite and PostgreSQL): Audit holds the key sets this device was shown
// to the log's newest entries: a later one is looked up (and recorded), a
// stored key set the log does not continue is ErrSecurity.
func TestAuditComparesLatest(t *testing.T) {
	for _, eng := range []engine{engineSQLite, enginePostgres} {
		t.Run(string(eng), func(t *testing.T) { auditComparesLatest(t, startServers(t, eng)) })
	}
}

func auditComparesLatest(t *testing.T, s *servers) {
	alice, bob := s.newUser("alice"), s.newUser("bob")
	send(t, alice, "bob", "hi")
	recv(t, bob)
	if v := storedKeySet(t, alice, "bob").Version; v != 1 {
		t.Fatalf("bob's key set version %d", v)
	}
	s.restoreDevice(t, bob) // version 2, which alice has not seen
	rep, err := alice.Audit(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Known != 2 || !slices.Equal(rep.Updated, []string{"bob"}) {
		t.Fatalf("audit report %+v", rep)
	}
	if v := storedKeySet(t, alice, "bob").Version; v != 2 {
		t.Fatalf("after the audit bob's key set is version %d, want 2", v)
	}

	// A key set the log never held (here: a version beyond the log's).
	forged := storedKeySet(t, alice, "bob")
	forged.Version = 9
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		return tx.PutKeySet("bob", forged.Marshal())
	}); err != nil {
		t.Fatal(err)
	}
	pinBefore := alice.pin
	if _, err := alice.Audit(ctxT(t), nil); !errors.Is(err, ErrSecurity) {
		t.Fatalf("audit with a key set the log does not hold: %v, want ErrSecurity", err)
	}
	if alice.pin != pinBefore {
		t.Fatal("the pin moved on a failed audit")
	}
}

// TestRevokedDeviceStops (SQLite and PostgreSQL): once another device of
// the account revokes it, a device is told within seconds (the relay
// closes its connection) and stops; its sends fail with ErrDeviceRevoked
// and nothing reaches anyone.
func TestRevokedDeviceStops(t *testing.T) {
	for _, eng := range []engine{engineSQLite, enginePostgres} {
		t.Run(string(eng), func(t *testing.T) {
			s := startServers(t, eng)
			alice, bob := s.newUser("alice"), s.newUser("bob")
			alice2 := s.restoreDevice(t, alice)
			if err := alice.RevokeDevice(ctxT(t), 2); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			waitEvent(t, alice2, EventRevoked)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("told after %v", d)
			}
			if _, err := alice2.Send(ctxT(t), "bob", []byte("from a revoked device")); !errors.Is(err, ErrDeviceRevoked) {
				t.Fatalf("send from the revoked device: %v, want ErrDeviceRevoked", err)
			}
			if q, _ := localState(t, alice2, "bob"); q != 0 {
				t.Fatal("the revoked device queued a message")
			}
			noMessage(t, bob, 300*time.Millisecond)
		})
	}
}
