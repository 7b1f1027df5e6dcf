package ksclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
	"github.com/sealpost/sealpost/tlsconfig"
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

// server is a real key server over SQLite in t.TempDir, served over TLS
// 1.3 on 127.0.0.1 with a self-signed certificate, and a Client that pins
// it. forge, when set, may answer a request instead of the real server
// (a malicious server double); every request is counted by path.
type server struct {
	t      *testing.T
	srv    *keyserver.Server
	ts     *httptest.Server
	c      *Client
	pin    tlsconfig.Fingerprint
	clock  *clock
	rand   io.Reader
	logKey ed25519.PrivateKey
	vrf    *vrf.PrivateKey

	mu     sync.Mutex
	counts map[string]int
	forge  func(w http.ResponseWriter, r *http.Request, real http.Handler) bool
}

// newServer starts a key server; label separates the keys of several
// servers in one test; mod, if not nil, edits the configuration.
func newServer(t *testing.T, label string, mod func(*keyserver.Config)) *server {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "keyserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rnd := testrand.New("ksclient test " + t.Name() + " " + label)
	clk := &clock{t: testEpoch}
	cfg := keyserver.Config{
		Name:           serverName,
		Store:          st,
		TokenKey:       ed25519.NewKeyFromSeed(read(t, rnd, 32)),
		LogKey:         ed25519.NewKeyFromSeed(read(t, rnd, 32)),
		VRFKey:         vrfKey(t, read(t, rnd, 32)),
		RelayAudiences: []string{"relay:" + serverName},
		Limits: keyserver.Limits{
			RequestsPerSecond: 1e6, RequestBurst: 1e6,
			ClaimsPerMinute: 1e6, ClaimBurst: 1e6,
			MaxLeaves: 3,
		},
		Now:    clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := keyserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := &server{t: t, srv: srv, clock: clk, rand: rnd, logKey: cfg.LogKey, vrf: cfg.VRFKey, counts: map[string]int{}}
	real := srv.Handler()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[r.URL.Path]++
		forge := s.forge
		s.mu.Unlock()
		if forge != nil && forge(w, r, real) {
			return
		}
		real.ServeHTTP(w, r)
	}))
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	s.ts.TLS, s.pin = serverTLS(t)
	s.ts.StartTLS()
	t.Cleanup(s.ts.Close)
	if s.c, err = New(s.ts.URL, tlsconfig.ClientConfig(s.pin)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.c.CloseIdleConnections)
	return s
}

