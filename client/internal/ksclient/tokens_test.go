package ksclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
)

func TestRefreshMargin(t *testing.T) {
	for _, tc := range []struct{ lifetime, want time.Duration }{
		{time.Hour, 15 * time.Minute},
		{24 * time.Hour, 6 * time.Hour},
		{3 * time.Minute, time.Minute},
		{2 * time.Minute, time.Minute},
		{time.Minute, 30 * time.Second},
		{time.Second, 500 * time.Millisecond},
	} {
		if got := refreshMargin(tc.lifetime); got != tc.want {
			t.Errorf("refreshMargin(%v) = %v, want %v", tc.lifetime, got, tc.want)
		}
	}
}

// TestTokensCacheAndRefresh: a token is reused until a quarter of its
// lifetime is left, then replaced; Invalidate drops it; audiences are
// cached apart.
func TestTokensCacheAndRefresh(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil) // default TokenLifetime: 1 h
	alice := s.newUser("alice")
	s.register(alice)
	local := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} // skewed from the server's
	tokens := NewTokens(s.c, "alice", 1, alice.devices[1])
	tokens.now = local.Now

	tok1, err := tokens.Get(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// The token works and says what was asked.
	if _, err := s.c.PrekeyCount(ctx, tok1); err != nil {
		t.Fatalf("token refused: %v", err)
	}
	wk, _ := s.c.WellKnown(ctx)
	tv, err := token.NewVerifier(wk.Audience, token.ClockSkew, ed25519.PublicKey(wk.TokenKey))
	if err != nil {
		t.Fatal(err)
	}
	if tk, err := tv.Verify(tok1, s.clock.Now()); err != nil || tk.Handle != "alice" || tk.Device != 1 {
		t.Fatalf("token: %+v, %v", tk, err)
	}

	if tok, err := tokens.Get(ctx, wk.Audience); err != nil || tok != tok1 {
		t.Fatalf("second Get: new token or %v", err)
	}
	if n := s.count("/v1/tokens"); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	local.Advance(44 * time.Minute) // 16 min left of 60: still used
	if tok, err := tokens.Get(ctx, ""); err != nil || tok != tok1 || s.count("/v1/tokens") != 1 {
		t.Fatalf("Get at 44 min: refreshed early or %v", err)
	}
	local.Advance(2 * time.Minute) // 14 min left: replaced
	s.clock.Advance(time.Second)   // a new token differs in its times
	tok2, err := tokens.Get(ctx, "")
	if err != nil || tok2 == tok1 || s.count("/v1/tokens") != 2 {
		t.Fatalf("Get at 46 min: %v, %d requests", err, s.count("/v1/tokens"))
	}

	tokens.Invalidate("")
	tok3, err := tokens.Get(ctx, "")
	if err != nil || tok3 == tok2 || s.count("/v1/tokens") != 3 {
		t.Fatalf("Get after Invalidate: %v, %d requests", err, s.count("/v1/tokens"))
	}

	// The relay audience has its own token.
	relay, err := tokens.Get(ctx, "relay:"+serverName)
	if err != nil || relay == tok3 || s.count("/v1/tokens") != 4 {
		t.Fatalf("relay token: %v", err)
	}
	if tk, err := token.Decode(relay); err != nil || tk.Audience != "relay:"+serverName {
		t.Fatalf("relay token: %+v, %v", tk, err)
	}
	if tok, err := tokens.Get(ctx, ""); err != nil || tok != tok3 {
		t.Fatal("the relay token replaced the key server's")
	}
}

// TestTokensShortLifetime: a server with 10 s tokens; the cache still
// serves them for their first half.
func TestTokensShortLifetime(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", func(c *keyserver.Config) { c.Limits.TokenLifetime = 10 * time.Second })
	alice := s.newUser("alice")
	s.register(alice)
	local := &clock{t: time.Unix(0, 0)}
	tokens := NewTokens(s.c, "alice", 1, alice.devices[1])
	tokens.now = local.Now
	tok1, err := tokens.Get(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	local.Advance(4 * time.Second)
	if tok, _ := tokens.Get(ctx, ""); tok != tok1 {
		t.Fatal("refreshed at 4 s of 10")
	}
	local.Advance(2 * time.Second)
	s.clock.Advance(time.Second)
	if tok, _ := tokens.Get(ctx, ""); tok == tok1 || s.count("/v1/tokens") != 2 {
		t.Fatal("not refreshed at 6 s of 10")
	}
}

// TestTokensConcurrent: concurrent Gets share one fetch.
func TestTokensConcurrent(t *testing.T) {
	s := newServer(t, "", nil)
	alice := s.newUser("alice")
	s.register(alice)
	tokens := NewTokens(s.c, "alice", 1, alice.devices[1])
	challenges := s.count("/v1/challenges")
	const n = 16
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = tokens.Get(context.Background(), "") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("Get %d: %v", i, errs[i])
		}
	}
	if c := s.count("/v1/tokens"); c != 1 {
		t.Fatalf("%d token requests, want 1", c)
	}
	if c := s.count("/v1/challenges") - challenges; c != 1 {
		t.Fatalf("%d challenge requests, want 1", c)
	}
}

// TestTokensErrors: a refused request is returned as the server's
// *APIError and nothing is cached; a caller whose context ends stops
// waiting.
func TestTokensErrors(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	alice := s.newUser("alice")
	s.register(alice)
	s.addDevice(alice, 2)
	s.revoke(alice, 2)
	before := s.count("/v1/tokens") // device 1's, for the revocation

	tokens := NewTokens(s.c, "alice", 2, alice.devices[2])
	for i := range 2 {
		if _, err := tokens.Get(ctx, ""); !IsCode(err, api.CodeDeviceRevoked) {
			t.Fatalf("revoked device: %v", err)
		}
		if c := s.count("/v1/tokens") - before; c != i+1 {
			t.Fatalf("a refusal was cached: %d requests", c)
		}
	}

	// Another device's key: the server refuses the signature.
	wrong := NewTokens(s.c, "alice", 1, alice.devices[2])
	if _, err := wrong.Get(ctx, ""); !IsCode(err, api.CodeBadSignature) {
		t.Fatalf("wrong key: %v", err)
	}

	// An audience the server does not serve.
	good := NewTokens(s.c, "alice", 1, alice.devices[1])
	if _, err := good.Get(ctx, "relay:elsewhere"); !IsCode(err, api.CodeWrongAudience) {
		t.Fatalf("wrong audience: %v", err)
	}

	// A waiter whose context ends gets its context's error; the fetch
	// goes on for others.
	block := make(chan struct{})
	s.setForge(func(_ http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.URL.Path == "/v1/tokens" {
			<-block
		}
		return false
	})
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := good.Get(cctx, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Get: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := good.Get(ctx, ""); done <- err }()
	close(block)
	if err := <-done; err != nil {
		t.Fatalf("Get after the fetch resumed: %v", err)
	}
}
