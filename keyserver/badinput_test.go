package keyserver_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// request is one request of a bad-input case.
type request struct {
	method, path string
	body         any
	bearer       string
}

// jsonWith returns v's JSON with member name set to raw JSON value (or
// removed for raw == "").
func jsonWith(t *testing.T, v any, name, raw string) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if raw == "" {
		delete(m, name)
	} else {
		m[name] = json.RawMessage(raw)
	}
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBadInput sends each kind of bad request the issue lists, and more,
// and checks the documented status and code and that the store did not
// change.
func TestBadInput(t *testing.T) { onEngines(t, testBadInput) }

func testBadInput(t *testing.T, open func(*testing.T) store.Store) {
	e := newEnvOn(t, open, nil)
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	tokA := e.token(alice, 1, "")
	tokB := e.token(bob, 1, "")
	e.addDevice(alice, 2)
	e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 1, 1, 20), tokA, http.StatusOK, nil)
	relayTok := e.token(alice, 1, "relay:"+serverName)
	now := e.clock.Now()
	otherKey := ed25519.NewKeyFromSeed(read(t, e.rand, 32))
	forged, err := token.Issue(e.rand, otherKey, token.Claims{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, IssuedAt: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := token.Issue(e.rand, e.tokenKey, token.Claims{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, IssuedAt: now.Add(-3 * time.Hour), Expiry: now.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Issued beyond the clock skew in the future: token_expired, like the
	// relay (spec/errors.md §2, spec/keyserver.md §2.3).
	notYet, err := token.Issue(e.rand, e.tokenKey, token.Claims{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, IssuedAt: now.Add(token.ClockSkew + time.Second), Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	mallory := e.newUser("mallory") // never registered
	carol := e.newUser("carol")     // registered by no case

	// reg returns a valid registration of carol, altered by mod.
	reg := func(mod func(*api.RegisterRequest)) func() request {
		return func() request {
			r := e.registerRequest(carol)
			if mod != nil {
				mod(&r)
			}
			return request{"POST", "/v1/accounts", r, ""}
		}
	}
	regRaw := func(name, raw string) func() request {
		return func() request {
			return request{"POST", "/v1/accounts", jsonWith(t, e.registerRequest(carol), name, raw), ""}
		}
	}
	upload := func(mod func(*api.PrekeyUpload)) func() request {
		return func() request {
			u := e.prekeys(alice, 1, 100, 1)
			if mod != nil {
				mod(&u)
			}
			return request{"PUT", "/v1/prekeys", u, tokA}
		}
	}
	addDevice := func(u *user, id keys.DeviceID, mod func(*api.AddDeviceRequest)) func() request {
		return func() request {
			// A copy of u, so u keeps its device keys.
			u := &user{handle: u.handle, account: u.account, devices: map[keys.DeviceID]*keys.DevicePrivateKeys{}, certs: map[keys.DeviceID]*keys.DeviceCertificate{}}
			cert := e.newDevice(u, id)
			ch := e.challenge("")
			r := api.AddDeviceRequest{Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: e.sign(u, id, ch)}
			if mod != nil {
				mod(&r)
			}
			return request{"POST", "/v1/accounts/" + u.handle + "/devices", r, ""}
		}
	}
	tokenReq := func(mod func(*api.TokenRequest)) func() request {
		return func() request {
			ch := e.challenge("")
			r := api.TokenRequest{Handle: "alice", Device: 1, Audience: "keyserver:" + serverName, Challenge: ch, ChallengeSignature: e.sign(alice, 1, ch)}
			if mod != nil {
				mod(&r)
			}
			return request{"POST", "/v1/tokens", r, ""}
		}
	}
	otherAccount, err := keys.GenerateAccountKey(e.rand)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { b = append([]byte(nil), b...); b[len(b)-1] ^= 1; return b }

	cases := []struct {
		name   string
		req    func() request
		status int
		code   string
	}{
		// Malformed JSON.
		{"malformed json", func() request { return request{"POST", "/v1/accounts", `{"handle": "carol",`, ""} }, 400, api.CodeMalformedJSON},
		{"not an object", func() request { return request{"POST", "/v1/accounts", `["carol"]`, ""} }, 400, api.CodeMalformedJSON},
		{"empty body", func() request { return request{"POST", "/v1/accounts", ``, ""} }, 400, api.CodeMalformedJSON},
		{"trailing data", func() request {
			b, _ := json.Marshal(e.registerRequest(carol))
			return request{"POST", "/v1/accounts", string(b) + "{}", ""}
		}, 400, api.CodeMalformedJSON},
		{"repeated member", func() request {
			b, _ := json.Marshal(e.registerRequest(carol))
			return request{"POST", "/v1/accounts", `{"handle":"zed",` + string(b[1:]), ""}
		}, 400, api.CodeMalformedJSON},
		{"wrong type", regRaw("handle", `17`), 400, api.CodeMalformedJSON},
		{"upload malformed json", func() request { return request{"PUT", "/v1/prekeys", `{`, tokA} }, 400, api.CodeMalformedJSON},
		// Unknown fields.
		{"unknown field", regRaw("admin", `true`), 400, api.CodeUnknownField},
		{"field in other case", func() request {
			return request{"POST", "/v1/accounts", strings.Replace(jsonWith(t, e.registerRequest(carol), "invite", ""), `"handle"`, `"Handle"`, 1), ""}
		}, 400, api.CodeUnknownField},
		{"upload unknown field", func() request { return request{"PUT", "/v1/prekeys", `{"one_time_prekeys":[],"extra":1}`, tokA} }, 400, api.CodeUnknownField},
		// Oversize body.
		{"oversize body", func() request {
			return request{"POST", "/v1/accounts", `{"handle":"` + strings.Repeat("a", 70<<10) + `"}`, ""}
		}, 413, api.CodeBodyTooLarge},
		{"oversize upload", func() request { return request{"PUT", "/v1/prekeys", strings.Repeat(" ", 65<<10), tokA} }, 413, api.CodeBodyTooLarge},
		// Bad base64.
		{"base64 with padding", func() request {
			r := e.registerRequest(carol)
			return request{"POST", "/v1/accounts", jsonWith(t, r, "account_key", `"`+base64.URLEncoding.EncodeToString(r.AccountKey)+`"`), ""}
		}, 400, api.CodeBadBase64},
		{"standard base64 alphabet", regRaw("certificate", `"+/+/"`), 400, api.CodeBadBase64},
		{"base64 with newline", regRaw("challenge", `"AAAA\nAAAA"`), 400, api.CodeBadBase64},
		{"non-canonical base64", regRaw("account_key", `"AB"`), 400, api.CodeBadBase64},
		{"base64 of a number", regRaw("account_key", `12`), 400, api.CodeBadBase64},
		{"prekey bad base64", func() request { return request{"PUT", "/v1/prekeys", `{"one_time_prekeys":["%%"]}`, tokA} }, 400, api.CodeBadBase64},
		// Wrong key lengths.
		{"account key 31 bytes", reg(func(r *api.RegisterRequest) { r.AccountKey = r.AccountKey[:31] }), 400, api.CodeBadKeyLength},
		{"account key 33 bytes", reg(func(r *api.RegisterRequest) { r.AccountKey = append(r.AccountKey, 0) }), 400, api.CodeBadKeyLength},
		{"challenge signature 63 bytes", reg(func(r *api.RegisterRequest) { r.ChallengeSignature = r.ChallengeSignature[:63] }), 400, api.CodeBadKeyLength},
		{"certificate too long", reg(func(r *api.RegisterRequest) { r.Certificate = make([]byte, keys.MaxCertificateSize+1) }), 400, api.CodeBadKeyLength},
		{"certificate truncated", reg(func(r *api.RegisterRequest) { r.Certificate = r.Certificate[:40] }), 400, api.CodeMalformedKey},
		{"account key not a point", reg(func(r *api.RegisterRequest) { r.AccountKey = bytes.Repeat([]byte{0xff}, 32) }), 400, api.CodeMalformedKey},
		{"prekey truncated", upload(func(u *api.PrekeyUpload) { u.OneTimePrekeys[0] = u.OneTimePrekeys[0][:20] }), 400, api.CodeMalformedKey},
		{"prekey of wrong kind", upload(func(u *api.PrekeyUpload) { u.OneTimePrekeys[0] = u.SignedPrekey }), 400, api.CodeWrongPrekeyKind},
		{"revocation truncated", func() request {
			return request{"POST", "/v1/accounts/alice/devices/1/revoke", api.RevokeDeviceRequest{Revocation: []byte{1, 2, 3}}, tokA}
		}, 400, api.CodeMalformedKey},
		// Bad signatures.
		{"certificate signature", reg(func(r *api.RegisterRequest) { r.Certificate = flip(r.Certificate) }), 400, api.CodeBadSignature},
		{"certificate of another account key", reg(func(r *api.RegisterRequest) { pub := otherAccount.Public(); r.AccountKey = pub[:] }), 400, api.CodeBadSignature},
		{"challenge signature", reg(func(r *api.RegisterRequest) { r.ChallengeSignature = flip(r.ChallengeSignature) }), 400, api.CodeBadSignature},
		{"challenge signed by another device", reg(func(r *api.RegisterRequest) { r.ChallengeSignature = e.sign(alice, 1, r.Challenge) }), 400, api.CodeBadSignature},
		{"token challenge signature", tokenReq(func(r *api.TokenRequest) { r.ChallengeSignature = flip(r.ChallengeSignature) }), 400, api.CodeBadSignature},
		{"prekey signature", upload(func(u *api.PrekeyUpload) { u.OneTimeKEMPrekeys[0] = flip(u.OneTimeKEMPrekeys[0]) }), 400, api.CodeBadSignature},
		{"prekey signed by another device", upload(func(u *api.PrekeyUpload) { u.SignedPrekey = e.prekeys(bob, 1, 1, 0).SignedPrekey }), 400, api.CodeBadSignature},
		{"added device certified by another key", func() request {
			dev, _ := keys.GenerateDeviceKeys(e.rand)
			cert, _ := otherAccount.CertifyDevice("alice", 7, dev.Public(), now)
			u := &user{handle: "alice", devices: map[keys.DeviceID]*keys.DevicePrivateKeys{7: dev}}
			ch := e.challenge("")
			return request{"POST", "/v1/accounts/alice/devices", api.AddDeviceRequest{Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: e.sign(u, 7, ch)}, ""}
		}, 400, api.CodeBadSignature},
		{"revocation by another key", func() request {
			rev, _ := otherAccount.RevokeDevice("alice", 2, now)
			return request{"POST", "/v1/accounts/alice/devices/2/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, tokA}
		}, 400, api.CodeBadSignature},
		{"revocation tampered", func() request {
			rev, _ := alice.account.RevokeDevice("alice", 2, now)
			return request{"POST", "/v1/accounts/alice/devices/2/revoke", api.RevokeDeviceRequest{Revocation: flip(rev.Marshal())}, tokA}
		}, 400, api.CodeBadSignature},
		// Who may revoke (spec/keyserver.md §1.1).
		{"revoke without token", func() request {
			rev, _ := alice.account.RevokeDevice("alice", 2, now)
			return request{"POST", "/v1/accounts/alice/devices/2/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, ""}
		}, 401, api.CodeInvalidToken},
		{"revoke with a relay token", func() request {
			rev, _ := alice.account.RevokeDevice("alice", 2, now)
			return request{"POST", "/v1/accounts/alice/devices/2/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, relayTok}
		}, 401, api.CodeWrongAudience},
		{"revoke with another account's token", func() request {
			rev, _ := alice.account.RevokeDevice("alice", 2, now)
			return request{"POST", "/v1/accounts/alice/devices/2/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, tokB}
		}, 403, api.CodeForbidden},
		{"device revokes itself", func() request {
			rev, _ := alice.account.RevokeDevice("alice", 1, now)
			return request{"POST", "/v1/accounts/alice/devices/1/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, tokA}
		}, 400, api.CodeBadRequest},
		// Tokens.
		{"no token", func() request { return request{"GET", "/v1/prekeys/count", nil, ""} }, 401, api.CodeInvalidToken},
		{"garbage token", func() request { return request{"GET", "/v1/prekeys/count", nil, "not.a.token"} }, 401, api.CodeInvalidToken},
		{"forged token", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 1, 100, 1), forged.Encode()} }, 401, api.CodeInvalidToken},
		{"tampered token", func() request {
			b := flip(forged.Marshal())
			return request{"GET", "/v1/prekeys/count", nil, base64.RawURLEncoding.EncodeToString(b)}
		}, 401, api.CodeInvalidToken},
		{"expired token", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 1, 100, 1), expired.Encode()} }, 401, api.CodeTokenExpired},
		{"not-yet-valid token", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 1, 100, 1), notYet.Encode()} }, 401, api.CodeTokenExpired},
		{"wrong-audience token", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 1, 100, 1), relayTok} }, 401, api.CodeWrongAudience},
		{"claim with relay token", func() request { return request{"POST", "/v1/accounts/bob/claim", nil, relayTok} }, 401, api.CodeWrongAudience},
		{"token for unknown audience", tokenReq(func(r *api.TokenRequest) { r.Audience = "relay:elsewhere" }), 400, api.CodeWrongAudience},
		{"token audience not the challenge's", func() request {
			r := tokenReq(nil)()
			tr := r.body.(api.TokenRequest)
			tr.Audience = "relay:" + serverName
			r.body = tr
			return r
		}, 400, api.CodeWrongAudience},
		{"challenge for unknown audience", func() request {
			return request{"POST", "/v1/challenges", api.ChallengeRequest{Audience: "relay:elsewhere"}, ""}
		}, 400, api.CodeWrongAudience},
		{"challenge not issued", tokenReq(func(r *api.TokenRequest) {
			c, _ := token.BuildChallenge(e.rand, serverName, "keyserver:"+serverName, now)
			r.Challenge = c.Marshal()
			r.ChallengeSignature = e.sign(alice, 1, r.Challenge)
		}), 400, api.CodeChallengeInvalid},
		{"challenge of another server", tokenReq(func(r *api.TokenRequest) {
			c, _ := token.BuildChallenge(e.rand, "other.test", "keyserver:"+serverName, now)
			r.Challenge = c.Marshal()
		}), 400, api.CodeChallengeInvalid},
		// Unknown handle.
		{"claim unknown handle", func() request { return request{"POST", "/v1/accounts/mallory/claim", nil, tokA} }, 404, api.CodeUnknownHandle},
		{"token for unknown handle", func() request {
			ch := e.challenge("")
			return request{"POST", "/v1/tokens", api.TokenRequest{Handle: "mallory", Device: 1, Audience: "keyserver:" + serverName, Challenge: ch, ChallengeSignature: e.sign(mallory, 1, ch)}, ""}
		}, 404, api.CodeUnknownHandle},
		{"add device to unknown handle", addDevice(mallory, 2, nil), 404, api.CodeUnknownHandle},
		{"token for unknown device", tokenReq(func(r *api.TokenRequest) { r.Device = 9 }), 404, api.CodeUnknownDevice},
		{"revoke unknown device", func() request {
			rev, _ := alice.account.RevokeDevice("alice", 9, now)
			return request{"POST", "/v1/accounts/alice/devices/9/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, tokA}
		}, 404, api.CodeUnknownDevice},
		// Handle taken, device exists.
		{"handle taken", func() request {
			again := e.newUser("alice")
			return request{"POST", "/v1/accounts", e.registerRequest(again), ""}
		}, 409, api.CodeHandleTaken},
		{"device id taken", addDevice(alice, 1, nil), 409, api.CodeDeviceExists},
		// Invalid handle.
		{"invalid handle upper case", reg(func(r *api.RegisterRequest) { r.Handle = "Carol" }), 400, api.CodeInvalidHandle},
		{"invalid handle too short", reg(func(r *api.RegisterRequest) { r.Handle = "ca" }), 400, api.CodeInvalidHandle},
		{"invalid handle empty", reg(func(r *api.RegisterRequest) { r.Handle = "" }), 400, api.CodeInvalidHandle},
		{"lookup invalid handle", func() request { return request{"GET", "/v2/accounts/Alice", nil, ""} }, 400, api.CodeInvalidHandle},
		{"claim invalid handle", func() request { return request{"POST", "/v1/accounts/a%20b/claim", nil, tokA} }, 400, api.CodeInvalidHandle},
		// Too many prekeys, duplicates.
		{"too many prekeys in one upload", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 1, 100, 21), tokA} }, 400, api.CodeTooManyPrekeys},
		{"too many prekeys for the device", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 1, 100, 11), tokA} }, 409, api.CodeTooManyPrekeys},
		{"duplicate prekey id in upload", upload(func(u *api.PrekeyUpload) {
			u.OneTimePrekeys = append(u.OneTimePrekeys, e.prekeys(alice, 1, 100, 1).OneTimePrekeys[0])
		}), 409, api.CodeDuplicatePrekey},
		{"prekey id already held", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 1, 1, 1), tokA} }, 409, api.CodeDuplicatePrekey},
		// Paths and query parameters.
		{"revoke device id 0", func() request {
			return request{"POST", "/v1/accounts/alice/devices/0/revoke", api.RevokeDeviceRequest{}, tokA}
		}, 400, api.CodeBadRequest},
		{"consistency beyond the log", func() request { return request{"GET", "/v2/log/consistency?old=1&new=1000", nil, ""} }, 400, api.CodeBadRequest},
		{"consistency old 0", func() request { return request{"GET", "/v2/log/consistency?old=0&new=1", nil, ""} }, 400, api.CodeBadRequest},
		{"leaves not a number", func() request { return request{"GET", "/v2/log/leaves?start=x&end=1", nil, ""} }, 400, api.CodeBadRequest},
		{"leaves empty range", func() request { return request{"GET", "/v2/log/leaves?start=1&end=1", nil, ""} }, 400, api.CodeBadRequest},
		{"leaves beyond the log", func() request { return request{"GET", "/v2/log/leaves?start=0&end=1000", nil, ""} }, 400, api.CodeBadRequest},
		{"revocations cursor negative", func() request { return request{"GET", "/v1/revocations?from=-1", nil, ""} }, 400, api.CodeBadRequest},
		{"revocations cursor not a number", func() request { return request{"GET", "/v1/revocations?from=01", nil, ""} }, 400, api.CodeBadRequest},
		{"method not allowed", func() request { return request{"GET", "/v1/tokens", nil, ""} }, 405, api.CodeMethodNotAllowed},
		{"no such path", func() request { return request{"GET", "/v2/accounts", nil, ""} }, 404, api.CodeNotFound},
	}
	handles := []string{"alice", "bob", "carol", "mallory"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			req := tc.req()
			before := e.snapshot(handles...)
			r := e.do(req.method, req.path, req.body, req.bearer)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			var body map[string]string
			if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 2 || body["message"] == "" {
				t.Errorf("error body %s", r.body)
			}
			e.unchanged(before, handles...)
		})
	}
}