// serverTLS returns a TLS 1.3 server configuration with a fresh
// self-signed certificate, and its fingerprint.
func serverTLS(t *testing.T) (*tls.Config, tlsconfig.Fingerprint) {
	t.Helper()
	cert, _, err := tlsconfig.LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconfig.ServerConfig(cert)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tlsconfig.FingerprintOf(cert.Certificate[0])
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

func (s *server) setForge(f func(w http.ResponseWriter, r *http.Request, real http.Handler) bool) {
	s.mu.Lock()
	s.forge = f
	s.mu.Unlock()
}

// rewrite makes the server answer path with the real answer passed
// through edit.
func (s *server) rewrite(path string, edit func(status int, body []byte) (int, []byte)) {
	s.setForge(func(w http.ResponseWriter, r *http.Request, real http.Handler) bool {
		if r.URL.Path != path {
			return false
		}
		rec := httptest.NewRecorder()
		real.ServeHTTP(rec, r)
		status, body := edit(rec.Code, rec.Body.Bytes())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
		return true
	})
}

// verifier returns the directory log's verifier the server publishes.
func (s *server) verifier() *kt.Verifier {
	s.t.Helper()
	wk, err := s.c.WellKnown(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	v, err := directory.NewVerifier(wk.DirectoryVerifierKey)
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

// vrfKey returns the directory's VRF key the server publishes.
func (s *server) vrfKey() *vrf.PublicKey {
	s.t.Helper()
	wk, err := s.c.WellKnown(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	k, err := vrf.ParsePublicKey(wk.VRFKey)
	if err != nil {
		s.t.Fatal(err)
	}
	return k
}

// vrfKey makes a VRF key from seed.
func vrfKey(t *testing.T, seed []byte) *vrf.PrivateKey {
	t.Helper()
	k, err := vrf.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkpoint returns the server's current checkpoint, opened.
func (s *server) checkpoint(v *kt.Verifier) *kt.Checkpoint {
	s.t.Helper()
	text, err := s.c.Checkpoint(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	cp, err := v.OpenCheckpoint([]byte(text))
	if err != nil {
		s.t.Fatal(err)
	}
	return cp
}

func read(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// user is a client-side account with its devices' private keys.
type user struct {
	handle  string
	account *keys.AccountPrivateKey
	devices map[uint32]*keys.DevicePrivateKeys
	certs   map[uint32]*keys.DeviceCertificate
}

func (s *server) newUser(handle string) *user {
	s.t.Helper()
	ak, err := keys.GenerateAccountKey(s.rand)
	if err != nil {
		s.t.Fatal(err)
	}
	u := &user{handle: handle, account: ak, devices: map[uint32]*keys.DevicePrivateKeys{}, certs: map[uint32]*keys.DeviceCertificate{}}
	s.newDevice(u, 1)
	return u
}

// newDevice creates and certifies device id of u, client side only.
func (s *server) newDevice(u *user, id uint32) *keys.DeviceCertificate {
	s.t.Helper()
	dev, err := keys.GenerateDeviceKeys(s.rand)
	if err != nil {
		s.t.Fatal(err)
	}
	cert, err := u.account.CertifyDevice(u.handle, keys.DeviceID(id), dev.Public(), s.clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	u.devices[id], u.certs[id] = dev, cert
	return cert
}

// signed asks for a challenge for the key server and signs it with
// device id of u.
func (s *server) signed(u *user, id uint32) (challenge, sig []byte) {
	s.t.Helper()
	ch, err := s.c.Challenge(context.Background(), "")
	if err != nil {
		s.t.Fatal(err)
	}
	sig, err = token.SignChallenge(u.devices[id], u.handle, keys.DeviceID(id), ch.Challenge, serverName)
	if err != nil {
		s.t.Fatal(err)
	}
	return ch.Challenge, sig
}

func (s *server) register(u *user) *api.KeySetResponse {
	s.t.Helper()
	ch, sig := s.signed(u, 1)
	pub := u.account.Public()
	r, err := s.c.Register(context.Background(), &api.RegisterRequest{
		Handle: u.handle, AccountKey: pub[:], Certificate: u.certs[1].Marshal(),
		Challenge: ch, ChallengeSignature: sig,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func (s *server) addDevice(u *user, id uint32) *api.KeySetResponse {
	s.t.Helper()
	cert := s.newDevice(u, id)
	ch, sig := s.signed(u, id)
	r, err := s.c.AddDevice(context.Background(), u.handle, &api.AddDeviceRequest{
		Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: sig,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// revoke revokes device id of u from u's device 1.
func (s *server) revoke(u *user, id uint32) *api.KeySetResponse {
	s.t.Helper()
	rev, err := u.account.RevokeDevice(u.handle, keys.DeviceID(id), s.clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	r, err := s.c.RevokeDevice(context.Background(), s.tokenFor(u, 1), u.handle, id, &api.RevokeDeviceRequest{Revocation: rev.Marshal()})
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// prekeys generates a signed upload for device id of u: the signed and
// last-resort prekeys and n one-time prekeys of each kind, ids from first.
func (s *server) prekeys(u *user, id uint32, first uint32, n int) *api.PrekeyUpload {
	s.t.Helper()
	gen := func(kind keys.PrekeyKind, pid uint32) api.Bytes {
		_, p, err := u.devices[id].GeneratePrekey(s.rand, kind, pid)
		if err != nil {
			s.t.Fatal(err)
		}
		return p.Marshal()
	}
	up := &api.PrekeyUpload{
		SignedPrekey:        gen(keys.SignedPrekey, first),
		LastResortKEMPrekey: gen(keys.LastResortKEMPrekey, first),
	}
	for i := range n {
		up.OneTimePrekeys = append(up.OneTimePrekeys, gen(keys.OneTimePrekey, first+uint32(i)))
		up.OneTimeKEMPrekeys = append(up.OneTimeKEMPrekeys, gen(keys.OneTimeKEMPrekey, first+uint32(i)))
	}
	return up
}

// lookup returns the server's directory answer for handle.
func (s *server) lookup(handle string) *api.DirectoryLookup {
	s.t.Helper()
	a, err := s.c.DirectoryLookup(context.Background(), handle)
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

// tokenFor fetches a key server token for device id of u.
func (s *server) tokenFor(u *user, id uint32) string {
	s.t.Helper()
	tok, err := NewTokens(s.c, u.handle, id, u.devices[id]).Get(context.Background(), "")
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// cloneLookup deep-copies a lookup answer, for a test to forge.
func cloneLookup(a *api.DirectoryLookup) *api.DirectoryLookup {
	b := *a
	b.VRFProof, b.Leaf, b.MapProof = bytes.Clone(a.VRFProof), bytes.Clone(a.Leaf), bytes.Clone(a.MapProof)
	b.Entry, b.Opening = bytes.Clone(a.Entry), bytes.Clone(a.Opening)
	b.Inclusion = make([]api.Bytes, len(a.Inclusion))
	for i, h := range a.Inclusion {
		b.Inclusion[i] = bytes.Clone(h)
	}
	return &b
}

// testEpoch is where the test servers' clocks start.
var testEpoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fresh is the client's default age rule at testEpoch.
func fresh() Freshness { return Freshness{Now: testEpoch, MaxAge: 24 * time.Hour} }
