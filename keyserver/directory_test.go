package keyserver_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
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
	// A new auditor checks every epoch again, from the batches the
	// server now answers from memory.
	if size, err := c.audit(c.newAuditor()); err != nil || size != latest {
		t.Fatalf("second auditor: size %d, %v", size, err)
	}
}

// TestDirectoryBatching: every key-set change pending when a round starts
// goes into its epoch, however many, a change made through the server
// starts a round at once, and a handle's map version counts the epochs
// that changed it, not its key-set versions (spec/transparency-v2.md
// §4.3, §6.1). The first changes are made through a version-1-only server
// on the same database before the directory's server starts, whose first
// round takes them all; its epoch interval is an hour, so each later
// epoch is a change's kick.
func TestDirectoryBatching(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyserver.db")
	open := func(t *testing.T) store.Store {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	e := newEnvOn(t, open, func(cfg *keyserver.Config) { cfg.EpochInterval = time.Hour })
	// The first round, at start, commits the empty first epoch.
	if epoch := e.waitSequenced(); epoch != 1 {
		t.Fatalf("first epoch %d", epoch)
	}
	c := e.dirClient()
	v1 := newEnvOn(t, open, func(cfg *keyserver.Config) { cfg.VRFKey = nil })
	const n = 12
	users := make([]*user, n)
	for i := range users {
		users[i] = v1.newUser(fmt.Sprintf("user%d", i))
		v1.register(users[i])
	}
	v1.addDevice(users[0], 2) // user0 at key-set version 2
	ctx := context.Background()
	if epoch, err := e.store.LatestEpoch(ctx); err != nil || epoch != 1 {
		t.Fatalf("latest epoch %d, %v before the next round", epoch, err)
	}
	last := e.newUser("last")
	e.register(last) // kicks the sequencer
	if epoch := e.waitSequenced(); epoch != 2 {
		t.Fatalf("%d epochs for %d pending changes, want 2 (one empty)", epoch, n+2)
	}
	var lr api.LeavesResponse
	e.ok("GET", "/v2/log/leaves?start=1&end=2", nil, "", http.StatusOK, &lr)
	leaf, err := directory.ParseLeaf(lr.Leaves[0])
	if err != nil || leaf.Count != n+1 {
		t.Fatalf("epoch 2 leaf: %+v, %v; want %d handles", leaf, err, n+1)
	}

	e.addDevice(users[0], 3) // key-set version 3, kicks
	if epoch := e.waitSequenced(); epoch != 3 {
		t.Fatalf("latest epoch %d, want 3", epoch)
	}
	entries, h, err := c.history("user0", e.token(users[0], 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Versions) != 2 || h.Versions[0].Version != 1 || h.Versions[0].Epoch != 2 || entries[0].Version != 2 ||
		h.Versions[1].Version != 2 || h.Versions[1].Epoch != 3 || entries[1].Version != 3 {
		t.Fatalf("user0 history: %+v; want map versions 1, 2 at epochs 2, 3 holding key-set versions 2, 3", h.Versions)
	}
	if _, err := c.audit(c.newAuditor()); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// TestDirectoryTwoServers: two key servers on one PostgreSQL database.
// While another session holds the sequencer role neither sequences; once
// it is free one round takes every pending change; afterwards both serve
// lookups that verify, the epochs they sequenced add up to the log, and
// the log audits (spec/keyserver.md §9).
func TestDirectoryTwoServers(t *testing.T) {
	dsn := pgtest.DSN(t)
	open := func(t *testing.T) store.Store {
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	var envs []*env
	for _, reg := range regs {
		envs = append(envs, newEnvOn(t, open, func(cfg *keyserver.Config) { cfg.Registerer = reg }))
	}
	a := envs[0]
	if epoch := a.waitSequenced(); epoch != 1 { // the empty first epoch
		t.Fatalf("first epoch %d", epoch)
	}
	holder := open(t)
	ctx := context.Background()
	// The servers take the role for each round: wait for a moment
	// between their rounds.
	var release func()
	for start := time.Now(); release == nil; time.Sleep(5 * time.Millisecond) {
		r, ok, err := holder.Sequencer(ctx)
		if err != nil || (!ok && time.Since(start) > 10*time.Second) {
			t.Fatalf("Sequencer: %v, %v", ok, err)
		}
		if ok {
			release = r
		}
	}
	// Each registration answers once its epoch is committed: they wait
	// while the role is held elsewhere.
	users := make([]*user, 6)
	var wg sync.WaitGroup
	for i := range users {
		e := envs[i%2]
		users[i] = e.newUser(fmt.Sprintf("user%d", i))
		wg.Go(func() { e.register(users[i]) })
	}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		pending, err := holder.Unsequenced(ctx, 10)
		if err != nil || time.Since(start) > 30*time.Second {
			t.Fatalf("%d registrations pending, %v", len(pending), err)
		}
		if len(pending) == len(users) {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // 10 rounds of each server
	if epoch, err := holder.LatestEpoch(ctx); err != nil || epoch != 1 {
		t.Fatalf("latest epoch %d, %v while the role was held elsewhere", epoch, err)
	}
	release()
	wg.Wait()
	if epoch := a.waitSequenced(); epoch != 2 {
		t.Fatalf("%d epochs for 6 changes pending at once, want 2 (one empty)", epoch)
	}

	for i := range 6 {
		envs[i%2].addDevice(users[i], 2)
	}
	latest := a.waitSequenced()
	for _, e := range envs {
		c := e.dirClient()
		for _, u := range users {
			entry := c.mustLookup(t, u.handle)
			if entry == nil || entry.Version != 2 {
				t.Fatalf("lookup %s: %+v, want version 2", u.handle, entry)
			}
		}
		if size, err := c.audit(c.newAuditor()); err != nil || size != latest {
			t.Fatalf("audit: size %d, %v; want %d", size, err, latest)
		}
	}
	var sum float64
	for _, reg := range regs {
		sum += counter(t, reg, "sealpost_keyserver_directory_epochs_total", nil)
	}
	if uint64(sum) != latest {
		t.Fatalf("the servers sequenced %v epochs, the log has %d", sum, latest)
	}
}

// TestDirectoryBadInput: refusals of the /v2 endpoints are named error
// codes and change nothing: no account, no log, no epoch.
func TestDirectoryBadInput(t *testing.T) {
	e := newEnv(t, func(cfg *keyserver.Config) { cfg.Limits.MaxLeaves = 2 })
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	e.addDevice(alice, 2)
	e.waitSequenced()
	tokA1 := e.token(alice, 1, "")
	tokB := e.token(bob, 1, "")
	e.revoke(alice, 1, 2)
	latest := e.waitSequenced()
	if latest < 3 {
		t.Fatalf("latest epoch %d: the leaves case past MaxLeaves needs 3", latest)
	}
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
		{"leaves not a number", "/v2/log/leaves?start=x&end=1", "", 400, api.CodeBadRequest},
		{"leaves more than MaxLeaves", "/v2/log/leaves?start=0&end=3", "", 400, api.CodeBadRequest},
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

// TestDirectoryFirstEpochEmpty: a new directory commits an empty first
// epoch at once, so that a lookup of an unknown handle is proven absent
// from the start rather than refused.
func TestDirectoryFirstEpochEmpty(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dirClient()
	if epoch := e.waitSequenced(); epoch != 1 {
		t.Fatalf("first epoch %d", epoch)
	}
	var cr api.CheckpointResponse
	e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, &cr)
	cp, err := c.v.OpenCheckpoint([]byte(cr.Checkpoint))
	if err != nil || cp.Size != 1 {
		t.Fatalf("checkpoint after the first epoch: %+v, %v", cp, err)
	}
	var br api.BatchResponse
	e.ok("GET", "/v2/log/batch?epoch=1", nil, "", http.StatusOK, &br)
	if es, err := vmap.ParseBatch(br.Batch); err != nil || len(es) != 0 {
		t.Fatalf("batch of the first epoch: %v, %v", es, err)
	}
	var l api.DirectoryLookup
	e.ok("GET", "/v2/accounts/alice", nil, "", http.StatusOK, &l)
	if l.Epoch != 1 || len(l.Entry) != 0 {
		t.Fatalf("lookup in the empty first epoch: %+v", l)
	}
}

// TestDirectoryOff: without a VRF key the server serves no lookups and no
// log at all (the version 1 ones are retired too): every /v2 path and the
// old /v1 lookup and log paths are 404 not_found, the discovery document
// has empty directory members, and no epoch is ever sequenced. The rest
// of /v1 works (here registration).
func TestDirectoryOff(t *testing.T) {
	e := newEnv(t, func(cfg *keyserver.Config) { cfg.VRFKey = nil })
	e.register(e.newUser("alice"))
	for _, p := range []string{"/v2/accounts/alice", "/v2/log/checkpoint", "/v2/log/batch?epoch=1", "/v1/accounts/alice", "/v1/log/checkpoint"} {
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

// TestDirectoryRefusesV1Checkpoint: a checkpoint of the retired version
// 1 log (origin "<name>/keyserver", the same log key, as a client may
// still hold one) is not accepted by a directory verifier, nor is the
// directory's accepted as one, and a version 1 verifier key is no
// directory verifier key (spec/transparency-v2.md §9).
func TestDirectoryRefusesV1Checkpoint(t *testing.T) {
	e := newEnv(t, nil)
	e.register(e.newUser("alice"))
	e.waitSequenced()
	c := e.dirClient()
	cp := c.mustCheckpoint(t)
	const v1Origin = serverName + "/keyserver"
	signer, err := kt.NewSigner(v1Origin, e.logKey)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := kt.SignCheckpoint(signer, v1Origin, cp.Size, cp.Root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.v.OpenCheckpoint(v1); err == nil {
		t.Errorf("directory verifier accepted a version 1 checkpoint:\n%s", v1)
	}
	vkey, err := kt.VerifierKey(v1Origin, e.logKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v1v, err := kt.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v1v.OpenCheckpoint(cp.Signed); err == nil {
		t.Errorf("version 1 verifier accepted the directory checkpoint:\n%s", cp.Signed)
	}
	if _, err := directory.NewVerifier(vkey); !errors.Is(err, directory.ErrOrigin) {
		t.Errorf("directory.NewVerifier(version 1 key) = %v, want ErrOrigin", err)
	}
}

// TestDirectoryLookupLimits: /v2 lookups are charged as the retired /v1
// ones were (spec/keyserver.md §4, §9.1): 1 for a present handle, LookupMissCost
// for one proven absent, and the history as a lookup; past the budget,
// 429 rate_limited and nothing changes. The test clock stands still, so
// no bucket refills.
func TestDirectoryLookupLimits(t *testing.T) {
	e := newEnv(t, func(cfg *keyserver.Config) {
		cfg.Limits.AddressLookupsPerSecond, cfg.Limits.AddressLookupBurst = 1, 7
		cfg.Limits.LookupMissCost = 5
	})
	alice := e.newUser("alice")
	e.register(alice)
	e.waitSequenced()
	tok := e.token(alice, 1, "")
	c := e.dirClient()
	if entry := c.mustLookup(t, "alice"); entry == nil { // 1, 6 left
		t.Fatal("alice absent")
	}
	if entry := c.mustLookup(t, "nobody"); entry != nil { // 5, 1 left
		t.Fatal("nobody present")
	}
	if _, _, err := c.history("alice", tok); err != nil { // 1, 0 left
		t.Fatal(err)
	}
	before := e.snapshot("alice")
	for _, p := range []string{"/v2/accounts/alice", "/v2/accounts/alice/history"} {
		if r := e.do("GET", p, nil, tok); r.status != http.StatusTooManyRequests || r.code() != api.CodeRateLimited || r.header.Get("Retry-After") == "" {
			t.Errorf("GET %s past the budget: %d %s", p, r.status, r.body)
		}
	}
	e.unchanged(before, "alice")
}
