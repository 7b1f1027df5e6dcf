package keyserver_test

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

func TestWellKnown(t *testing.T) {
	e := newEnv(t, nil)
	var wk api.WellKnown
	e.ok("GET", "/.well-known/sealpost-keyserver", nil, "", http.StatusOK, &wk)
	pub := e.tokenKey.Public().(ed25519.PublicKey)
	kid := token.KeyID(pub)
	if wk.Name != serverName || string(wk.TokenKey) != string(pub) || string(wk.TokenKeyID) != string(kid[:]) ||
		wk.Audience != "keyserver:"+serverName ||
		len(wk.RelayAudiences) != 1 || wk.RelayAudiences[0] != "relay:"+serverName || wk.InviteOnly {
		t.Fatalf("well-known: %+v", wk)
	}
	// The directory's log is the one published (dirClient checks its
	// members against the keys the test gave the server).
	e.dirClient()
	if wk.Limits.MaxOneTimePerUpload != 20 || wk.Limits.MaxBodyBytes != 64<<10 || wk.Limits.TokenLifetime != 3600 {
		t.Fatalf("limits: %+v", wk.Limits)
	}
}

func TestTLS12Refused(t *testing.T) {
	e := newEnv(t, nil)
	tr := e.client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.MaxVersion = tls.VersionTLS12
	c := &http.Client{Transport: tr}
	resp, err := c.Get(e.ts.URL + "/.well-known/sealpost-keyserver")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.2 client was served")
	}
	// The TLS 1.3 client works.
	e.ok("GET", "/.well-known/sealpost-keyserver", nil, "", http.StatusOK, nil)
}

// TestFlow walks the whole API: registration, directory lookups with
// proofs, devices added and revoked, tokens, prekeys, claims down to the
// fallback, and an audit of the directory's log after each change.
func TestFlow(t *testing.T) { onEngines(t, testFlow) }

