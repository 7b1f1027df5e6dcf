package keyserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
)

// BenchmarkRefusedCost measures what each rate-limited endpoint costs the
// server per refused request, on SQLite, calling the handler directly (no
// TLS): "limited" is a request the rate limit refuses (429), "worst" the
// costliest request the limit lets through that is then refused. These
// are the figures of SECURITY.md's endpoint table:
//
//	go test ./keyserver -run '^$' -bench RefusedCost -benchtime 200x
func BenchmarkRefusedCost(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "keyserver.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	// Production limits for sizes; rates open for the setup, then
	// closed per benchmark by exhausting a second server's buckets.
	e := newEnvStore(b, st, func(c *keyserver.Config) {
		c.Limits = keyserver.DefaultLimits()
		c.Limits.RequestsPerSecond, c.Limits.RequestBurst = 1e6, 1e6
		c.Limits.UploadsPerHour, c.Limits.UploadBurst = 1e6, 1e6
		c.Limits.LookupsPerSecond, c.Limits.LookupBurst = 1e6, 1e6
		c.Limits.AddressLookupsPerSecond, c.Limits.AddressLookupBurst = 1e6, 1e6
		c.Limits.ClaimsPerMinute, c.Limits.ClaimBurst = 1e6, 1e6
	})
	closed := newEnvStore(b, st, func(c *keyserver.Config) {
		c.Limits = keyserver.DefaultLimits()
		c.Limits.RequestsPerSecond, c.Limits.RequestBurst = 1, 1
		c.Limits.UploadsPerHour, c.Limits.UploadBurst = 1, 1
		c.Limits.LookupsPerSecond, c.Limits.LookupBurst = 1, 1
		c.Limits.AddressLookupsPerSecond, c.Limits.AddressLookupBurst = 1, 1
		c.Limits.ClaimsPerMinute, c.Limits.ClaimBurst = 1, 1
		c.TokenKey, c.LogKey = e.tokenKey, e.logKey
	})
	open, shut := e.srv.Handler(), closed.srv.Handler()
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	e.addDevice(alice, 2)
	e.waitSequenced()
	tok := e.token(alice, 1, "")
	full := e.prekeys(alice, 1, 1, 100)
	e.ok("PUT", "/v1/prekeys", full, tok, http.StatusOK, nil)
	worstUpload := e.prekeys(alice, 1, 1000, 100)
	last := worstUpload.OneTimeKEMPrekeys[99]
	last[len(last)-1] ^= 1
	rev, err := alice.account.RevokeDevice("alice", 2, e.clock.Now())
	if err != nil {
		b.Fatal(err)
	}
	badRev := rev.Marshal()
	badRev[len(badRev)-1] ^= 1
	newCert := e.newDevice(alice, 3)

	type request struct {
		method, path, bearer string
		body                 any
	}
	encode := func(b *testing.B, r request) []byte {
		if r.body == nil {
			return nil
		}
		body, err := json.Marshal(r.body)
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	do := func(b *testing.B, h http.Handler, r request, body []byte, want int) {
		req := httptest.NewRequest(r.method, "https://keyserver"+r.path, bytes.NewReader(body))
		req.RemoteAddr = "192.0.2.1:1234"
		if r.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+r.bearer)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("%s %s: %d, want %d: %s", r.method, r.path, w.Code, want, w.Body)
		}
	}
	// badChallenge returns a fresh challenge and a signature that does not
	// verify: the costliest refusal of register, token and add device.
	badChallenge := func() ([]byte, []byte) {
		ch := e.challenge("")
		sig := e.sign(alice, 1, ch)
		sig[0] ^= 1
		return ch, sig
	}
	pub := bob.account.Public()
	cases := []struct {
		name    string
		req     func() request // built outside the timer
		limited request
	}{
		{"upload", func() request { return request{"PUT", "/v1/prekeys", tok, worstUpload} },
			request{"PUT", "/v1/prekeys", tok, full}},
		{"upload_held_ids", func() request { return request{"PUT", "/v1/prekeys", tok, full} },
			request{"PUT", "/v1/prekeys", tok, full}},
		{"claim", func() request { return request{"POST", "/v1/accounts/alice/claim", tok, nil} },
			request{"POST", "/v1/accounts/bob/claim", tok, nil}},
		// A lookup's costliest answer is a miss: the VRF proof is computed
		// for a handle never sequenced, and the map proves it absent.
		{"lookup", func() request { return request{"GET", "/v2/accounts/nobody", "", nil} },
			request{"GET", "/v2/accounts/alice", "", nil}},
		{"register", func() request {
			ch, sig := badChallenge()
			return request{"POST", "/v1/accounts", "", api.RegisterRequest{Handle: "bob2", AccountKey: pub[:], Certificate: newCertFor(b, e, bob, "bob2"), Challenge: ch, ChallengeSignature: sig}}
		}, request{"POST", "/v1/accounts", "", api.RegisterRequest{}}},
		{"token", func() request {
			ch := e.challenge("keyserver:" + serverName)
			sig := e.sign(alice, 1, ch)
			sig[0] ^= 1
			return request{"POST", "/v1/tokens", "", api.TokenRequest{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, Challenge: ch, ChallengeSignature: sig}}
		}, request{"POST", "/v1/tokens", "", api.TokenRequest{}}},
		{"add_device", func() request {
			ch, sig := badChallenge()
			return request{"POST", "/v1/accounts/alice/devices", "", api.AddDeviceRequest{Certificate: newCert.Marshal(), Challenge: ch, ChallengeSignature: sig}}
		}, request{"POST", "/v1/accounts/alice/devices", "", api.AddDeviceRequest{}}},
		{"revoke", func() request {
			return request{"POST", "/v1/accounts/alice/devices/2/revoke", tok, api.RevokeDeviceRequest{Revocation: badRev}}
		}, request{"POST", "/v1/accounts/alice/devices/2/revoke", tok, api.RevokeDeviceRequest{Revocation: badRev}}},
	}
	want := map[string]int{"upload": 400, "upload_held_ids": 409, "claim": 200, "lookup": 200, "register": 400, "token": 400, "add_device": 400, "revoke": 400}
	for _, c := range cases {
		b.Run(c.name+"/worst", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				r := c.req()
				body := encode(b, r)
				b.StartTimer()
				do(b, open, r, body, want[c.name])
			}
		})
		b.Run(c.name+"/limited", func(b *testing.B) {
			for range 3 { // spend the bucket
				req := httptest.NewRequest(c.limited.method, "https://keyserver"+c.limited.path, nil)
				req.RemoteAddr = "192.0.2.1:1234"
				if c.limited.bearer != "" {
					req.Header.Set("Authorization", "Bearer "+c.limited.bearer)
				}
				shut.ServeHTTP(httptest.NewRecorder(), req)
			}
			body := encode(b, c.limited)
			for b.Loop() {
				do(b, shut, c.limited, body, http.StatusTooManyRequests)
			}
		})
	}
}

// newCertFor certifies a device of u for handle (a registration whose
// certificate verifies, so that the challenge is what fails).
func newCertFor(b *testing.B, e *env, u *user, handle string) []byte {
	dev := u.devices[1]
	cert, err := u.account.CertifyDevice(handle, 1, dev.Public(), e.clock.Now())
	if err != nil {
		b.Fatal(fmt.Errorf("certify: %w", err))
	}
	return cert.Marshal()
}
