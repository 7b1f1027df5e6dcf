package keyserver_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
)

const serverName = "ks.test"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a key server on a TLS 1.3 listener over a SQLite store.
type env struct {
	t        testing.TB
	srv      *keyserver.Server
	ts       *httptest.Server
	client   *http.Client
	store    store.Store
	clock    *clock
	tokenKey ed25519.PrivateKey
	logKey   ed25519.PrivateKey
	vrfKey   *vrf.PrivateKey // nil when the server runs without a directory
	rand     io.Reader
}

// engines are the store engines the API tests run on; the PostgreSQL
// one skips unless SEALPOST_TEST_POSTGRES is set (pgtest.DSN).
var engines = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store { return openSQLite(t) }},
	{"postgres", func(t *testing.T) store.Store {
		st, err := postgres.Open(t.Context(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// openSQLite opens a SQLite store in a temporary directory.
func openSQLite(t testing.TB) store.Store {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "keyserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// onEngines runs test as a subtest on each engine.
func onEngines(t *testing.T, test func(t *testing.T, open func(*testing.T) store.Store)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { test(t, eng.open) })
	}
}

// newEnv starts a key server over a SQLite store.
func newEnv(t *testing.T, mod func(*keyserver.Config)) *env {
	t.Helper()
	return newEnvOn(t, engines[0].open, mod)
}

// newEnvOn starts a key server over a store from open.
func newEnvOn(t *testing.T, open func(*testing.T) store.Store, mod func(*keyserver.Config)) *env {
	t.Helper()
	return newEnvStore(t, open(t), mod)
}

// newEnvStore starts a key server over st.
func newEnvStore(t testing.TB, st store.Store, mod func(*keyserver.Config)) *env {
	t.Helper()
	rnd := testrand.New("keyserver test " + t.Name())
	tokenKey := ed25519.NewKeyFromSeed(read(t, rnd, 32))
	logKey := ed25519.NewKeyFromSeed(read(t, rnd, 32))
	vrfKey, err := vrf.NewPrivateKey(read(t, rnd, vrf.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	cfg := keyserver.Config{
		Name:           serverName,
		Store:          st,
		TokenKey:       tokenKey,
		LogKey:         logKey,
		RelayAudiences: []string{"relay:" + serverName},
		Limits: keyserver.Limits{
			MaxBodyBytes: 64 << 10, MaxOneTimePerUpload: 20, MaxOneTimePerDevice: 30,
			RequestsPerSecond: 1e6, RequestBurst: 1e6,
			// Generous: tests of the limits set their own.
			UploadsPerHour: 1e6, UploadBurst: 1e6, LookupsPerSecond: 1e6, LookupBurst: 1e6,
			AddressLookupsPerSecond: 1e6, AddressLookupBurst: 1e6,
			TargetClaimsPerHour: 1e6, TargetClaimBurst: 1e6,
		},
		Now:    clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Every test runs the key directory beside version 1
		// (spec/keyserver.md §9), sequencing promptly.
		VRFKey:        vrfKey,
		EpochInterval: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := keyserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	vrfKey = cfg.VRFKey
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &env{t: t, srv: srv, ts: ts, client: ts.Client(), store: st, clock: clk, tokenKey: tokenKey, logKey: logKey, vrfKey: vrfKey, rand: rnd}
}

func read(t testing.TB, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// reply is one HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// code returns the error code of an error reply.
func (r reply) code() string {
	var e api.ErrorResponse
	if json.Unmarshal(r.body, &e) != nil {
		return "<not an error body: " + string(r.body) + ">"
	}
	return e.Error
}

// do sends a request; body is raw bytes or a value to encode as JSON.
func (e *env) do(method, path string, body any, bearer string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
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
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// ok sends a request that must succeed with status want, decoding the
// answer into out.
func (e *env) ok(method, path string, body any, bearer string, want int, out any) {
	e.t.Helper()
	r := e.do(method, path, body, bearer)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// user is a client-side account with its devices' private keys.
type user struct {
	handle  string
	account *keys.AccountPrivateKey
	devices map[keys.DeviceID]*keys.DevicePrivateKeys
	certs   map[keys.DeviceID]*keys.DeviceCertificate
}

func (e *env) newUser(handle string) *user {
	e.t.Helper()
	ak, err := keys.GenerateAccountKey(e.rand)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &user{handle: handle, account: ak, devices: map[keys.DeviceID]*keys.DevicePrivateKeys{}, certs: map[keys.DeviceID]*keys.DeviceCertificate{}}
	e.newDevice(u, 1)
	return u
}

// newDevice creates and certifies device id of u (client side only).
func (e *env) newDevice(u *user, id keys.DeviceID) *keys.DeviceCertificate {
	e.t.Helper()
	dev, err := keys.GenerateDeviceKeys(e.rand)
	if err != nil {
		e.t.Fatal(err)
	}
	cert, err := u.account.CertifyDevice(u.handle, id, dev.Public(), e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	u.devices[id], u.certs[id] = dev, cert
	return cert
}

// challenge asks for a challenge for audience ("" for the key server's).
func (e *env) challenge(audience string) []byte {
	e.t.Helper()
	var c api.ChallengeResponse
	e.ok("POST", "/v1/challenges", api.ChallengeRequest{Audience: audience}, "", http.StatusCreated, &c)
	return c.Challenge
}

// sign answers a challenge with device id of u.
func (e *env) sign(u *user, id keys.DeviceID, challenge []byte) []byte {
	e.t.Helper()
	sig, err := token.SignChallenge(u.devices[id], u.handle, id, challenge, serverName)
	if err != nil {
		e.t.Fatal(err)
	}
	return sig
}

// registerRequest builds a valid registration of u with device 1.
func (e *env) registerRequest(u *user) api.RegisterRequest {
	e.t.Helper()
	ch := e.challenge("")
	pub := u.account.Public()
	return api.RegisterRequest{
		Handle:             u.handle,
		AccountKey:         pub[:],
		Certificate:        u.certs[1].Marshal(),
		Challenge:          ch,
		ChallengeSignature: e.sign(u, 1, ch),
	}
}

func (e *env) register(u *user) api.KeySetResponse {
	e.t.Helper()
	var r api.KeySetResponse
	e.ok("POST", "/v1/accounts", e.registerRequest(u), "", http.StatusCreated, &r)
	return r
}

// token obtains a token for device id of u.
func (e *env) token(u *user, id keys.DeviceID, audience string) string {
	e.t.Helper()
	if audience == "" {
		audience = "keyserver:" + serverName
	}
	ch := e.challenge(audience)
	var r api.TokenResponse
	e.ok("POST", "/v1/tokens", api.TokenRequest{
		Handle: u.handle, Device: uint32(id), Audience: audience,
		Challenge: ch, ChallengeSignature: e.sign(u, id, ch),
	}, "", http.StatusCreated, &r)
	return r.Token
}

// prekeys generates a signed upload for device id of u: the signed and
// last-resort prekeys and n one-time prekeys of each kind, ids from first.
func (e *env) prekeys(u *user, id keys.DeviceID, first uint32, n int) api.PrekeyUpload {
	e.t.Helper()
	gen := func(kind keys.PrekeyKind, pid uint32) api.Bytes {
		_, p, err := u.devices[id].GeneratePrekey(e.rand, kind, pid)
		if err != nil {
			e.t.Fatal(err)
		}
		return p.Marshal()
	}
	up := api.PrekeyUpload{
		SignedPrekey:        gen(keys.SignedPrekey, first),
		LastResortKEMPrekey: gen(keys.LastResortKEMPrekey, first),
	}
	for i := range n {
		up.OneTimePrekeys = append(up.OneTimePrekeys, gen(keys.OneTimePrekey, first+uint32(i)))
		up.OneTimeKEMPrekeys = append(up.OneTimeKEMPrekeys, gen(keys.OneTimeKEMPrekey, first+uint32(i)))
	}
	return up
}

// state is what the store holds for some handles, to check that a refused
// request changed nothing.
type state struct {
	Accounts map[string]*store.Account
	LogSize  int64
	Counts   map[string]store.Counts
}

func (e *env) snapshot(handles ...string) state {
	e.t.Helper()
	ctx := context.Background()
	s := state{Accounts: map[string]*store.Account{}, Counts: map[string]store.Counts{}}
	for _, h := range handles {
		a, err := e.store.Account(ctx, h)
		if errors.Is(err, store.ErrNotFound) {
			s.Accounts[h] = nil
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		s.Accounts[h] = a
		for _, d := range a.Devices {
			c, err := e.store.CountPrekeys(ctx, h, d.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrDeviceRevoked) {
				e.t.Fatal(err)
			}
			s.Counts[fmt.Sprintf("%s/%d", h, d.ID)] = c
		}
	}
	n, err := e.store.LogSize(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	s.LogSize = n
	return s
}

func (e *env) unchanged(before state, handles ...string) {
	e.t.Helper()
	if after := e.snapshot(handles...); !reflect.DeepEqual(before, after) {
		e.t.Errorf("store changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

// addDevice certifies and adds device id of u.
func (e *env) addDevice(u *user, id keys.DeviceID) api.KeySetResponse {
	e.t.Helper()
	cert := e.newDevice(u, id)
	ch := e.challenge("")
	var r api.KeySetResponse
	e.ok("POST", "/v1/accounts/"+u.handle+"/devices", api.AddDeviceRequest{
		Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: e.sign(u, id, ch),
	}, "", http.StatusOK, &r)
	return r
}

// revokeRequest revokes device id of u with a key server token of u's
// device by, answering the reply.
func (e *env) revokeRequest(u *user, id, by keys.DeviceID, bearer string) reply {
	e.t.Helper()
	rev, err := u.account.RevokeDevice(u.handle, id, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer == "" {
		bearer = e.token(u, by, "")
	}
	return e.do("POST", fmt.Sprintf("/v1/accounts/%s/devices/%d/revoke", u.handle, id), api.RevokeDeviceRequest{Revocation: rev.Marshal()}, bearer)
}

// revoke revokes device id of u from u's device by, which must succeed.
func (e *env) revoke(u *user, id, by keys.DeviceID) api.KeySetResponse {
	e.t.Helper()
	r := e.revokeRequest(u, id, by, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("revoke %s/%d from %d: %d %s", u.handle, id, by, r.status, r.body)
	}
	var ks api.KeySetResponse
	if err := json.Unmarshal(r.body, &ks); err != nil {
		e.t.Fatal(err)
	}
	return ks
}
