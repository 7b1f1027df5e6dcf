package keyserver_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/revocation"
	"github.com/sealpost/sealpost/keyserver/store"
)

// TestRevokedDevice walks every key server endpoint that takes a token, a
// challenge response or a device's keys with the credentials of a revoked
// device that still holds the account key and tokens issued while it was
// active (spec/keyserver.md §1.1): each is refused with its code and
// changes nothing, and the owner's other device stays active.
func TestRevokedDevice(t *testing.T) { onEngines(t, testRevokedDevice) }

func testRevokedDevice(t *testing.T, open func(*testing.T) store.Store) {
	e := newEnvOn(t, open, nil)
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	e.addDevice(alice, 2)
	tok1 := e.token(alice, 1, "")
	e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 1, 1, 3), tok1, http.StatusOK, nil)
	e.ok("PUT", "/v1/prekeys", e.prekeys(bob, 1, 1, 3), e.token(bob, 1, ""), http.StatusOK, nil)
	// Device 2's credentials, obtained while it was active.
	tok2 := e.token(alice, 2, "")
	e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 2, 1, 3), tok2, http.StatusOK, nil)
	e.revoke(alice, 2, 1)

	revokedKeys := alice.devices[2]
	tokenReq := func(aud string) func() request {
		return func() request {
			ch := e.challenge(aud)
			return request{"POST", "/v1/tokens", api.TokenRequest{
				Handle: "alice", Device: 2, Audience: aud, Challenge: ch, ChallengeSignature: e.sign(alice, 2, ch),
			}, ""}
		}
	}
	recertify := func(id keys.DeviceID) func() request {
		return func() request {
			cert, err := alice.account.CertifyDevice("alice", id, revokedKeys.Public(), e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			alice.devices[id] = revokedKeys
			ch := e.challenge("")
			return request{"POST", "/v1/accounts/alice/devices", api.AddDeviceRequest{
				Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: e.sign(alice, id, ch),
			}, ""}
		}
	}
	cases := []struct {
		name   string
		req    func() request
		status int
		code   string
	}{
		{"upload prekeys", func() request { return request{"PUT", "/v1/prekeys", e.prekeys(alice, 2, 100, 1), tok2} }, 403, api.CodeDeviceRevoked},
		{"prekey count", func() request { return request{"GET", "/v1/prekeys/count", nil, tok2} }, 403, api.CodeDeviceRevoked},
		{"claim another account", func() request { return request{"POST", "/v1/accounts/bob/claim", nil, tok2} }, 403, api.CodeDeviceRevoked},
		{"claim own account", func() request { return request{"POST", "/v1/accounts/alice/claim", nil, tok2} }, 403, api.CodeDeviceRevoked},
		{"key server token", tokenReq("keyserver:" + serverName), 403, api.CodeDeviceRevoked},
		{"relay token", tokenReq("relay:" + serverName), 403, api.CodeDeviceRevoked},
		{"add its keys under a new id", recertify(3), 403, api.CodeDeviceRevoked},
		{"add itself again", recertify(2), 409, api.CodeDeviceExists},
		{"revoke the owner's other device", func() request {
			rev, err := alice.account.RevokeDevice("alice", 1, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return request{"POST", "/v1/accounts/alice/devices/1/revoke", api.RevokeDeviceRequest{Revocation: rev.Marshal()}, tok2}
		}, 403, api.CodeDeviceRevoked},
	}
	handles := []string{"alice", "bob"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			req := tc.req()
			before := e.snapshot(handles...)
			r := e.do(req.method, req.path, req.body, req.bearer)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			e.unchanged(before, handles...)
			a := before.Accounts["alice"]
			if a.Version != 3 || len(a.Devices) != 2 || a.Devices[0].Revocation != nil || a.Devices[1].Revocation == nil {
				t.Errorf("alice's key set: version %d, devices %+v", a.Version, a.Devices)
			}
		})
	}
	e.t = t
	// Device 1 still acts.
	var c api.PrekeyCounts
	e.ok("GET", "/v1/prekeys/count", nil, tok1, http.StatusOK, &c)
	if c.OneTime != 3 {
		t.Fatalf("device 1 counts %+v", c)
	}
	e.token(alice, 1, "relay:"+serverName)
}

// TestRevocationFeed: GET /v1/revocations lists each revoked device by its
// hash at the index of the leaf that recorded the revocation, and pages
// by cursor (spec/keyserver.md §5.9).
func TestRevocationFeed(t *testing.T) { onEngines(t, testRevocationFeed) }

func testRevocationFeed(t *testing.T, open func(*testing.T) store.Store) {
	e := newEnvOn(t, open, nil)
	var p revocation.Page
	e.ok("GET", "/v1/revocations", nil, "", http.StatusOK, &p)
	if len(p.Revocations) != 0 || p.Next != 0 {
		t.Fatalf("empty feed: %+v", p)
	}
	alice := e.newUser("alice")
	e.register(alice)     // 0
	e.addDevice(alice, 2) // 1
	e.addDevice(alice, 3) // 2
	r3 := e.revoke(alice, 3, 1)
	r2 := e.revoke(alice, 2, 1)
	e.ok("GET", "/v1/revocations?from=0", nil, "", http.StatusOK, &p)
	got, err := p.Entries(0)
	if err != nil {
		t.Fatal(err)
	}
	want := []revocation.Entry{
		{Index: r3.LogIndex, Device: revocation.DeviceHash("alice", 3), Time: e.clock.Now()},
		{Index: r2.LogIndex, Device: revocation.DeviceHash("alice", 2), Time: e.clock.Now()},
	}
	if len(got) != 2 || p.Next != r2.LogIndex+1 {
		t.Fatalf("feed %+v", p)
	}
	for i := range want {
		if got[i].Index != want[i].Index || got[i].Device != want[i].Device || !got[i].Time.Equal(want[i].Time) {
			t.Fatalf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	from := r3.LogIndex + 1
	e.ok("GET", "/v1/revocations?from="+itoa(from), nil, "", http.StatusOK, &p)
	if got, err := p.Entries(from); err != nil || len(got) != 1 || got[0].Device != want[1].Device {
		t.Fatalf("from %d: %+v %v", from, p, err)
	}
	e.ok("GET", "/v1/revocations?from="+itoa(p.Next), nil, "", http.StatusOK, &p)
	if len(p.Revocations) != 0 || p.Next != r2.LogIndex+1 {
		t.Fatalf("past the end: %+v", p)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
