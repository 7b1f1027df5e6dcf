package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	kssqlite "github.com/sealpost/sealpost/keyserver/store/sqlite"
)

// forgedCert returns a device certificate for handle with new device keys,
// signed by a new account key: what a key server that wants to read
// handle's messages would have to serve.
func forgedCert(t *testing.T, handle string, device keys.DeviceID) (*keys.DeviceCertificate, *keys.DevicePrivateKeys) {
	t.Helper()
	ak, err := keys.GenerateAccountKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := keys.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ak.CertifyDevice(handle, device, dk.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cert, dk
}

// queueLen returns the number of envelopes in c's outgoing queue and its
// sessions with handle.
func localState(t *testing.T, c *Client, handle string) (queued, sessions int) {
	t.Helper()
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		q, err := tx.OutgoingQueue(1000)
		if err != nil {
			return err
		}
		s, err := tx.SessionDevices(handle)
		queued, sessions = len(q), len(s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return queued, sessions
}

// rewriteJSON replaces the body of the answers to requests matching
// method and path with edit's result.
func rewriteJSON[T any](s *servers, method, path string, edit func(*T)) {
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method != method || r.URL.Path != path {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var v T
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		edit(&v)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	})
}

// TestForgedBundle: a key server that hands out a bundle for a device key
// of its own choosing is refused with ErrSecurity, and nothing is queued
// or sent, to that key or any other.
func TestForgedBundle(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	cert, dk := forgedCert(t, "bob", 1)
	defer dk.Zero()
	rewriteJSON(s, "POST", "/v1/accounts/bob/claim", func(cr *api.ClaimResponse) {
		for i := range cr.Bundles {
			b, err := keys.ParseBundle(cr.Bundles[i].Bundle)
			if err != nil {
				t.Error(err)
				return
			}
			_, spk, _ := dk.GeneratePrekey(rand.Reader, keys.SignedPrekey, 7)
			_, kpk, _ := dk.GeneratePrekey(rand.Reader, keys.LastResortKEMPrekey, 8)
			b.Certificate, b.SignedPrekey, b.KEMPrekey, b.OneTimePrekey = cert, spk, kpk, nil
			cr.Bundles[i].Bundle = b.Marshal()
		}
	})
	_, err := alice.Send(ctxT(t), "bob", []byte("for bob only"))
	if !errors.Is(err, ErrSecurity) {
		t.Fatalf("forged bundle: %v, want ErrSecurity", err)
	}
	if q, n := localState(t, alice, "bob"); q != 0 || n != 0 {
		t.Fatalf("forged bundle left %d queued envelopes and %d sessions", q, n)
	}
	waitEvent(t, alice, EventSecurity)
	noMessage(t, bob, 300*time.Millisecond)

	// With an honest server again, the message goes through.
	s.setIntercept(nil)
	send(t, alice, "bob", "hello")
	if m := recv(t, bob); string(m.Plaintext) != "hello" {
		t.Fatalf("got %q", m.Plaintext)
	}
}

// TestForgedLookup: a key server that lists a device the directory does
// not hold is refused, before any claim.
func TestForgedLookup(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, _ := s.newUser("alice"), s.newUser("bob")
	cert, dk := forgedCert(t, "bob", 2)
	defer dk.Zero()
	var claimed atomic.Bool
	rewriteJSON(s, "GET", "/v2/accounts/bob", func(a *api.DirectoryLookup) {
		e, err := kt.ParseEntry(a.Entry)
		if err != nil {
			t.Error(err)
			return
		}
		e.Devices = append(e.Devices, kt.Device{Certificate: cert})
		a.Entry = e.Marshal()
	})
	inner := *s.intercept.Load()
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/claim") {
			claimed.Store(true)
		}
		inner(w, r, next)
	})
	if _, err := alice.Send(ctxT(t), "bob", []byte("x")); !errors.Is(err, ErrSecurity) {
		t.Fatalf("forged lookup: %v, want ErrSecurity", err)
	}
	if claimed.Load() {
		t.Fatal("the client claimed prekeys after a lookup that did not verify")
	}
	if q, n := localState(t, alice, "bob"); q != 0 || n != 0 {
		t.Fatalf("left %d queued envelopes and %d sessions", q, n)
	}
}

// TestTamperedKeyServerRow: bob's device certificate replaced in the key
// server's database (an operator or intruder with the database) is caught
// by the transparency check.
func TestTamperedKeyServerRow(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	cert, dk := forgedCert(t, "bob", 1)
	defer dk.Zero()
	db := s.db("keyserver.db")
	res, err := db.Exec(`UPDATE devices SET certificate = ? WHERE handle = 'bob' AND id = 1`, cert.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("updated %d rows", n)
	}
	if _, err := alice.Send(ctxT(t), "bob", []byte("x")); !errors.Is(err, ErrSecurity) {
		t.Fatalf("tampered row: %v, want ErrSecurity", err)
	}
	if q, n := localState(t, alice, "bob"); q != 0 || n != 0 {
		t.Fatalf("left %d queued envelopes and %d sessions", q, n)
	}
	noMessage(t, bob, 300*time.Millisecond)
}

