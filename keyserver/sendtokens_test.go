package keyserver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
)

// raw sends body as application/octet-stream (or a GET without one) and
// returns the answer whatever its media type.
func (e *env) raw(method, path string, body []byte, bearer string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", api.OctetStream)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// sendTokenKeys fetches and checks the keys document.
func (e *env) sendTokenKeys() (api.SendTokenKeys, reply) {
	e.t.Helper()
	r := e.raw("GET", api.SendTokenKeysPath, nil, "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("GET %s: %d %q %s", api.SendTokenKeysPath, r.status, r.header.Get("Content-Type"), r.body)
	}
	var doc api.SendTokenKeys
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		e.t.Fatal(err)
	}
	if doc.Issuer != serverName || doc.TokenType != sendtoken.TokenType {
		e.t.Fatalf("keys document names issuer %q type %d", doc.Issuer, doc.TokenType)
	}
	for _, k := range doc.Keys {
		pub, err := sendtoken.ParsePublicKey(k.PublicKey)
		if err != nil || len(k.PublicKey) != sendtoken.PublicKeySize {
			e.t.Fatalf("epoch %d: public key: %v", k.Epoch, err)
		}
		id := pub.ID()
		if k.KeyID != hex.EncodeToString(id[:]) {
			e.t.Fatalf("epoch %d: key id %s, want %x", k.Epoch, k.KeyID, id)
		}
	}
	return doc, r
}

