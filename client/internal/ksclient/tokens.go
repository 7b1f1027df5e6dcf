package ksclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
)

// Refreshing: a token is used until less than a quarter of its lifetime,
// and at least minRefreshMargin, is left (but at most half of it, so a
// short-lived token is still reused); then a new one is fetched.
const (
	minRefreshMargin = 60 * time.Second
	fetchTimeout     = 2 * time.Minute
)

// Tokens fetches and caches the access tokens of one device, one per
// audience (spec/keyserver.md §5.1, §5.6; spec/token.md §4). It is safe for
// concurrent use. Tokens are bearer credentials: never log what Get returns.
type Tokens struct {
	c      *Client
	handle string
	device uint32
	signer token.DeviceSigner
	now    func() time.Time // the local clock; tests replace it

	mu       sync.Mutex
	cache    map[string]cachedToken // by audience; guarded by mu
	inflight map[string]*tokenCall  // by audience; guarded by mu
}

type cachedToken struct {
	text      string
	refreshAt time.Time // local clock
}

// tokenCall is one fetch that concurrent Gets for an audience share.
type tokenCall struct {
	done chan struct{}
	text string
	err  error
}

// NewTokens returns the token source of device of account handle, whose
// device signing key signer holds (a *keys.DevicePrivateKeys).
func NewTokens(c *Client, handle string, device uint32, signer token.DeviceSigner) *Tokens {
	return &Tokens{
		c: c, handle: handle, device: device, signer: signer, now: time.Now,
		cache: map[string]cachedToken{}, inflight: map[string]*tokenCall{},
	}
}

// Get returns a token for audience ("" means the key server's own,
// "keyserver:<Name>"): the cached one while it has more than its refresh
// margin left, else a new one (challenge, signature, POST /v1/tokens).
// Concurrent Gets for one audience share one fetch; a Get whose ctx ends
// returns ctx's error without cancelling the fetch others wait for.
func (t *Tokens) Get(ctx context.Context, audience string) (string, error) {
	audience, err := t.audience(ctx, audience)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	if ct, ok := t.cache[audience]; ok && t.now().Before(ct.refreshAt) {
		t.mu.Unlock()
		return ct.text, nil
	}
	call, ok := t.inflight[audience]
	if !ok {
		call = &tokenCall{done: make(chan struct{})}
		t.inflight[audience] = call
		go t.fetch(context.WithoutCancel(ctx), audience, call)
	}
	t.mu.Unlock()
	select {
	case <-call.done:
		return call.text, call.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Invalidate drops the cached token for audience ("" means the key
// server's own), for instance after the server refused it with 401: the
// next Get fetches a new one.
func (t *Tokens) Invalidate(audience string) {
	if audience == "" {
		t.c.mu.Lock()
		if t.c.wk != nil {
			audience = t.c.wk.Audience
		}
		t.c.mu.Unlock()
	}
	t.mu.Lock()
	delete(t.cache, audience)
	t.mu.Unlock()
}

// audience resolves "" to the key server's own audience.
func (t *Tokens) audience(ctx context.Context, audience string) (string, error) {
	if audience != "" {
		return audience, nil
	}
	wk, err := t.c.WellKnown(ctx)
	if err != nil {
		return "", err
	}
	return wk.Audience, nil
}

// fetch gets a new token for audience and completes call.
func (t *Tokens) fetch(ctx context.Context, audience string, call *tokenCall) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	text, refreshAt, err := t.request(ctx, audience)
	t.mu.Lock()
	if err == nil {
		t.cache[audience] = cachedToken{text: text, refreshAt: refreshAt}
	}
	delete(t.inflight, audience)
	t.mu.Unlock()
	call.text, call.err = text, err
	close(call.done)
}

// request runs the exchange of spec/keyserver.md §5.1 and §5.6 and
// returns the token and, on the local clock, when to refresh it.
func (t *Tokens) request(ctx context.Context, audience string) (string, time.Time, error) {
	name, err := t.c.Name(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	start := t.now()
	ch, err := t.c.Challenge(ctx, audience)
	if err != nil {
		return "", time.Time{}, err
	}
	// spec/keyserver.md §5.1 "Response signature": SignChallenge also
	// checks that the challenge names this server: the configured name
	// (Expect), not one the server chose.
	sig, err := token.SignChallenge(t.signer, t.handle, keys.DeviceID(t.device), ch.Challenge, name)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("ksclient: the key server's challenge: %w", err)
	}
	resp, err := t.c.Token(ctx, &api.TokenRequest{
		Handle: t.handle, Device: t.device, Audience: audience,
		Challenge: ch.Challenge, ChallengeSignature: sig,
	})
	if err != nil {
		return "", time.Time{}, err
	}
	// The token's own times give its lifetime; the local clock, read
	// before asking, places it, so a skewed clock does not matter.
	tok, err := token.Decode(resp.Token)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("ksclient: the key server issued a malformed token: %w", err)
	}
	if tok.Handle != t.handle || uint32(tok.Device) != t.device || tok.Audience != audience || tok.Expiry.Unix() != resp.ExpiresAt {
		return "", time.Time{}, errors.New("ksclient: the key server issued a token for another handle, device, audience or expiry than asked")
	}
	lifetime := tok.Expiry.Sub(tok.IssuedAt)
	if lifetime <= 0 {
		return "", time.Time{}, errors.New("ksclient: the key server issued a token that is already expired")
	}
	return resp.Token, start.Add(lifetime - refreshMargin(lifetime)), nil
}

// refreshMargin is how long before its expiry a token of lifetime is
// replaced: a quarter of its lifetime, at least minRefreshMargin, at most
// half of it.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(max(lifetime/4, minRefreshMargin), lifetime/2)
}