// TestForkedLog: after alice pinned a checkpoint, the key server shows her
// another log, signed with the same key, in which bob has other keys: a
// split view. Alice refuses it.
func TestForkedLog(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, _ := s.newUser("alice"), s.newUser("bob")
	send(t, alice, "bob", "pins a checkpoint")

	// The fork: a second key server with the same log key and name whose
	// log holds a different bob.
	evilDB, err := kssqlite.Open(filepath.Join(t.TempDir(), "evil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer evilDB.Close()
	_, tokenKey, _ := ed25519.GenerateKey(rand.Reader)
	evil, err := keyserver.New(keyserver.Config{
		Name: serverName, Store: evilDB, TokenKey: tokenKey, LogKey: s.logKey, VRFKey: s.vrfKey,
		RelayAudiences: []string{"relay:" + serverName},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	for _, h := range []string{"bob", "carol", "dave", "erin"} {
		registerDirect(t, evil, h)
	}
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasPrefix(r.URL.Path, "/v2/accounts/") || strings.HasPrefix(r.URL.Path, "/v2/log/") {
			evil.Handler().ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
	alice.forget("bob")
	_, err = alice.Send(ctxT(t), "bob", []byte("x"))
	if !errors.Is(err, ErrSecurity) {
		t.Fatalf("forked log: %v, want ErrSecurity", err)
	}
	before := alice.pin
	if _, err := alice.Audit(ctxT(t), nil); !errors.Is(err, ErrSecurity) {
		t.Fatalf("audit of a forked log: %v, want ErrSecurity", err)
	}
	if alice.pin != before {
		t.Fatal("a forked log moved the pin")
	}
}

// registerDirect registers handle on ks through its HTTP handler, with
// throwaway keys.
func registerDirect(t *testing.T, ks *keyserver.Server, handle string) {
	t.Helper()
	srv := httptest.NewServer(ks.Handler())
	defer srv.Close()
	post := func(path string, body, out any) {
		b, _ := json.Marshal(body)
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, data)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	cert, dk := forgedCert(t, handle, 1)
	defer dk.Zero()
	var ch api.ChallengeResponse
	post("/v1/challenges", api.ChallengeRequest{}, &ch)
	sig, err := signChallengeFor(dk, handle, ch.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	post("/v1/accounts", api.RegisterRequest{
		Handle: handle, AccountKey: cert.AccountKey[:], Certificate: cert.Marshal(),
		Challenge: ch.Challenge, ChallengeSignature: sig,
	}, nil)
}

// TestTamperedEnvelope: an envelope changed at the relay is dropped and
// reported; the session goes on with the next message.
func TestTamperedEnvelope(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	bob.Close()
	send(t, alice, "bob", "tampered")
	db := s.db("relay.db")
	var (
		id  int64
		env []byte
	)
	if err := db.QueryRow(`SELECT id, data FROM envelopes`).Scan(&id, &env); err != nil {
		t.Fatal(err)
	}
	env[200] ^= 0x01
	if _, err := db.Exec(`UPDATE envelopes SET data = ? WHERE id = ?`, env, id); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "intact")
	bob = s.open(bobDir)
	e := waitEvent(t, bob, EventEnvelopeDropped)
	if e.Err == nil {
		t.Fatal("dropped envelope without a reason")
	}
	if m := recv(t, bob); string(m.Plaintext) != "intact" {
		t.Fatalf("after the tampered envelope: %q", m.Plaintext)
	}
	// The session works both ways.
	send(t, bob, "alice", "reply")
	if m := recv(t, alice); string(m.Plaintext) != "reply" {
		t.Fatalf("reply: %q", m.Plaintext)
	}
	noMessage(t, bob, 300*time.Millisecond)
}

// TestCorruptStore: a damaged state.db (state.kv on the kv engine) is a
// clear error, not a panic.
func TestCorruptStore(t *testing.T) {
	s := startServers(t, engineSQLite)
	c, dir := s.newUserDir("alice")
	c.Close()
	path := filepath.Join(dir, "state.db")
	if kvStoreEngine() {
		path = filepath.Join(dir, "state.kv")
	}
	data, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 100; i < len(data); i += 97 {
		data[i] ^= 0x5a
	}
	if err := writeFile(path, data); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), s.config(dir))
	if err == nil || !(errors.Is(err, ErrCorrupt)) {
		t.Fatalf("corrupt store: %v, want ErrCorrupt", err)
	}
}

var _ = kssqlite.Open

// TestStaleOwnKeySet: after alice revokes her (stolen) second device, a
// key server replays its earlier answers, in which the device is active.
// Her first device refuses them: nothing reaches the revoked device, and
// nothing from it is accepted.
func TestStaleOwnKeySet(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	alice2 := s.restoreDevice(t, alice)
	stale, err := alice.ks.DirectoryLookup(ctxT(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	staleClaim, err := alice.ks.Claim(ctxT(t), mustToken(t, alice), "alice")
	if err != nil {
		t.Fatal(err)
	}
	acctJSON, _ := json.Marshal(stale)
	claimJSON, _ := json.Marshal(staleClaim)
	if err := alice.RevokeDevice(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "after revocation")
	recv(t, bob)
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/v2/accounts/alice":
			w.Header().Set("Content-Type", "application/json")
			w.Write(acctJSON)
		case r.Method == "POST" && r.URL.Path == "/v1/accounts/alice/claim":
			w.Header().Set("Content-Type", "application/json")
			w.Write(claimJSON)
		default:
			next.ServeHTTP(w, r)
		}
	})
	alice.forget("alice")
	// The replayed answer is under an older checkpoint than the one
	// alice pinned: stale (spec/client.md §6.1).
	if _, err := alice.Send(ctxT(t), "bob", []byte("secret")); !errors.Is(err, ErrStale) {
		t.Fatalf("send with a stale own key set: %v, want ErrStale", err)
	}
	if _, n := localState(t, alice, "alice"); n != 0 {
		t.Fatal("a session with the revoked device")
	}
	noMessage(t, alice2, 300*time.Millisecond)
	noMessage(t, bob, 300*time.Millisecond)
	// The revoked device still holds sessions of its own; what it sends is
	// not shown as alice's.
	alice2.Send(ctxT(t), "alice", []byte("forged by the stolen device"))
	noMessage(t, alice, time.Second)
}

// TestKeySetContinuity: later key sets must keep every device of earlier
// ones byte for byte, revocations included.
func TestKeySetContinuity(t *testing.T) {
	r := rand.Reader
	ak, _ := keys.GenerateAccountKey(r)
	dev := func(id keys.DeviceID) kt.Device {
		dk, _ := keys.GenerateDeviceKeys(r)
		c, _ := ak.CertifyDevice("bob", id, dk.Public(), time.Unix(1_800_000_000, 0))
		return kt.Device{Certificate: c}
	}
	d1, d2, d3 := dev(1), dev(2), dev(3)
	rev2, _ := ak.RevokeDevice("bob", 2, time.Unix(1_800_000_100, 0))
	d2r := kt.Device{Certificate: d2.Certificate, Revocation: rev2}
	e := func(v uint64, ds ...kt.Device) *kt.Entry {
		return &kt.Entry{Handle: "bob", AccountKey: ak.Public(), Version: v, Devices: ds}
	}
	v3 := e(3, d1, d2r)
	for name, tc := range map[string]struct {
		next *kt.Entry
		ok   bool
	}{
		"same":                         {e(3, d1, d2r), true},
		"successor":                    {e(4, d1, d2r, d3), true},
		"later, keeps all":             {e(6, d1, d2r, d3), true},
		"older":                        {e(2, d1, d2), false},
		"same version, other":          {e(3, d1, d2), false},
		"later, revocation undone":     {e(6, d1, d2, d3), false},
		"later, device dropped":        {e(6, d1, d3), false},
		"successor, revocation undone": {e(4, d1, d2), false},
	} {
		if err := continues(v3, tc.next); (err == nil) != tc.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestMarkVerifiedAfterSwap: the key server swaps bob's account key while
// alice compares safety numbers; MarkVerified refuses to mark the new key,
// which alice never saw.
func TestMarkVerifiedAfterSwap(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, _ := s.newUser("alice"), s.newUser("bob")
	shown, err := alice.SafetyNumber(ctxT(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	db := s.db("keyserver.db")
	for _, q := range []string{`DELETE FROM prekeys WHERE handle='bob'`, `DELETE FROM devices WHERE handle='bob'`, `DELETE FROM accounts WHERE handle='bob'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	registerDirect(t, s.ks, "bob") // bob again, under the server's own key
	if err := alice.MarkVerified(ctxT(t), "bob", shown); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("MarkVerified after a swap: %v, want ErrKeyChanged", err)
	}
	cs, err := alice.Contacts(ctxT(t))
	if err != nil || len(cs) != 1 || cs[0].Verified {
		t.Fatalf("contacts: %+v %v", cs, err)
	}
}