// epochKey returns the key of epoch from doc, or nil.
func epochKey(t testing.TB, doc api.SendTokenKeys, epoch uint64) *sendtoken.PublicKey {
	t.Helper()
	for _, k := range doc.Keys {
		if k.Epoch == epoch {
			pub, err := sendtoken.ParsePublicKey(k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return pub
		}
	}
	return nil
}

func epochs(doc api.SendTokenKeys) []uint64 {
	var out []uint64
	for _, k := range doc.Keys {
		out = append(out, k.Epoch)
	}
	return out
}

// prepare makes a batch of n requests for pub and epoch.
func (e *env) prepare(pub *sendtoken.PublicKey, epoch uint64, n int) ([]byte, *sendtoken.Pending) {
	e.t.Helper()
	reqs, pending, err := sendtoken.PrepareBatch(e.rand, pub, sendtoken.Challenge{Issuer: serverName, Epoch: epoch}, n)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := sendtoken.MarshalBatchRequest(reqs)
	if err != nil {
		e.t.Fatal(err)
	}
	return b, pending
}

// issue asks for n tokens under the current key and finalizes them.
func (e *env) issue(bearer string, n int) []sendtoken.Token {
	e.t.Helper()
	doc, _ := e.sendTokenKeys()
	epoch := sendtoken.EpochAt(e.clock.Now())
	batch, pending := e.prepare(epochKey(e.t, doc, epoch), epoch, n)
	r := e.raw("POST", api.SendTokensPath, batch, bearer)
	if r.status != http.StatusOK {
		e.t.Fatalf("issue %d: %d %s", n, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != api.OctetStream {
		e.t.Fatalf("issuance Content-Type %q", ct)
	}
	if got := r.header.Get(api.HeaderSendTokenEpoch); got != strconv.FormatUint(epoch, 10) {
		e.t.Fatalf("issuance epoch header %q, want %d", got, epoch)
	}
	resps, err := sendtoken.ParseBatchResponse(r.body, n)
	if err != nil {
		e.t.Fatal(err)
	}
	toks, err := pending.Finalize(resps)
	if err != nil {
		e.t.Fatal(err)
	}
	return toks
}

func (e *env) issued(handle string, epoch uint64) int {
	e.t.Helper()
	n, err := e.store.SendTokensIssued(context.Background(), handle, epoch)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestSendTokenIssuance: a device fetches the keys, gets a batch signed
// over HTTPS and finalizes tokens a relay's verifier accepts (spec/
// keyserver.md §5.10, spec/anonymous.md §5–§6).
func TestSendTokenIssuance(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		reg := prometheus.NewRegistry()
		e := newEnvOn(t, open, func(c *keyserver.Config) { c.Registerer = reg })
		alice := e.newUser("alice")
		e.register(alice)
		tok := e.token(alice, 1, "")

		now := e.clock.Now()
		epoch := sendtoken.EpochAt(now)
		doc, r := e.sendTokenKeys()
		// A fresh store: no previous epoch's key; the current and next.
		if got := epochs(doc); !slices.Equal(got, []uint64{epoch, epoch + 1}) {
			t.Fatalf("epochs %v, want %d and %d", got, epoch, epoch+1)
		}
		wantAge := sendtoken.EpochStart(epoch+1) - now.Unix()
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age="+strconv.FormatInt(wantAge, 10) {
			t.Fatalf("Cache-Control %q, want max-age %d", cc, wantAge)
		}

		toks := e.issue(tok, 7)
		var keys []sendtoken.EpochKey
		for _, k := range doc.Keys {
			keys = append(keys, sendtoken.EpochKey{Epoch: k.Epoch, Key: epochKey(t, doc, k.Epoch)})
		}
		v, err := sendtoken.NewVerifier(serverName, keys...)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[[sendtoken.NonceSize]byte]bool{}
		for i := range toks {
			spent, err := v.Verify(toks[i].Marshal(), now)
			if err != nil || spent.Epoch != epoch || seen[spent.Nonce] {
				t.Fatalf("token %d: %v, spent %+v", i, err, spent)
			}
			seen[spent.Nonce] = true
		}
		if n := e.issued("alice", epoch); n != 7 {
			t.Fatalf("count %d, want 7", n)
		}
		if n := counter(t, reg, "sealpost_keyserver_send_tokens_issued_total", nil); n != 7 {
			t.Fatalf("metric %v, want 7", n)
		}

		// The discovery document points at the keys and states the limits.
		var wk api.WellKnown
		e.ok("GET", "/.well-known/sealpost-keyserver", nil, "", http.StatusOK, &wk)
		if wk.SendTokenKeys != api.SendTokenKeysPath || wk.Limits.SendTokenBatch != sendtoken.MaxBatchSize || wk.Limits.SendTokensPerEpoch != 500 {
			t.Fatalf("well-known: %q %+v", wk.SendTokenKeys, wk.Limits)
		}
	})
}

// TestSendTokenKeysEpochChange: across epoch changes the document lists
// the previous, current and next epoch's keys, each key stays the same
// while listed, neighbours' truncated key ids differ, a batch for the
// previous key is unknown_key, and the store forgets old keys.
func TestSendTokenKeysEpochChange(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		e := newEnvOn(t, open, nil)
		alice := e.newUser("alice")
		e.register(alice)
		e0 := sendtoken.EpochAt(e.clock.Now())
		doc0, _ := e.sendTokenKeys()
		seen := map[uint64]*sendtoken.PublicKey{}
		for _, k := range doc0.Keys {
			seen[k.Epoch] = epochKey(t, doc0, k.Epoch)
		}
		for day := uint64(1); day <= 3; day++ {
			e.clock.Advance(24 * time.Hour)
			cur := e0 + day
			doc, _ := e.sendTokenKeys()
			if got := epochs(doc); !slices.Equal(got, []uint64{cur - 1, cur, cur + 1}) {
				t.Fatalf("day %d: epochs %v", day, got)
			}
			for _, k := range doc.Keys {
				pub := epochKey(t, doc, k.Epoch)
				if old, ok := seen[k.Epoch]; ok && !old.Equal(pub) {
					t.Fatalf("day %d: the key of epoch %d changed", day, k.Epoch)
				}
				seen[k.Epoch] = pub
			}
			// What a relay in the process verifies with: the document's
			// issuer and keys.
			issuer, keys, err := e.srv.SendTokenPublicKeys(context.Background())
			if err != nil || issuer != doc.Issuer || len(keys) != len(doc.Keys) {
				t.Fatalf("day %d: SendTokenPublicKeys: %q, %d keys, %v", day, issuer, len(keys), err)
			}
			for i, k := range keys {
				if k.Epoch != doc.Keys[i].Epoch || !k.Key.Equal(epochKey(t, doc, k.Epoch)) {
					t.Fatalf("day %d: SendTokenPublicKeys key %d: epoch %d, not the document's", day, i, k.Epoch)
				}
			}
			for ep := cur - 1; ep <= cur; ep++ {
				a, b := seen[ep].ID(), seen[ep+1].ID()
				if a[sendtoken.KeyIDSize-1] == b[sendtoken.KeyIDSize-1] {
					t.Fatalf("epochs %d and %d share a truncated key id", ep, ep+1)
				}
			}
			// A batch for the key that just stopped being current.
			tok := e.token(alice, 1, "")
			batch, _ := e.prepare(seen[cur-1], cur-1, 2)
			r := e.raw("POST", api.SendTokensPath, batch, tok)
			if r.status != http.StatusBadRequest || r.code() != api.CodeUnknownKey {
				t.Fatalf("day %d: previous key: %d %s", day, r.status, r.body)
			}
			if n := e.issued("alice", cur); n != 0 {
				t.Fatalf("refused batch counted %d", n)
			}
			stored, err := e.store.SendTokenKeys(context.Background(), 0, 1<<40)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for ep := range stored {
				got = append(got, ep)
			}
			slices.Sort(got)
			if !slices.Equal(got, []uint64{cur - 1, cur, cur + 1}) {
				t.Fatalf("day %d: store holds the keys of epochs %v", day, got)
			}
		}
	})
}