func testFlow(t *testing.T, open func(*testing.T) store.Store) {
	e := newEnvOn(t, open, nil)
	c := e.dirClient()
	auditor := c.newAuditor()
	// audit checks every epoch since the last audit, and the consistency
	// of the log with the one it saw then.
	audit := func() {
		t.Helper()
		if _, err := c.audit(auditor); err != nil {
			t.Fatalf("audit: %v", err)
		}
	}
	if entry := c.latest(t, "alice"); entry != nil {
		t.Fatalf("alice in a fresh directory: %+v", entry)
	}
	audit()

	alice, bob := e.newUser("alice"), e.newUser("bob")
	if r := e.register(alice); r.Version != 1 || r.LogIndex != 0 {
		t.Fatalf("register alice: %+v", r)
	}
	if r := e.register(bob); r.Version != 1 || r.LogIndex != 1 {
		t.Fatalf("register bob: %+v", r)
	}
	if a := c.latest(t, "alice"); a == nil || a.Version != 1 || len(a.Devices) != 1 {
		t.Fatalf("lookup alice: %+v", a)
	}
	audit()

	// A second device for alice, authorised by her account key and proven
	// by a challenge signed with the new device's key.
	cert2 := e.newDevice(alice, 2)
	ch := e.challenge("")
	var ks api.KeySetResponse
	e.ok("POST", "/v1/accounts/alice/devices", api.AddDeviceRequest{
		Certificate: cert2.Marshal(), Challenge: ch, ChallengeSignature: e.sign(alice, 2, ch),
	}, "", http.StatusOK, &ks)
	if ks.Version != 2 || ks.LogIndex != 2 {
		t.Fatalf("add device: %+v", ks)
	}
	if a := c.latest(t, "alice"); a == nil || a.Version != 2 || len(a.Devices) != 2 || a.Devices[1].Certificate.Device != 2 {
		t.Fatalf("after add: %+v", a)
	}
	audit()

	// Tokens for each audience; the relay token verifies with the
	// published key.
	tokA1 := e.token(alice, 1, "")
	tokA2 := e.token(alice, 2, "")
	tokB := e.token(bob, 1, "")
	relayTok := e.token(alice, 1, "relay:"+serverName)
	rv, err := token.NewVerifier("relay:"+serverName, token.ClockSkew, e.tokenKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if tk, err := rv.Verify(relayTok, e.clock.Now()); err != nil || tk.Handle != "alice" || tk.Device != 1 {
		t.Fatalf("relay token: %v %+v", err, tk)
	}

	// Prekeys: 3 one-time of each kind for alice's device 1, fallback
	// keys only for device 2.
	var counts api.PrekeyCounts
	e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 1, 1, 3), tokA1, http.StatusOK, &counts)
	if counts != (api.PrekeyCounts{OneTime: 3, OneTimeKEM: 3}) {
		t.Fatalf("counts after upload: %+v", counts)
	}
	e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 2, 1, 0), tokA2, http.StatusOK, &counts)
	e.ok("GET", "/v1/prekeys/count", nil, tokA1, http.StatusOK, &counts)
	if counts.OneTime != 3 {
		t.Fatalf("count: %+v", counts)
	}

	// Bob claims alice's bundles: device 1 hands out its one-time keys,
	// each once, then falls back; device 2 is exhausted from the start.
	seen := map[string]bool{}
	for i := range 5 {
		var cr api.ClaimResponse
		e.ok("POST", "/v1/accounts/alice/claim", nil, tokB, http.StatusOK, &cr)
		if len(cr.Bundles) != 2 {
			t.Fatalf("claim %d: %d bundles", i, len(cr.Bundles))
		}
		for _, cb := range cr.Bundles {
			b, err := keys.ParseBundle(cb.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			if err := keys.VerifyBundle("alice", alice.account.Public(), b); err != nil {
				t.Fatal(err)
			}
			if b.Exhausted() != cb.Exhausted || uint32(b.Certificate.Device) != cb.Device {
				t.Fatalf("claim %d device %d: exhausted flag %v, bundle says %v", i, cb.Device, cb.Exhausted, b.Exhausted())
			}
			wantExhausted := cb.Device == 2 || i >= 3
			if cb.Exhausted != wantExhausted {
				t.Fatalf("claim %d device %d: exhausted %v, want %v", i, cb.Device, cb.Exhausted, wantExhausted)
			}
			if b.OneTimePrekey != nil {
				k := fmt.Sprint(b.OneTimePrekey.ID)
				if seen[k] {
					t.Fatalf("one-time prekey %s handed out twice", k)
				}
				seen[k] = true
			}
		}
	}
	e.ok("GET", "/v1/prekeys/count", nil, tokA1, http.StatusOK, &counts)
	if counts != (api.PrekeyCounts{}) {
		t.Fatalf("counts after claims: %+v", counts)
	}

	// Revoke device 2: its token can no longer upload, it gets no new
	// token, and claims serve device 1 only.
	ks = e.revoke(alice, 2, 1)
	if ks.Version != 3 {
		t.Fatalf("revoke: %+v", ks)
	}
	if a := c.latest(t, "alice"); a == nil || a.Version != 3 || len(a.Devices) != 2 || a.Devices[1].Revocation == nil {
		t.Fatalf("after revoke: %+v", a)
	}
	audit()
	if r := e.do("PUT", "/v1/prekeys", e.prekeys(alice, 2, 10, 1), tokA2); r.status != http.StatusForbidden || r.code() != api.CodeDeviceRevoked {
		t.Fatalf("upload by revoked device: %d %s", r.status, r.body)
	}
	ch = e.challenge("")
	r := e.do("POST", "/v1/tokens", api.TokenRequest{Handle: "alice", Device: 2, Audience: "keyserver:" + serverName, Challenge: ch, ChallengeSignature: e.sign(alice, 2, ch)}, "")
	if r.status != http.StatusForbidden || r.code() != api.CodeDeviceRevoked {
		t.Fatalf("token for revoked device: %d %s", r.status, r.body)
	}
	var cr api.ClaimResponse
	e.ok("POST", "/v1/accounts/alice/claim", nil, tokB, http.StatusOK, &cr)
	if len(cr.Bundles) != 1 || cr.Bundles[0].Device != 1 {
		t.Fatalf("claim after revoke: %+v", cr)
	}

	// The owner's history holds every sequenced version, up to 3.
	entries, _, err := c.history("alice", tokA1)
	if err != nil || len(entries) == 0 || entries[0].Version != 1 || entries[len(entries)-1].Version != 3 {
		t.Fatalf("history of alice: %d entries, %v", len(entries), err)
	}
	audit()
}

