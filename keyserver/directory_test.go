package keyserver_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/store"
)

// TestDirectory: accounts registered, given devices and revoked through
// /v1 are sequenced into directory epochs; every lookup (present and
// absent) and every owner's history verifies as a client verifies it, and
// an auditor checks every epoch over /v2/log (spec/keyserver.md §9,
// spec/transparency-v2.md §6, §8). On SQLite and PostgreSQL.
func TestDirectory(t *testing.T) { onEngines(t, testDirectory) }

func testDirectory(t *testing.T, open func(*testing.T) store.Store) {
	e := newEnvOn(t, open, nil)
	c := e.dirClient()
	auditor := c.newAuditor()

	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	first := e.waitSequenced()
	if _, err := c.audit(auditor); err != nil {
		t.Fatalf("audit: %v", err)
	}
	for _, u := range []*user{alice, bob} {
		entry := c.mustLookup(t, u.handle)
		if entry == nil || entry.Handle != u.handle || entry.Version != 1 || len(entry.Devices) != 1 {
			t.Fatalf("lookup %s: %+v, want version 1 with one device", u.handle, entry)
		}
	}
	if entry := c.mustLookup(t, "nobody"); entry != nil {
		t.Fatalf("lookup of an unknown handle: %+v, want proven absent", entry)
	}

	// Version 2 and 3 of alice's key set: device 2 added, device 1
	// revoked by device 2. carol registers, and is sequenced, later.
	e.addDevice(alice, 2)
	e.revoke(alice, 1, 2)
	carol := e.newUser("carol")
	e.register(carol)
	latest := e.waitSequenced()
	if latest <= first {
		t.Fatalf("latest epoch %d after changes, was %d", latest, first)
	}
	entry, r, err := c.lookup("alice", "")
	if err != nil {
		t.Fatalf("lookup alice: %v", err)
	}
	if entry.Version != 3 || len(entry.Devices) != 2 || entry.Devices[0].Revocation == nil || r.Epoch != latest {
		t.Fatalf("lookup alice: version %d, %d devices, epoch %d; want version 3, device 1 revoked, epoch %d", entry.Version, len(entry.Devices), r.Epoch, latest)
	}
	if entry := c.mustLookup(t, "carol"); entry == nil || entry.Version != 1 {
		t.Fatalf("lookup carol: %+v", entry)
	}
	// Version 1 is served unchanged beside it.
	var v1 api.AccountResponse
	e.ok("GET", "/v1/accounts/alice", nil, "", http.StatusOK, &v1)
	if v1.Version != 3 {
		t.Fatalf("v1 lookup: version %d", v1.Version)
	}

	// The owner's history: every version since registration, proven.
	entries, h, err := c.history("alice", e.token(alice, 2, ""))
	if err != nil {
		t.Fatalf("history alice: %v", err)
	}
	if n := len(entries); n < 2 || n > 3 || entries[n-1].Version != 3 || entries[0].Version != 1 {
		t.Fatalf("history alice: %d entries (%d versions), want 2 or 3 from version 1 to 3", n, len(h.Versions))
	}
	entries, _, err = c.history("bob", e.token(bob, 1, ""))
	if err != nil || len(entries) != 1 || entries[0].Version != 1 {
		t.Fatalf("history bob: %d entries, %v", len(entries), err)
	}

	// Each change of the key set is one epoch or shares one; the audit
	// checks every epoch's batch against the map.
	size, err := c.audit(auditor)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if size != latest {
		t.Fatalf("audited size %d, latest epoch %d", size, latest)
	}
	// A second audit of an unchanged log moves nothing and passes.
	if _, err := c.audit(auditor); err != nil {
		t.Fatalf("audit again: %v", err)
	}
}