// TestSendTokenKeysShared: key-server nodes on one PostgreSQL database
// agree on each epoch's key, however many make it at once.
func TestSendTokenKeysShared(t *testing.T) {
	dsn := pgtest.DSN(t)
	const nodes = 3
	envs := make([]*env, nodes)
	for i := range envs {
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		envs[i] = newEnvStore(t, st, func(c *keyserver.Config) { c.VRFKey = nil })
	}
	for day := range 2 {
		var wg sync.WaitGroup
		docs := make([][]byte, nodes)
		for i, e := range envs {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", e.ts.URL+api.SendTokenKeysPath, nil)
				resp, err := e.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				docs[i], _ = io.ReadAll(resp.Body)
			})
		}
		wg.Wait()
		for i := range docs {
			if !bytes.Equal(docs[i], docs[0]) || len(docs[0]) < 100 {
				t.Fatalf("day %d: node %d serves %s, node 0 %s", day, i, docs[i], docs[0])
			}
		}
		for _, e := range envs {
			e.clock.Advance(24 * time.Hour)
		}
	}
}

// TestSendTokenRefusals: each refused issuance answers its status and
// code, signs nothing and counts nothing.
func TestSendTokenRefusals(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		reg := prometheus.NewRegistry()
		e := newEnvOn(t, open, func(c *keyserver.Config) {
			c.Registerer = reg
			c.Limits.SendTokenBatch = 10
		})
		alice := e.newUser("alice")
		e.register(alice)
		e.addDevice(alice, 2)
		tok := e.token(alice, 1, "")
		revokedTok := e.token(alice, 2, "")
		e.revoke(alice, 2, 1)
		epoch := sendtoken.EpochAt(e.clock.Now())
		doc, _ := e.sendTokenKeys()
		pub := epochKey(t, doc, epoch)
		good, _ := e.prepare(pub, epoch, 3)
		e.issue(tok, 2) // the count starts at 2

		withItem := func(i int, f func(item []byte)) []byte {
			b := bytes.Clone(good)
			f(b[2+i*sendtoken.RequestSize : 2+(i+1)*sendtoken.RequestSize])
			return b
		}
		eleven, _ := e.prepare(pub, epoch, 10)
		eleven = append(eleven, good[2:2+sendtoken.RequestSize]...)
		binary.BigEndian.PutUint16(eleven, 11)
		next := epochKey(t, doc, epoch+1)
		nextBatch, _ := e.prepare(next, epoch+1, 3)

		cases := []struct {
			name   string
			bearer string
			body   []byte
			status int
			code   string
		}{
			{"no token", "", good, 401, api.CodeInvalidToken},
			{"invalid token", "not-a-token", good, 401, api.CodeInvalidToken},
			{"revoked device", revokedTok, good, 403, api.CodeDeviceRevoked},
			{"empty body", tok, []byte{}, 400, api.CodeMalformed},
			{"count 0", tok, []byte{0, 0}, 400, api.CodeMalformed},
			{"one byte short", tok, good[:len(good)-1], 400, api.CodeMalformed},
			{"one byte more", tok, append(bytes.Clone(good), 0), 400, api.CodeMalformed},
			{"count lies", tok, append([]byte{0, 4}, good[2:]...), 400, api.CodeMalformed},
			{"over the batch limit", tok, eleven, 400, api.CodeMalformed},
			{"larger than any batch", tok, make([]byte, 2+11*sendtoken.RequestSize+1), 400, api.CodeMalformed},
			{"token type 1", tok, withItem(1, func(b []byte) { b[1] = 1 }), 400, api.CodeMalformed},
			{"blinded message all ones", tok, withItem(2, func(b []byte) {
				for i := 3; i < len(b); i++ {
					b[i] = 0xff
				}
			}), 400, api.CodeMalformed},
			{"unknown key id", tok, withItem(1, func(b []byte) { b[2] ^= 1 }), 400, api.CodeUnknownKey},
			{"next epoch's key", tok, nextBatch, 400, api.CodeUnknownKey},
		}
		for _, tc := range cases {
			r := e.raw("POST", api.SendTokensPath, tc.body, tc.bearer)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			}
			if n := e.issued("alice", epoch); n != 2 {
				t.Fatalf("%s: count %d, want 2", tc.name, n)
			}
			if n := counter(t, reg, "sealpost_keyserver_send_tokens_issued_total", nil); n != 2 {
				t.Fatalf("%s: %v tokens signed, want 2", tc.name, n)
			}
		}
		// Other methods.
		if r := e.raw("GET", api.SendTokensPath, nil, tok); r.status != http.StatusMethodNotAllowed {
			t.Fatalf("GET %s: %d", api.SendTokensPath, r.status)
		}
	})
}

