package keyserver_test

import (
	"net/http"
	"testing"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
)

// TestPublicKeyWorkRateLimited: once an address's budget is spent,
// registration, tokens, device additions and revocations — each verifying
// signatures — are refused with 429 before any signature is verified,
// and change nothing (spec/keyserver.md §4).
func TestPublicKeyWorkRateLimited(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.Limits.RequestsPerSecond, c.Limits.RequestBurst = 1, 12 })
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	tok := e.token(alice, 1, "")
	e.addDevice(alice, 2)
	reg := e.registerRequest(bob)
	cert := e.newDevice(alice, 3)
	ch := e.challenge("")
	add := api.AddDeviceRequest{Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: e.sign(alice, 3, ch)}
	ch = e.challenge("")
	tokReq := api.TokenRequest{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, Challenge: ch, ChallengeSignature: e.sign(alice, 1, ch)}
	rev, err := alice.account.RevokeDevice("alice", 2, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for e.do("POST", "/v1/challenges", api.ChallengeRequest{}, "").status != http.StatusTooManyRequests {
	}
	before := e.snapshot("alice", "bob")
	checks := keyserver.SignatureChecks(e.srv)
	for _, c := range []struct {
		name, path string
		body       any
		bearer     string
	}{
		{"register", "/v1/accounts", reg, ""},
		{"token", "/v1/tokens", tokReq, ""},
		{"add device", "/v1/accounts/alice/devices", add, ""},
		{"revoke", "/v1/accounts/alice/devices/2/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, tok},
	} {
		r := e.do("POST", c.path, c.body, c.bearer)
		if r.status != http.StatusTooManyRequests || r.code() != api.CodeRateLimited || r.header.Get("Retry-After") != "1" {
			t.Errorf("%s: %d %q %s", c.name, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if n := keyserver.SignatureChecks(e.srv) - checks; n != 0 {
		t.Errorf("rate-limited requests verified %d signatures", n)
	}
	e.unchanged(before, "alice", "bob")
}
