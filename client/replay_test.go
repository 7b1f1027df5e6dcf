package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// refuseUploads makes the key server refuse every prekey upload, as a
// withholding key server would.
func refuseUploads(s *servers) {
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPut && r.URL.Path == "/v1/prekeys" {
			// A fault the client does not retry (503 and 429 it retries
			// three times, a second apart, which only makes the test slow).
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"internal","message":"withheld"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bobView is what a refused message must leave as it was: bob's session
// with alice and his prekeys.
type bobView struct {
	session []byte
	prekeys map[keys.PrekeyKind][]uint32
}

func viewOf(t *testing.T, c *Client) bobView {
	t.Helper()
	v := bobView{prekeys: map[keys.PrekeyKind][]uint32{}}
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		s, err := tx.Session("alice", 1)
		if err != nil {
			return err
		}
		v.session = s.State
		for _, k := range []keys.PrekeyKind{keys.SignedPrekey, keys.OneTimePrekey, keys.LastResortKEMPrekey, keys.OneTimeKEMPrekey} {
			ps, err := tx.PrekeyInfos(uint8(k))
			if err != nil {
				return err
			}
			for _, p := range ps {
				v.prekeys[k] = append(v.prekeys[k], p.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (v bobView) equal(w bobView) bool {
	if !bytes.Equal(v.session, w.session) || len(v.prekeys) != len(w.prekeys) {
		return false
	}
	for k, ids := range v.prekeys {
		if len(ids) != len(w.prekeys[k]) {
			return false
		}
		for i := range ids {
			if ids[i] != w.prekeys[k][i] {
				return false
			}
		}
	}
	return true
}

// redeliver stores env in bob's relay queue again, as a relay replaying it
// would.
func redeliver(t *testing.T, s *servers, env []byte) {
	t.Helper()
	now := time.Now()
	var id [store.MessageIDSize]byte
	rand.Read(id[:])
	res, err := s.q.Send(ctxT(t), store.Send{
		Sender: []byte("replaying relay"), MessageID: id, Now: now,
		Items:  []store.Item{{Recipient: wire.FormatAddress("bob", 1), Envelope: env}},
		Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
		MaxEnvelope: 1 << 20, MaxQueueCount: 1000, MaxQueueBytes: 1 << 30,
	})
	if err != nil || len(res.Statuses) != 1 || res.Statuses[0] != store.Stored {
		t.Fatalf("storing the replay: %+v, %v", res, err)
	}
}

// forgetProcessed makes c forget every processed envelope id, as it does
// after processedRetention.
func forgetProcessed(t *testing.T, c *Client) {
	t.Helper()
	err := c.store.Update(ctxT(t), func(tx localstore.Tx) error {
		_, err := tx.ForgetProcessedBefore(time.Now().Add(time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// settleMaintenance runs c's prekey maintenance once (it fails while the
// key server refuses uploads, after its local steps): later runs change
// no prekey until a rotation is due.
func settleMaintenance(c *Client) { c.maintainPrekeys(context.Background()) }

// refusedReplay delivers env to bob as the relay would and checks that it
// is dropped with wantErr, shows nothing, and changes nothing.
func refusedReplay(t *testing.T, bob *Client, env []byte, wantErr error) {
	t.Helper()
	// Bob's own prekey maintenance runs in the background (on connect, on
	// its timers) and makes its one-time prekeys on its first run: let it
	// run once, then keep it out while the replay is checked.
	settleMaintenance(bob)
	bob.maintMu.Lock()
	defer bob.maintMu.Unlock()
	before := viewOf(t, bob)
	m, err := bob.receive(ctxT(t), env)
	if err != nil || m != nil {
		t.Fatalf("replay: receive = %v, %v; want dropped", m, err)
	}
	e := waitEvent(t, bob, EventEnvelopeDropped)
	if wantErr != nil && !errors.Is(e.Err, wantErr) || wantErr == nil && e.Err == nil {
		t.Fatalf("replay dropped with %v, want %v", e.Err, wantErr)
	}
	if !before.equal(viewOf(t, bob)) {
		t.Fatal("the refused replay changed bob's session or prekeys")
	}
	noMessage(t, bob, 200*time.Millisecond)
}

// TestReplayedInitialMessage: with a key server that refuses every prekey
// upload (so nothing rotates there) and no one-time prekey left, an
// initial message replayed after its envelope id is forgotten — the same
// envelope, or the same ratchet message in a new envelope — is refused
// and changes nothing, because bob remembers the initial messages he
// answered while their signed prekey exists. Bob rotates his signed
// prekey on his own schedule all the same, deletes the old one after the
// grace period, and the replay then names a prekey that is gone
// (spec/client.md §5.1, §7). On SQLite and PostgreSQL servers.
func TestReplayedInitialMessage(t *testing.T) {
	for _, eng := range []engine{engineSQLite, enginePostgres} {
		t.Run(string(eng), func(t *testing.T) { testReplayedInitialMessage(t, eng) })
	}
}

func testReplayedInitialMessage(t *testing.T, eng engine) {
	s := startServers(t, eng)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	bob.Close()
	refuseUploads(s)
	// No one-time prekeys left at the key server (claimed by someone):
	// the first message uses only the signed and last-resort prekeys.
	tok := mustToken(t, alice)
	for range oneTimeTarget {
		if _, err := alice.ks.Claim(ctxT(t), tok, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := s.ksdb.CountPrekeys(ctxT(t), "bob", 1); err == nil && (c.OneTime != 0 || c.OneTimeKEM != 0) {
		t.Fatalf("one-time prekeys left: %+v", c)
	}
	send(t, alice, "bob", "only once")
	envs, err := s.q.Fetch(ctxT(t), wire.FormatAddress("bob", 1), 0, 10, time.Now())
	if err != nil || len(envs) != 1 {
		t.Fatalf("bob's queue: %d envelopes, %v", len(envs), err)
	}
	env := envs[0].Data
	bob = s.open(bobDir)
	if m := recv(t, bob); string(m.Plaintext) != "only once" {
		t.Fatalf("first delivery: %q", m.Plaintext)
	}

	// Long after: the envelope id is forgotten.
	forgetProcessed(t, bob)
	refusedReplay(t, bob, env, errReplayedInitial)
	// And through the relay: it stores the envelope again, and bob's
	// next connection gets it, drops it and acks it.
	forgetProcessed(t, bob)
	settleMaintenance(bob)
	// The delivery receipt of the first message advances bob's session
	// with alice: sent before the comparison starts.
	if err := bob.SendReceipts(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	before := viewOf(t, bob)
	bob.Close()
	redeliver(t, s, env)
	bob = s.open(bobDir)
	if e := waitEvent(t, bob, EventEnvelopeDropped); !errors.Is(e.Err, errReplayedInitial) {
		t.Fatalf("replay from the relay dropped with %v, want %v", e.Err, errReplayedInitial)
	}
	noMessage(t, bob, 200*time.Millisecond)
	if !before.equal(viewOf(t, bob)) {
		t.Fatal("the replay the relay delivered changed bob's session or prekeys")
	}

	// The same ratchet message in a new envelope (a new envelope id),
	// as alice's device could seal it.
	dk, release, err := bob.identity().deviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	opened, err := seal.Open(dk, env)
	release()
	if err != nil {
		t.Fatal(err)
	}
	adk, release, err := alice.identity().deviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	env2, err := seal.Seal(rand.Reader, adk, alice.identity().cert, bob.identity().cert.Keys, opened.Message)
	release()
	if err != nil {
		t.Fatal(err)
	}
	refusedReplay(t, bob, env2, errReplayedInitial)

	// Rotation on bob's own schedule while the key server refuses
	// uploads: the signed prekey is due, a new one is made and kept
	// pending; the upload fails and is retried later.
	var oldSPK uint32
	err = bob.store.Update(ctxT(t), func(tx localstore.Tx) error {
		for _, kind := range []keys.PrekeyKind{keys.SignedPrekey, keys.LastResortKEMPrekey} {
			ps, err := tx.Prekeys(uint8(kind))
			if err != nil || len(ps) != 1 {
				t.Fatalf("%v: %d prekeys, %v", kind, len(ps), err)
			}
			ps[0].Created = time.Now().Add(-signedPrekeyLifetime - replacedPrekeyGrace - 2*time.Hour)
			if kind == keys.SignedPrekey {
				oldSPK = ps[0].ID
			}
			if err := tx.PutPrekey(ps[0]); err != nil {
				return err
			}
			clear(ps[0].Secret)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.maintainPrekeys(ctxT(t)); err == nil {
		t.Fatal("maintenance reported success while the key server refuses uploads")
	}
	var newSPK localstore.Prekey
	bob.store.View(ctxT(t), func(tx localstore.Tx) error {
		ps, err := tx.PrekeyInfos(uint8(keys.SignedPrekey))
		if err != nil || len(ps) != 2 {
			t.Fatalf("after a due rotation with uploads refused: %d signed prekeys, %v", len(ps), err)
		}
		for _, p := range ps {
			if p.ID != oldSPK {
				newSPK = p
			}
		}
		return nil
	})
	if newSPK.Pending == nil {
		t.Fatal("the new signed prekey is not pending upload")
	}
	// The grace period passes, still without uploads: the old signed
	// prekey and what bob remembered with it are deleted.
	err = bob.store.Update(ctxT(t), func(tx localstore.Tx) error {
		p, err := tx.Prekey(uint8(keys.SignedPrekey), newSPK.ID)
		if err != nil {
			return err
		}
		p.Created = time.Now().Add(-replacedPrekeyGrace - time.Hour)
		defer clear(p.Secret)
		return tx.PutPrekey(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	bob.maintainPrekeys(ctxT(t))
	bob.store.View(ctxT(t), func(tx localstore.Tx) error {
		if _, err := tx.Prekey(uint8(keys.SignedPrekey), oldSPK); !errors.Is(err, localstore.ErrNotFound) {
			t.Fatalf("old signed prekey after the grace period: %v", err)
		}
		return nil
	})
	forgetProcessed(t, bob)
	refusedReplay(t, bob, env, nil)

	// Once the key server takes uploads again, what is pending is
	// published (the signed prekey made above is due again by now, so
	// a newer one is made first) and the key server serves bob's newest
	// signed prekey.
	s.setIntercept(nil)
	if err := bob.maintainPrekeys(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var newest localstore.Prekey
	bob.store.View(ctxT(t), func(tx localstore.Tx) error {
		for _, kind := range []keys.PrekeyKind{keys.SignedPrekey, keys.LastResortKEMPrekey} {
			ps, err := tx.PrekeyInfos(uint8(kind))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if p.Pending != nil {
					t.Fatalf("%v %d still pending after a successful upload", kind, p.ID)
				}
				if kind == keys.SignedPrekey && p.Created.After(newest.Created) {
					newest = p
				}
			}
		}
		return nil
	})
	b, err := alice.ks.Claim(ctxT(t), mustToken(t, alice), "bob")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := keys.ParseBundle(b.Bundles[0].Bundle)
	if err != nil || bundle.SignedPrekey.ID != newest.ID {
		t.Fatalf("the key server serves signed prekey %d, want %d (%v)", bundle.SignedPrekey.ID, newest.ID, err)
	}
}

// TestPendingPrekeysRetried: one-time prekeys made while the key server
// refuses uploads stay pending, are not made again at every attempt, and
// are published once the key server takes them (spec/client.md §7.1). On
// SQLite and PostgreSQL servers.
func TestPendingPrekeysRetried(t *testing.T) {
	for _, eng := range []engine{engineSQLite, enginePostgres} {
		t.Run(string(eng), func(t *testing.T) { testPendingPrekeysRetried(t, eng) })
	}
}

func testPendingPrekeysRetried(t *testing.T, eng engine) {
	s := startServers(t, eng)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	refuseUploads(s)
	tok := mustToken(t, alice)
	for range oneTimeTarget {
		if _, err := alice.ks.Claim(ctxT(t), tok, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() (n, total int) {
		bob.store.View(ctxT(t), func(tx localstore.Tx) error {
			for _, k := range []keys.PrekeyKind{keys.OneTimePrekey, keys.OneTimeKEMPrekey} {
				ps, err := tx.PrekeyInfos(uint8(k))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ps {
					total++
					if p.Pending != nil {
						n++
					}
				}
			}
			return nil
		})
		return n, total
	}
	_, before := pending()
	for range 3 {
		if err := bob.maintainPrekeys(ctxT(t)); err == nil {
			t.Fatal("maintenance reported success while the key server refuses uploads")
		}
	}
	n, total := pending()
	if n != 2*oneTimeTarget || total != before+2*oneTimeTarget {
		t.Fatalf("after three refused uploads: %d pending of %d stored (%d before); want %d new, all pending", n, total, before, 2*oneTimeTarget)
	}
	s.setIntercept(nil)
	if err := bob.maintainPrekeys(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n, total := pending(); n != 0 || total != before+2*oneTimeTarget {
		t.Fatalf("after a successful upload: %d pending of %d", n, total)
	}
	if c := serverCounts(t, bob); c.OneTime != oneTimeTarget || c.OneTimeKEM != oneTimeTarget {
		t.Fatalf("the key server holds %+v", c)
	}
}
