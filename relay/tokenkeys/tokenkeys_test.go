package tokenkeys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/keyserver/api"
)

const issuer = "keys.example.org"

var (
	keysOnce sync.Once
	testKeys []*sendtoken.PrivateKey
)

// keys returns n issuer keys, generated once for the package.
func keys(t *testing.T, n int) []*sendtoken.PrivateKey {
	t.Helper()
	keysOnce.Do(func() {
		for range 4 {
			k, err := sendtoken.GenerateKey(rand.Reader)
			if err != nil {
				panic(err)
			}
			testKeys = append(testKeys, k)
		}
	})
	return testKeys[:n]
}

// mint returns a token of key k for epoch e of iss.
func mint(t *testing.T, k *sendtoken.PrivateKey, iss string, e uint64) []byte {
	t.Helper()
	reqs, p, err := sendtoken.PrepareBatch(rand.Reader, k.Public(), sendtoken.Challenge{Issuer: iss, Epoch: e}, 1)
	if err != nil {
		t.Fatal(err)
	}
	resps, err := k.Issue(reqs)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := p.Finalize(resps)
	if err != nil {
		t.Fatal(err)
	}
	return toks[0].Marshal()
}

// fakeSource answers what it is set to and counts the reads.
type fakeSource struct {
	mu     sync.Mutex
	issuer string
	keys   []sendtoken.EpochKey
	err    error
	reads  atomic.Int32
}

func (f *fakeSource) set(iss string, err error, keys ...sendtoken.EpochKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issuer, f.err, f.keys = iss, err, keys
}

func (f *fakeSource) SendTokenPublicKeys(context.Context) (string, []sendtoken.EpochKey, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issuer, f.keys, f.err
}

// clock is a settable clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time { return time.Unix(c.t.Load(), 0) }
func (c *clock) set(unix int64) { c.t.Store(unix) }
func midday(e uint64) int64     { return sendtoken.EpochStart(e) + sendtoken.EpochSeconds/2 }
func ek(e uint64, k *sendtoken.PrivateKey) sendtoken.EpochKey {
	return sendtoken.EpochKey{Epoch: e, Key: k.Public()}
}

