package ksclient

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/tlsconfig"
)

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:1",
		"https://",
		"https://127.0.0.1:1/?x=1",
		"https://user@127.0.0.1:1",
		"ftp://127.0.0.1",
		"127.0.0.1:443",
		"://",
	} {
		if _, err := New(u, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := New("https://127.0.0.1:1/", nil); err != nil {
		t.Errorf("trailing slash: %v", err)
	}
}

// TestEndpoints walks every endpoint of spec/keyserver.md through the
// client, against a real key server over TLS 1.3.
func TestEndpoints(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)

	wk, err := s.c.WellKnown(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wk.Name != serverName || wk.Audience != "keyserver:"+serverName || wk.DirectoryOrigin != serverName+directory.OriginSuffix || len(wk.VRFKey) != 32 || wk.Limits.MaxLeaves != 3 || len(wk.TokenKey) != 32 {
		t.Fatalf("well-known: %+v", wk)
	}
	if _, err := s.c.WellKnown(ctx); err != nil || s.count(wellKnownPath) != 1 {
		t.Fatalf("well-known not cached: %v, %d requests", err, s.count(wellKnownPath))
	}

	ch, err := s.c.Challenge(ctx, "relay:"+serverName)
	if err != nil || len(ch.Challenge) == 0 || ch.ExpiresAt != s.clock.Now().Add(2*time.Minute).Unix() {
		t.Fatalf("challenge: %+v, %v", ch, err)
	}

	alice, bob := s.newUser("alice"), s.newUser("bob")
	if r := s.register(alice); r.Version != 1 || r.LogIndex != 0 {
		t.Fatalf("register alice: %+v", r)
	}
	if r := s.register(bob); r.Version != 1 || r.LogIndex != 1 {
		t.Fatalf("register bob: %+v", r)
	}
	if r := s.addDevice(alice, 2); r.Version != 2 || r.LogIndex != 2 {
		t.Fatalf("add device: %+v", r)
	}
	// Epoch 1 is the directory's first, empty one; each change since is
	// an epoch of its own.
	a := s.lookup("alice")
	if a.Handle != "alice" || a.Epoch != 4 || len(a.Entry) == 0 || len(a.Opening) != 32 || len(a.VRFProof) != 80 || len(a.Leaf) != directory.LeafSize || a.Checkpoint == "" {
		t.Fatalf("lookup: %+v", a)
	}
	if e, err := kt.ParseEntry(a.Entry); err != nil || e.Version != 2 || len(e.Devices) != 2 {
		t.Fatalf("lookup entry: %+v, %v", e, err)
	}

	// Tokens by hand (Tokens does this in TestTokens*).
	tokA := s.tokenFor(alice, 1)
	tokA2 := s.tokenFor(alice, 2)
	tokB := s.tokenFor(bob, 1)

	counts, err := s.c.UploadPrekeys(ctx, tokA, s.prekeys(alice, 1, 1, 2))
	if err != nil || *counts != (api.PrekeyCounts{OneTime: 2, OneTimeKEM: 2}) {
		t.Fatalf("upload: %+v, %v", counts, err)
	}
	if _, err := s.c.UploadPrekeys(ctx, tokA2, s.prekeys(alice, 2, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if counts, err := s.c.PrekeyCount(ctx, tokA); err != nil || counts.OneTime != 2 {
		t.Fatalf("count: %+v, %v", counts, err)
	}
	claim, err := s.c.Claim(ctx, tokB, "alice")
	if err != nil || len(claim.Bundles) != 2 || claim.Bundles[0].Device != 1 || claim.Bundles[0].Exhausted || !claim.Bundles[1].Exhausted {
		t.Fatalf("claim: %+v, %v", claim, err)
	}
	if counts, err := s.c.PrekeyCount(ctx, tokA); err != nil || counts.OneTime != 1 {
		t.Fatalf("count after claim: %+v, %v", counts, err)
	}

	if r := s.revoke(alice, 2); r.Version != 3 || r.LogIndex != 3 {
		t.Fatalf("revoke: %+v", r)
	}
	if e, err := kt.ParseEntry(s.lookup("alice").Entry); err != nil || e.Devices[1].Revocation == nil {
		t.Fatalf("revocation not listed: %v", err)
	}

	v := s.verifier()
	cp := s.checkpoint(v)
	if cp.Size != 5 { // an empty first epoch, then one per change
		t.Fatalf("checkpoint size %d", cp.Size)
	}
	proof, err := s.c.Consistency(ctx, 1, 5)
	if err != nil || len(proof) == 0 {
		t.Fatalf("consistency: %d hashes, %v", len(proof), err)
	}
	before := s.count("/v2/log/consistency")
	for _, p := range [][2]int64{{0, 5}, {5, 5}} {
		if proof, err := s.c.Consistency(ctx, p[0], p[1]); err != nil || proof != nil {
			t.Fatalf("consistency %v: %v, %v", p, proof, err)
		}
	}
	if s.count("/v2/log/consistency") != before {
		t.Fatal("an empty consistency proof was fetched")
	}
	leaves, err := s.c.Leaves(ctx, 2, 5)
	if err != nil || len(leaves) != 3 {
		t.Fatalf("leaves: %d, %v", len(leaves), err)
	}
	if l, err := directory.ParseLeaf(leaves[0]); err != nil || l.Epoch != 3 || l.Count != 1 {
		t.Fatalf("leaf of epoch 3: %+v, %v", l, err)
	}
	b, err := s.c.Batch(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if es, err := vmap.ParseBatch(b.Batch); err != nil || len(es) != 1 || es[0].OldVersion != 0 || es[0].Value.Version != 1 {
		t.Fatalf("batch of epoch 3: %+v, %v", es, err)
	}
	hist, err := s.c.DirectoryHistory(ctx, tokA, "alice")
	if err != nil || len(hist.Versions) != 3 || hist.Versions[2].Epoch != 5 {
		t.Fatalf("history: %+v, %v", hist, err)
	}
}

func TestAPIErrors(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	alice := s.newUser("alice")
	s.register(alice)

	check := func(name string, err error, status int, code string) {
		t.Helper()
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != status || ae.Code != code || !IsCode(err, code) {
			t.Errorf("%s: %v, want %d %s", name, err, status, code)
		}
		if IsCode(err, "some_other_code") {
			t.Errorf("%s: IsCode matches another code", name)
		}
	}
	_, err := s.c.Claim(ctx, s.tokenFor(alice, 1), "nobody")
	check("unknown handle", err, http.StatusNotFound, api.CodeUnknownHandle)

	ch, sig := s.signed(alice, 1)
	pub := alice.account.Public()
	_, err = s.c.Register(ctx, &api.RegisterRequest{Handle: "alice", AccountKey: pub[:], Certificate: alice.certs[1].Marshal(), Challenge: ch, ChallengeSignature: sig})
	check("handle taken", err, http.StatusConflict, api.CodeHandleTaken)

	_, err = s.c.PrekeyCount(ctx, "not-a-token")
	check("bad token", err, http.StatusUnauthorized, api.CodeInvalidToken)

	_, err = s.c.Leaves(ctx, 0, 5)
	check("leaves past the end", err, http.StatusBadRequest, api.CodeBadRequest)

	_, err = s.c.RevokeDevice(ctx, s.tokenFor(alice, 1), "alice", 7, &api.RevokeDeviceRequest{Revocation: []byte{1}})
	check("bad revocation", err, http.StatusBadRequest, api.CodeMalformedKey)

	_, err = s.c.Challenge(ctx, "relay:elsewhere")
	check("wrong audience", err, http.StatusBadRequest, api.CodeWrongAudience)

	// Handles are checked locally: one that is not valid never reaches
	// the server, so it cannot change the path.
	n := len(s.counts)
	for _, h := range []string{"../v1/log/checkpoint", "Alice", "a/b", ""} {
		if _, err := s.c.DirectoryLookup(ctx, h); !errors.Is(err, keys.ErrInvalidHandle) {
			t.Errorf("DirectoryLookup(%q): %v", h, err)
		}
		if _, err := s.c.DirectoryHistory(ctx, "tok", h); !errors.Is(err, keys.ErrInvalidHandle) {
			t.Errorf("DirectoryHistory(%q): %v", h, err)
		}
		if _, err := s.c.Claim(ctx, "tok", h); !errors.Is(err, keys.ErrInvalidHandle) {
			t.Errorf("Claim(%q): %v", h, err)
		}
	}
	if len(s.counts) != n {
		t.Error("an invalid handle reached the server")
	}
}

func TestRateLimitedRetryAfter(t *testing.T) {
	s := newServer(t, "", func(c *keyserver.Config) {
		c.Limits.RequestsPerSecond, c.Limits.RequestBurst = 1, 1
	})
	ctx := context.Background()
	if _, err := s.c.Challenge(ctx, ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.c.Challenge(ctx, "")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.Code != api.CodeRateLimited || ae.RetryAfter < time.Second {
		t.Fatalf("second challenge: %#v", err)
	}
}

func TestNonJSONError(t *testing.T) {
	s := newServer(t, "", nil)
	s.setForge(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		w.Header().Set("Retry-After", "7")
		http.Error(w, "bad gateway <html>", http.StatusBadGateway)
		return true
	})
	_, err := s.c.Checkpoint(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.Code != "" || ae.RetryAfter != 0 {
		t.Fatalf("502: %#v", err)
	}
	if strings.Contains(err.Error(), "<html>") {
		t.Errorf("error carries the body: %v", err)
	}
}

func TestNetworkErrors(t *testing.T) {
	s := newServer(t, "", nil)
	s.ts.Close()
	_, err := s.c.Checkpoint(context.Background())
	var ae *APIError
	var ne net.Error
	if err == nil || errors.As(err, &ae) || !errors.As(err, &ne) {
		t.Fatalf("closed server: %#v", err)
	}
	if errors.Is(err, kt.ErrSecurity) {
		t.Fatal("a network error is a security error")
	}

	// Another certificate than the pinned one: refused.
	s2 := newServer(t, "other", nil)
	c, err := New(s2.ts.URL, tlsconfig.ClientConfig(s.pin))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(context.Background()); !errors.Is(err, tlsconfig.ErrPinMismatch) {
		t.Fatalf("pin mismatch: %v", err)
	}

	// A cancelled context stops the request.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s2.c.Checkpoint(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestStrictDecoding: answers are decoded as strictly as the server
// decodes requests (spec/keyserver.md §2.1); anything else is refused
// before the caller sees it.
func TestStrictDecoding(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	alice := s.newUser("alice")
	s.register(alice)
	tok := s.tokenFor(alice, 1)
	good, err := s.c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		path string
		edit func([]byte) []byte
		call func() error
	}{
		{"unknown member", "/v2/log/checkpoint", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{`), []byte(`{"extra":1,`), 1)
		}, nil},
		{"member in another case", "/v2/log/checkpoint", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"checkpoint"`), []byte(`"Checkpoint"`), 1)
		}, nil},
		{"member twice", "/v2/log/checkpoint", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{`), []byte(`{"checkpoint":"x",`), 1)
		}, nil},
		{"trailing data", "/v2/log/checkpoint", func(b []byte) []byte { return append(b, `{}`...) }, nil},
		{"not an object", "/v2/log/checkpoint", func([]byte) []byte { return []byte(`null`) }, nil},
		{"wrong type", "/v2/log/checkpoint", func([]byte) []byte { return []byte(`{"checkpoint":5}`) }, nil},
		{"too large", "/v2/log/checkpoint", func([]byte) []byte {
			return []byte(`{"checkpoint":"` + strings.Repeat("a", MaxResponseBytes) + `"}`)
		}, nil},
		{"padded base64", "/v2/log/leaves", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"]`), []byte(`="]`), 1)
		}, func() error { _, err := s.c.Leaves(ctx, 0, 1); return err }},
		{"nested unknown member", "/v2/accounts/alice/history", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{"version":1`), []byte(`{"extra":1,"version":1`), 1)
		}, func() error { _, err := s.c.DirectoryHistory(ctx, tok, "alice"); return err }},
		{"nested member in another case", "/v2/accounts/alice/history", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{"version":1`), []byte(`{"Version":1`), 1)
		}, func() error { _, err := s.c.DirectoryHistory(ctx, tok, "alice"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edited atomic.Bool
			s.rewrite(tc.path, func(status int, body []byte) (int, []byte) {
				out := tc.edit(body)
				edited.Store(!bytes.Equal(out, body))
				return status, out
			})
			defer s.setForge(nil)
			call := tc.call
			if call == nil {
				call = func() error { _, err := s.c.Checkpoint(ctx); return err }
			}
			err := call()
			if !edited.Load() {
				t.Fatal("the edit changed nothing")
			}
			var ae *APIError
			if err == nil || errors.As(err, &ae) {
				t.Fatalf("accepted or misclassified: %v", err)
			}
		})
	}
	if got, err := s.c.Checkpoint(ctx); err != nil || got != good {
		t.Fatalf("after the forgeries: %v", err)
	}
}