func TestExpiredChallengeAndToken(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.newUser("alice")
	e.register(alice)
	tok := e.token(alice, 1, "")
	ch := e.challenge("")
	e.clock.Advance(token.ChallengeLifetime + time.Second)
	before := e.snapshot("alice")
	r := e.do("POST", "/v1/tokens", api.TokenRequest{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, Challenge: ch, ChallengeSignature: e.sign(alice, 1, ch)}, "")
	if r.status != http.StatusBadRequest || r.code() != api.CodeChallengeInvalid {
		t.Fatalf("expired challenge: %d %s", r.status, r.body)
	}
	e.clock.Advance(2 * time.Hour)
	r = e.do("PUT", "/v1/prekeys", e.prekeys(alice, 1, 1, 1), tok)
	if r.status != http.StatusUnauthorized || r.code() != api.CodeTokenExpired {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	e.unchanged(before, "alice")
}

func TestChallengeSingleUse(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.newUser("alice")
	e.register(alice)
	ch := e.challenge("")
	req := api.TokenRequest{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, Challenge: ch, ChallengeSignature: e.sign(alice, 1, ch)}
	e.ok("POST", "/v1/tokens", req, "", http.StatusCreated, nil)
	if r := e.do("POST", "/v1/tokens", req, ""); r.status != http.StatusBadRequest || r.code() != api.CodeChallengeInvalid {
		t.Fatalf("replayed challenge: %d %s", r.status, r.body)
	}
}

func TestInviteOnly(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.InviteOnly = true })
	alice := e.newUser("alice")
	before := e.snapshot("alice")
	req := e.registerRequest(alice)
	if r := e.do("POST", "/v1/accounts", req, ""); r.status != http.StatusForbidden || r.code() != api.CodeInviteRequired {
		t.Fatalf("no invite: %d %s", r.status, r.body)
	}
	req = e.registerRequest(alice)
	req.Invite = "not-a-code"
	if r := e.do("POST", "/v1/accounts", req, ""); r.status != http.StatusForbidden || r.code() != api.CodeInviteRequired {
		t.Fatalf("bad invite: %d %s", r.status, r.body)
	}
	e.unchanged(before, "alice")
	code, err := e.srv.AddInvite(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	req = e.registerRequest(alice)
	req.Invite = code
	e.ok("POST", "/v1/accounts", req, "", http.StatusCreated, nil)
	bob := e.newUser("bob")
	req = e.registerRequest(bob)
	req.Invite = code
	if r := e.do("POST", "/v1/accounts", req, ""); r.status != http.StatusForbidden || r.code() != api.CodeInviteRequired {
		t.Fatalf("reused invite: %d %s", r.status, r.body)
	}
	var wk api.WellKnown
	e.ok("GET", "/.well-known/sealpost-keyserver", nil, "", http.StatusOK, &wk)
	if !wk.InviteOnly {
		t.Fatal("well-known does not say invite only")
	}
}

func TestClaimRateLimit(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.Limits.ClaimsPerMinute, c.Limits.ClaimBurst = 60, 2 })
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	tok := e.token(bob, 1, "")
	e.ok("POST", "/v1/accounts/alice/claim", nil, tok, http.StatusOK, nil)
	e.ok("POST", "/v1/accounts/alice/claim", nil, tok, http.StatusOK, nil)
	r := e.do("POST", "/v1/accounts/alice/claim", nil, tok)
	if r.status != http.StatusTooManyRequests || r.code() != api.CodeRateLimited || r.header.Get("Retry-After") != "1" {
		t.Fatalf("third claim: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	e.clock.Advance(time.Second)
	e.ok("POST", "/v1/accounts/alice/claim", nil, tok, http.StatusOK, nil)
}

func TestNotFoundAndMethod(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("GET", "/v1/nothing", nil, ""); r.status != http.StatusNotFound || r.code() != api.CodeNotFound {
		t.Fatalf("unknown path: %d %s", r.status, r.body)
	}
	r := e.do("DELETE", "/v1/accounts", nil, "")
	if r.status != http.StatusMethodNotAllowed || r.code() != api.CodeMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Fatalf("wrong method: %d %q %s", r.status, r.header.Get("Allow"), r.body)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 2 {
		t.Fatalf("error body %s", r.body)
	}
}