func newVerifier(t *testing.T, src Source, c *clock) *Verifier {
	t.Helper()
	v, err := New(Config{Source: src, Issuer: issuer, Now: c.now, MinRefetch: 50 * time.Millisecond, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func epochsOf(v *Verifier) []uint64 { return epochs(v.Keys()) }

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRefresh: no key before the first read (tokens refused unknown_key),
// the keys read afterwards; malformed tokens are malformed either way.
func TestRefresh(t *testing.T) {
	ks := keys(t, 3)
	const e = 20000
	c := &clock{}
	c.set(midday(e))
	src := &fakeSource{}
	src.set(issuer, nil, ek(e-1, ks[0]), ek(e, ks[1]), ek(e+1, ks[2]))
	v := newVerifier(t, src, c)
	tok := mint(t, ks[1], issuer, e)
	if _, err := v.Verify(tok, c.now()); !errors.Is(err, sendtoken.ErrUnknownKey) {
		t.Fatalf("before the first read: %v, want unknown_key", err)
	}
	if _, err := v.Verify(tok[:10], c.now()); !errors.Is(err, sendtoken.ErrMalformed) {
		t.Fatalf("short token before the first read: %v, want malformed", err)
	}
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := epochsOf(v); !equal(got, []uint64{e - 1, e, e + 1}) {
		t.Fatalf("epochs held %v", got)
	}
	sp, err := v.Verify(tok, c.now())
	if err != nil || sp.Epoch != e {
		t.Fatalf("token of epoch %d: %+v %v", e, sp, err)
	}
	if _, err := v.Verify(tok[:10], c.now()); !errors.Is(err, sendtoken.ErrMalformed) {
		t.Fatalf("short token: %v, want malformed", err)
	}
	// A token of another issuer under a held key: wrong_challenge.
	if _, err := v.Verify(mint(t, ks[1], "other.example", e), c.now()); !errors.Is(err, sendtoken.ErrWrongChallenge) {
		t.Fatalf("token of another issuer: %v, want wrong_challenge", err)
	}
}

// TestFetchFailureKeepsKeys: a failed read, and a read of keys that are
// not valid, change nothing.
func TestFetchFailureKeepsKeys(t *testing.T) {
	ks := keys(t, 3)
	const e = 20000
	c := &clock{}
	c.set(midday(e))
	src := &fakeSource{}
	src.set(issuer, nil, ek(e, ks[0]), ek(e+1, ks[1]))
	v := newVerifier(t, src, c)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := v.Keys()
	tok := mint(t, ks[0], issuer, e)
	fail := errors.New("connection refused")
	for _, tc := range []struct {
		name string
		set  func()
		want error
	}{
		{"read fails", func() { src.set(issuer, fail) }, fail},
		{"one key for two epochs", func() { src.set(issuer, nil, ek(e, ks[2]), ek(e+1, ks[2])) }, ErrBadDocument},
		{"nil key", func() { src.set(issuer, nil, sendtoken.EpochKey{Epoch: e}) }, ErrBadDocument},
	} {
		tc.set()
		if err := v.Refresh(context.Background()); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if !sameKeys(v.Keys(), before) {
			t.Fatalf("%s: keys changed to epochs %v", tc.name, epochsOf(v))
		}
		if _, err := v.Verify(tok, c.now()); err != nil {
			t.Fatalf("%s: token of the kept key: %v", tc.name, err)
		}
	}
}

// TestWrongIssuer: keys published under another name are refused and not
// installed, before or after a good read.
func TestWrongIssuer(t *testing.T) {
	ks := keys(t, 2)
	const e = 20000
	c := &clock{}
	c.set(midday(e))
	src := &fakeSource{}
	src.set("evil.example", nil, ek(e, ks[0]))
	v := newVerifier(t, src, c)
	if err := v.Refresh(context.Background()); !errors.Is(err, ErrWrongIssuer) {
		t.Fatalf("first read: %v, want ErrWrongIssuer", err)
	}
	if v.Keys() != nil {
		t.Fatalf("keys installed: %v", epochsOf(v))
	}
	for _, iss := range []string{"evil.example", issuer} {
		if _, err := v.Verify(mint(t, ks[0], iss, e), c.now()); !errors.Is(err, sendtoken.ErrUnknownKey) {
			t.Fatalf("token of %s: %v, want unknown_key", iss, err)
		}
	}
	src.set(issuer, nil, ek(e, ks[1]))
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.set("evil.example", nil, ek(e, ks[0]))
	if err := v.Refresh(context.Background()); !errors.Is(err, ErrWrongIssuer) {
		t.Fatalf("later read: %v, want ErrWrongIssuer", err)
	}
	if got := v.Keys(); len(got) != 1 || !got[0].Key.Equal(ks[1].Public()) {
		t.Fatalf("keys after a wrong issuer: %v", epochsOf(v))
	}
	if _, err := New(Config{Source: src, Issuer: ""}); err == nil {
		t.Fatal("New with an empty issuer")
	}
}

// TestEpochRollover: across an epoch change the next epoch's key comes in
// with the read after it, a key the read no longer lists is kept while its
// tokens are accepted, and dropped after.
func TestEpochRollover(t *testing.T) {
	ks := keys(t, 4)
	const e = 20000
	c := &clock{}
	c.set(midday(e))
	src := &fakeSource{}
	src.set(issuer, nil, ek(e-1, ks[0]), ek(e, ks[1]), ek(e+1, ks[2]))
	v := newVerifier(t, src, c)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tokE, tokNext, tokNext2 := mint(t, ks[1], issuer, e), mint(t, ks[2], issuer, e+1), mint(t, ks[3], issuer, e+2)
	// The next epoch's key is held before it begins.
	if _, err := v.Verify(tokNext, time.Unix(sendtoken.EpochStart(e+1), 0)); err != nil {
		t.Fatalf("token of e+1 as it begins: %v", err)
	}
	// Epoch e+1: the key server lists e+1 and e+2 only.
	c.set(sendtoken.EpochStart(e+1) + sendtoken.ClockSkew)
	src.set(issuer, nil, ek(e+1, ks[2]), ek(e+2, ks[3]))
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// e−1's key is gone (its window ended at start(e+1)+ClockSkew), e's is kept.
	if got := epochsOf(v); !equal(got, []uint64{e, e + 1, e + 2}) {
		t.Fatalf("epochs held at e+1: %v", got)
	}
	if _, err := v.Verify(tokE, c.now()); err != nil {
		t.Fatalf("token of e during e+1: %v", err)
	}
	if _, err := v.Verify(tokNext2, time.Unix(sendtoken.EpochStart(e+2), 0)); err != nil {
		t.Fatalf("token of e+2 as it begins: %v", err)
	}
	// Epoch e+2: e's key is dropped once its tokens are no longer accepted.
	c.set(sendtoken.EpochStart(e+2) + sendtoken.ClockSkew)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := epochsOf(v); !equal(got, []uint64{e + 1, e + 2}) {
		t.Fatalf("epochs held at e+2: %v", got)
	}
	if _, err := v.Verify(tokE, c.now()); !errors.Is(err, sendtoken.ErrUnknownKey) {
		t.Fatalf("token of e at e+2: %v, want unknown_key", err)
	}
}

// TestRunRefetch: Run reads at once, again when a token names an unknown
// key (at most every MinRefetch however many such tokens come), and keeps
// retrying after failures while the keys held stay in use.
func TestRunRefetch(t *testing.T) {
	ks := keys(t, 2)
	e := sendtoken.EpochAt(time.Now())
	src := &fakeSource{}
	src.set(issuer, nil, ek(e, ks[0]))
	v, err := New(Config{Source: src, Issuer: issuer, MinRefetch: 200 * time.Millisecond, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "first read", func() bool { return len(v.Keys()) == 1 })
	// A re-key: ks[1] replaces ks[0] for epoch e.
	src.set(issuer, nil, ek(e, ks[1]))
	tok := mint(t, ks[1], issuer, e)
	reads := src.reads.Load()
	start := time.Now()
	for {
		_, err := v.Verify(tok, time.Now())
		if err == nil {
			break
		}
		if !errors.Is(err, sendtoken.ErrUnknownKey) || time.Since(start) > 5*time.Second {
			t.Fatalf("token of the new key: %v after %v", err, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Hundreds of unknown-key tokens in that time asked for one or two
	// reads (one at once if MinRefetch had passed, else one at its end).
	if n := src.reads.Load() - reads; n < 1 || n > 2 {
		t.Fatalf("%d reads for the unknown key", n)
	}
	// Failures: retried every MinRefetch, the key held stays.
	src.set(issuer, errors.New("down"))
	reads = src.reads.Load()
	began := time.Now()
	for range 100 {
		v.Verify(mint(t, ks[0], issuer, e), time.Now()) // unknown now: asks
		time.Sleep(10 * time.Millisecond)
	}
	// At most one read each MinRefetch of the time it took (a loaded
	// machine stretches the loop), and at least two.
	most := int32(time.Since(began)/(200*time.Millisecond)) + 2
	if n := src.reads.Load() - reads; n < 2 || n > most {
		t.Fatalf("%d reads in %v of failures with MinRefetch 200ms, want 2 to %d", n, time.Since(began), most)
	}
	if _, err := v.Verify(mint(t, ks[1], issuer, e), time.Now()); err != nil {
		t.Fatalf("the key held, during failures: %v", err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for start := time.Now(); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not after 5s", what)
		}
	}
}

// doc is a keys document of keys from epoch first.
func doc(iss string, tokenType int, first uint64, keys ...*sendtoken.PrivateKey) api.SendTokenKeys {
	d := api.SendTokenKeys{Issuer: iss, TokenType: tokenType, Keys: []api.SendTokenKey{}}
	for i, k := range keys {
		id := k.Public().ID()
		d.Keys = append(d.Keys, api.SendTokenKey{Epoch: first + uint64(i), PublicKey: k.Public().Bytes(), KeyID: hex.EncodeToString(id[:])})
	}
	return d
}

// TestHTTPSource reads the document over TLS and refuses the malformed
// ones.
func TestHTTPSource(t *testing.T) {
	ks := keys(t, 4)
	var mu sync.Mutex
	body, status := []byte(nil), http.StatusOK
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.SendTokenKeysPath || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
		w.Write(body)
	}))
	defer srv.Close()
	serve := func(code int, v any) {
		mu.Lock()
		defer mu.Unlock()
		status = code
		if b, ok := v.([]byte); ok {
			body = b
			return
		}
		body, _ = json.Marshal(v)
	}
	src, err := NewHTTPSource(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	serve(http.StatusOK, doc(issuer, sendtoken.TokenType, 7, ks[0], ks[1], ks[2]))
	iss, got, err := src.SendTokenPublicKeys(context.Background())
	if err != nil || iss != issuer || !equal(epochs(got), []uint64{7, 8, 9}) || !got[1].Key.Equal(ks[1].Public()) {
		t.Fatalf("good document: %q %v %v", iss, epochs(got), err)
	}
	wrongID := doc(issuer, sendtoken.TokenType, 7, ks[0])
	wrongID.Keys[0].KeyID = hex.EncodeToString(make([]byte, 32))
	gap := doc(issuer, sendtoken.TokenType, 7, ks[0], ks[1])
	gap.Keys[1].Epoch = 9
	badKey := doc(issuer, sendtoken.TokenType, 7, ks[0])
	badKey.Keys[0].PublicKey = badKey.Keys[0].PublicKey[1:]
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"token type", doc(issuer, 1, 7, ks[0])},
		{"no keys", doc(issuer, sendtoken.TokenType, 7)},
		{"four keys", doc(issuer, sendtoken.TokenType, 7, ks...)},
		{"key id", wrongID},
		{"epochs not consecutive", gap},
		{"key encoding", badKey},
		{"not JSON", []byte("<html>")},
		{"too long", make([]byte, maxDocument+1)},
	} {
		serve(http.StatusOK, tc.v)
		if _, _, err := src.SendTokenPublicKeys(context.Background()); !errors.Is(err, ErrBadDocument) {
			t.Errorf("%s: %v, want ErrBadDocument", tc.name, err)
		}
	}
	serve(http.StatusServiceUnavailable, []byte("{}"))
	if _, _, err := src.SendTokenPublicKeys(context.Background()); err == nil {
		t.Error("503 accepted")
	}
	// Another TLS certificate than the client trusts: refused.
	other, err := NewHTTPSource(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.SendTokenPublicKeys(context.Background()); err == nil {
		t.Error("untrusted certificate accepted")
	}
	for _, u := range []string{"http://x", "https://x/path", "https://", "https://u@x"} {
		if _, err := NewHTTPSource(u, nil); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}