// TestSendTokenLimit: the per-account limit per epoch refuses with 429
// send_token_limit and a Retry-After until the next epoch, counts nothing
// then, is per account, and starts again in the next epoch.
func TestSendTokenLimit(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		e := newEnvOn(t, open, func(c *keyserver.Config) {
			c.Limits.SendTokensPerEpoch = 10
			c.Limits.SendTokenBatch = 8
		})
		alice, bob := e.newUser("alice"), e.newUser("bob")
		e.register(alice)
		e.register(bob)
		tok := e.token(alice, 1, "")
		epoch := sendtoken.EpochAt(e.clock.Now())
		e.issue(tok, 6)

		doc, _ := e.sendTokenKeys()
		five, _ := e.prepare(epochKey(t, doc, epoch), epoch, 5)
		r := e.raw("POST", api.SendTokensPath, five, tok)
		wantRetry := sendtoken.EpochStart(epoch+1) - e.clock.Now().Unix()
		if r.status != http.StatusTooManyRequests || r.code() != api.CodeSendTokenLimit ||
			r.header.Get("Retry-After") != strconv.FormatInt(wantRetry, 10) {
			t.Fatalf("past the limit: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		if n := e.issued("alice", epoch); n != 6 {
			t.Fatalf("refused request counted: %d", n)
		}
		e.issue(tok, 4)
		one := append([]byte{0, 1}, five[2:2+sendtoken.RequestSize]...)
		if r := e.raw("POST", api.SendTokensPath, one, tok); r.status != http.StatusTooManyRequests || r.code() != api.CodeSendTokenLimit {
			t.Fatalf("one past the limit: %d %s", r.status, r.body)
		}
		// Bob's account has its own count.
		e.issue(e.token(bob, 1, ""), 8)

		// The next epoch starts a new count.
		e.clock.Advance(24 * time.Hour)
		tok = e.token(alice, 1, "")
		e.issue(tok, 8)
		e.issue(tok, 2)
		if n := e.issued("alice", epoch+1); n != 10 {
			t.Fatalf("next epoch count %d", n)
		}
	})
}

// BenchmarkSendTokenIssuance is POST /v1/send-tokens with a batch of 100
// over HTTPS on SQLite, the client's GET of the keys document, preparing
// and finalizing included (about 20 ms of the total); the rest is the
// signing (spec/keyserver.md §5.10).
func BenchmarkSendTokenIssuance(b *testing.B) {
	e := newEnvStore(b, openSQLite(b), func(c *keyserver.Config) {
		c.VRFKey = nil
		c.Limits.SendTokensPerEpoch = 1 << 30
	})
	u := e.newUser("alice")
	e.register(u)
	tok := e.token(u, 1, "")
	b.ResetTimer()
	for b.Loop() {
		e.issue(tok, 100)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100/1e6, "ms/token")
}