// TestDirectoryBatching: many key-set changes made at once share epochs
// (the sequencer takes whatever is pending), and each handle's map
// version counts its epochs, not its key-set versions.
func TestDirectoryBatching(t *testing.T) {
	e := newEnv(t, func(cfg *keyserver.Config) { cfg.EpochInterval = time.Hour })
	c := e.dirClient()
	ctx := context.Background()
	// Hold the sequencer role so that the changes pile up.
	release, ok, err := e.store.Sequencer(ctx)
	if err != nil || !ok {
		t.Fatalf("Sequencer: %v, %v", ok, err)
	}
	const n = 12
	users := make([]*user, n)
	for i := range users {
		users[i] = e.newUser(fmt.Sprintf("user%d", i))
		e.register(users[i])
	}
	e.addDevice(users[0], 2)
	release()
	// SQLite grants the role to every caller: the store cannot make the
	// server wait. What the test checks is that one round takes all.
	if epoch, err := e.store.LatestEpoch(ctx); err != nil {
		t.Fatal(err)
	} else if epoch > n+1 {
		t.Fatalf("%d epochs for %d changes", epoch, n+1)
	}
	// Kick the sequencer: one more change.
	e.addDevice(users[1], 2)
	latest := e.waitSequenced()
	if latest >= n+2 {
		t.Logf("note: %d epochs for %d changes", latest, n+2)
	}
	_, h, err := c.history("user0", e.token(users[0], 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	last := h.Versions[len(h.Versions)-1]
	if last.Version != uint64(len(h.Versions)) {
		t.Fatalf("map versions %+v not 1, 2, …", h.Versions)
	}
	if _, err := c.audit(c.newAuditor()); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// TestDirectoryBadInput: refusals of the /v2 endpoints are named error
// codes and change nothing: no account, no log, no epoch.
func TestDirectoryBadInput(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	e.addDevice(alice, 2)
	latest := e.waitSequenced()
	tokA1 := e.token(alice, 1, "")
	tokB := e.token(bob, 1, "")
	e.revoke(alice, 1, 2)
	latest = e.waitSequenced()
	relayTok := e.token(alice, 2, "relay:"+serverName)

	before := e.snapshot("alice", "bob")
	var cpBefore api.CheckpointResponse
	e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, &cpBefore)
	for _, c := range []struct {
		name, path, bearer string
		status             int
		code               string
	}{
		{"batch epoch 0", "/v2/log/batch?epoch=0", "", 400, api.CodeBadRequest},
		{"batch unknown epoch", fmt.Sprintf("/v2/log/batch?epoch=%d", latest+1), "", 400, api.CodeBadRequest},
		{"batch huge epoch", "/v2/log/batch?epoch=18446744073709551615", "", 400, api.CodeBadRequest},
		{"batch no epoch", "/v2/log/batch", "", 400, api.CodeBadRequest},
		{"batch epoch not decimal", "/v2/log/batch?epoch=1x", "", 400, api.CodeBadRequest},
		{"batch epoch leading zero", "/v2/log/batch?epoch=01", "", 400, api.CodeBadRequest},
		{"batch epoch negative", "/v2/log/batch?epoch=-1", "", 400, api.CodeBadRequest},
		{"consistency beyond size", fmt.Sprintf("/v2/log/consistency?old=1&new=%d", latest+1), "", 400, api.CodeBadRequest},
		{"consistency old 0", "/v2/log/consistency?old=0&new=1", "", 400, api.CodeBadRequest},
		{"consistency malformed", "/v2/log/consistency?old=a&new=1", "", 400, api.CodeBadRequest},
		{"leaves empty range", "/v2/log/leaves?start=1&end=1", "", 400, api.CodeBadRequest},
		{"leaves beyond size", fmt.Sprintf("/v2/log/leaves?start=0&end=%d", latest+1), "", 400, api.CodeBadRequest},
		{"lookup invalid handle", "/v2/accounts/Alice", "", 400, api.CodeInvalidHandle},
		{"lookup bad token", "/v2/accounts/alice", "nope", 401, api.CodeInvalidToken},
		{"history without token", "/v2/accounts/alice/history", "", 401, api.CodeInvalidToken},
		{"history bad token", "/v2/accounts/alice/history", "nope", 401, api.CodeInvalidToken},
		{"history relay token", "/v2/accounts/alice/history", relayTok, 401, api.CodeWrongAudience},
		{"history another account's token", "/v2/accounts/alice/history", tokB, 403, api.CodeForbidden},
		{"history revoked device's token", "/v2/accounts/alice/history", tokA1, 403, api.CodeDeviceRevoked},
		{"history invalid handle", "/v2/accounts/Alice/history", tokB, 400, api.CodeInvalidHandle},
		{"history POST", "/v2/accounts/alice/history", "", 405, api.CodeMethodNotAllowed},
		{"no such v2 path", "/v2/accounts", "", 404, api.CodeNotFound},
	} {
		method := "GET"
		if strings.HasSuffix(c.name, "POST") {
			method = "POST"
		}
		r := e.do(method, c.path, nil, c.bearer)
		if r.status != c.status || r.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
	e.unchanged(before, "alice", "bob")
	if epoch, err := e.store.LatestEpoch(context.Background()); err != nil || epoch != latest {
		t.Errorf("latest epoch %d (%v) after refusals, want %d", epoch, err, latest)
	}
	var cpAfter api.CheckpointResponse
	e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, &cpAfter)
	if cpAfter.Checkpoint != cpBefore.Checkpoint {
		t.Errorf("checkpoint changed after refusals:\n%s\n%s", cpBefore.Checkpoint, cpAfter.Checkpoint)
	}
}

// TestDirectoryBeforeFirstEpoch: with no epoch yet, lookups are 503
// unavailable with Retry-After (nothing to prove against) and the log is
// empty.
func TestDirectoryBeforeFirstEpoch(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/v2/accounts/alice", nil, "")
	if r.status != http.StatusServiceUnavailable || r.code() != api.CodeUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("lookup before the first epoch: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	var cr api.CheckpointResponse
	e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, &cr)
	cp, err := e.dirClient().v.OpenCheckpoint([]byte(cr.Checkpoint))
	if err != nil || cp.Size != 0 {
		t.Fatalf("checkpoint before the first epoch: %+v, %v", cp, err)
	}
}

// TestDirectoryOff: without a VRF key the server runs version 1 only:
// no /v2 paths, empty directory members in the discovery document, and no
// epoch is ever sequenced.
func TestDirectoryOff(t *testing.T) {
	e := newEnv(t, func(cfg *keyserver.Config) { cfg.VRFKey = nil })
	e.register(e.newUser("alice"))
	for _, p := range []string{"/v2/accounts/alice", "/v2/log/checkpoint", "/v2/log/batch?epoch=1"} {
		if r := e.do("GET", p, nil, ""); r.status != http.StatusNotFound || r.code() != api.CodeNotFound {
			t.Errorf("GET %s without a directory: %d %s", p, r.status, r.body)
		}
	}
	var wk api.WellKnown
	e.ok("GET", "/.well-known/sealpost-keyserver", nil, "", http.StatusOK, &wk)
	if wk.DirectoryOrigin != "" || wk.DirectoryVerifierKey != "" || wk.VRFKey != nil {
		t.Errorf("discovery without a directory: %q %q %x", wk.DirectoryOrigin, wk.DirectoryVerifierKey, wk.VRFKey)
	}
	time.Sleep(100 * time.Millisecond)
	if epoch, err := e.store.LatestEpoch(context.Background()); err != nil || epoch != 0 {
		t.Errorf("latest epoch %d, %v without a directory", epoch, err)
	}
}

// TestDirectoryKeyRefused: a VRF key that is the token or the log key is a
// configuration error (spec/transparency-v2.md §3.2: a key of its own).
func TestDirectoryKeyRefused(t *testing.T) {
	logKey := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	tokenKey := ed25519.NewKeyFromSeed(append(make([]byte, 31), 2))
	for _, c := range []struct {
		name string
		seed []byte
		want string
	}{
		{"log key", logKey.Seed(), "VRFKey is the LogKey"},
		{"token key", tokenKey.Seed(), "VRFKey is the TokenKey"},
	} {
		k, err := vrf.NewPrivateKey(c.seed)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := keyserver.New(keyserver.Config{Name: serverName, Store: openSQLite(t), TokenKey: tokenKey, LogKey: logKey, VRFKey: k})
		if err == nil || srv != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, %v; want an error with %q", c.name, srv, err, c.want)
		}
	}
	k, _ := vrf.NewPrivateKey(append(make([]byte, 31), 3))
	srv, err := keyserver.New(keyserver.Config{Name: serverName, Store: openSQLite(t), TokenKey: tokenKey, LogKey: logKey, VRFKey: k, EpochInterval: -time.Second})
	if err == nil || srv != nil || !strings.Contains(err.Error(), "EpochInterval") {
		t.Errorf("negative EpochInterval: New = %v, %v", srv, err)
	}
}

// TestDirectoryRefusesV1Checkpoint: the v1 checkpoint (origin
// "<name>/keyserver", same log key) is not accepted by a directory
// verifier, and the directory's is not a v1 one (spec/transparency-v2.md
// §9).
func TestDirectoryRefusesV1Checkpoint(t *testing.T) {
	e := newEnv(t, nil)
	e.register(e.newUser("alice"))
	e.waitSequenced()
	c := e.dirClient()
	var v1, v2 api.CheckpointResponse
	e.ok("GET", "/v1/log/checkpoint", nil, "", http.StatusOK, &v1)
	e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, &v2)
	if _, err := c.v.OpenCheckpoint([]byte(v1.Checkpoint)); err == nil {
		t.Errorf("directory verifier accepted the v1 checkpoint:\n%s", v1.Checkpoint)
	}
	vkey, _ := kt.VerifierKey(serverName+api.OriginSuffix, e.logKey.Public().(ed25519.PublicKey))
	v1v, err := kt.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v1v.OpenCheckpoint([]byte(v2.Checkpoint)); err == nil {
		t.Errorf("v1 verifier accepted the directory checkpoint:\n%s", v2.Checkpoint)
	}
	if _, err := directory.NewVerifier(vkey); !errors.Is(err, directory.ErrOrigin) {
		t.Errorf("directory.NewVerifier(v1 key) = %v, want ErrOrigin", err)
	}
}

var _ = keys.DeviceID(0)
