package keyserver_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// TestTamperedViews checks that the directory proofs the server serves
// are refused when the leaf, the entry or the checkpoint is altered, and
// that a fork of the directory's log is detected by the consistency
// proofs it serves (spec/transparency-v2.md §6.3, §8).
func TestTamperedViews(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dirClient()
	for _, h := range []string{"alice", "bob", "carol"} {
		e.register(e.newUser(h))
	}
	e.waitSequenced()
	_, r, err := c.lookup("bob", "")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := c.v.OpenCheckpoint([]byte(r.Checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	flipped := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)-1] ^= 1
		return b
	}
	for name, tamper := range map[string]func(l *api.DirectoryLookup){
		"leaf":      func(l *api.DirectoryLookup) { l.Leaf = flipped(l.Leaf) },
		"entry":     func(l *api.DirectoryLookup) { l.Entry = flipped(l.Entry) },
		"opening":   func(l *api.DirectoryLookup) { l.Opening = flipped(l.Opening) },
		"map proof": func(l *api.DirectoryLookup) { l.MapProof = flipped(l.MapProof) },
	} {
		bad := *r
		tamper(&bad)
		if entry, err := c.verifyLookup(&bad); err == nil {
			t.Errorf("tampered %s accepted: %+v", name, entry)
		}
	}
	size := fmt.Sprintf("\n%d\n", cp.Size)
	forged := strings.Replace(r.Checkpoint, size, fmt.Sprintf("\n%d\n", cp.Size+1), 1)
	if forged == r.Checkpoint {
		t.Fatalf("no size line %q in\n%s", size, r.Checkpoint)
	}
	if _, err := c.v.OpenCheckpoint([]byte(forged)); !errors.Is(err, kt.ErrBadSignature) {
		t.Fatalf("forged checkpoint: %v", err)
	}

	// A fork: the log key signs another tree of the same size.
	origin := serverName + directory.OriginSuffix
	signer, err := kt.NewSigner(origin, e.logKey)
	if err != nil {
		t.Fatal(err)
	}
	other := cp.Root
	other[0] ^= 1
	signed, err := kt.SignCheckpoint(signer, origin, cp.Size, other)
	if err != nil {
		t.Fatal(err)
	}
	fork, err := c.v.OpenCheckpoint(signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := kt.VerifyConsistency(cp, fork, nil); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("forked checkpoint: %v", err)
	}
	if _, err := c.v.Advance(cp, fork, nil); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("advancing to a fork: %v", err)
	}
	// A larger fork: the real proof from the older size does not lead to
	// it.
	e.register(e.newUser("dave"))
	e.waitSequenced()
	real := c.mustCheckpoint(t)
	if real.Size <= cp.Size {
		t.Fatalf("directory log of size %d after a change, was %d", real.Size, cp.Size)
	}
	bigger := real.Root
	bigger[0] ^= 1
	signed, err = kt.SignCheckpoint(signer, origin, real.Size, bigger)
	if err != nil {
		t.Fatal(err)
	}
	fork, err = c.v.OpenCheckpoint(signed)
	if err != nil {
		t.Fatal(err)
	}
	var p api.ConsistencyResponse
	e.ok("GET", fmt.Sprintf("/v2/log/consistency?old=%d&new=%d", cp.Size, real.Size), nil, "", http.StatusOK, &p)
	proof, err := dirHashes(p.Proof)
	if err != nil {
		t.Fatal(err)
	}
	if err := kt.VerifyConsistency(cp, real, proof); err != nil {
		t.Fatal(err)
	}
	if err := kt.VerifyConsistency(cp, fork, proof); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("forked larger checkpoint: %v", err)
	}
}

// TestCheckpointTimestamp: every directory checkpoint carries the log
// key's timestamp (spec/transparency.md §5.3); an unchanged tree is signed
// again once its checkpoint is older than CheckpointRefresh, and not
// before.
func TestCheckpointTimestamp(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.CheckpointRefresh = 10 * time.Minute })
	c := e.dirClient()
	e.waitSequenced()
	start := e.clock.Now()
	cp1 := c.mustCheckpoint(t)
	if !cp1.Time.Equal(start.Truncate(time.Second)) {
		t.Fatalf("checkpoint time %v, want %v", cp1.Time, start)
	}
	e.clock.Advance(9 * time.Minute)
	if cp := c.mustCheckpoint(t); !bytes.Equal(cp.Signed, cp1.Signed) {
		t.Fatal("signed again before the refresh interval")
	}
	e.clock.Advance(2 * time.Minute)
	cp2 := c.mustCheckpoint(t)
	if cp2.Size != cp1.Size || cp2.Root != cp1.Root || !cp2.Time.Equal(start.Add(11*time.Minute).Truncate(time.Second)) {
		t.Fatalf("after 11 minutes: size %d time %v", cp2.Size, cp2.Time)
	}
	// Both are the same tree: the newer time is what a client pins.
	next, err := c.v.Advance(cp1, cp2, nil)
	if err != nil || next != cp2 {
		t.Fatalf("Advance(older time, newer time) = %v, %v", next, err)
	}
	if next, err := c.v.Advance(cp2, cp1, nil); err != nil || next != cp2 {
		t.Fatalf("Advance(newer time, older time) = %v, %v", next, err)
	}
}

// TestV1PublicEndpointsRemoved: the version 1 lookup and log endpoints
// are retired (spec/keyserver.md §5.3, §6): each answers 404 not_found
// like an unknown path, with a token or without, for a registered handle
// or not, and nothing the server serves lists handles: the discovery
// document names no version 1 log, and the directory's public log
// carries no handle.
func TestV1PublicEndpointsRemoved(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dirClient()
	alice := e.newUser("alice")
	e.register(alice)
	e.register(e.newUser("bob"))
	tok := e.token(alice, 1, "")
	e.waitSequenced()
	before := e.snapshot("alice", "bob")
	for _, p := range []string{
		"/v1/log/leaves?start=0&end=2", "/v1/log/leaves",
		"/v1/log/checkpoint", "/v1/log/consistency?old=1&new=2",
		"/v1/accounts/alice", "/v1/accounts/nobody", "/v1/accounts/Alice",
	} {
		for _, bearer := range []string{"", tok} {
			if r := e.do("GET", p, nil, bearer); r.status != http.StatusNotFound || r.code() != api.CodeNotFound {
				t.Errorf("GET %s (token %v): %d %s, want 404 %s", p, bearer != "", r.status, r.body, api.CodeNotFound)
			}
		}
	}
	e.unchanged(before, "alice", "bob")

	wk := e.do("GET", "/.well-known/sealpost-keyserver", nil, "")
	for _, member := range []string{`"log_origin"`, `"log_verifier_key"`, "/keyserver\""} {
		if bytes.Contains(wk.body, []byte(member)) {
			t.Errorf("discovery document names the version 1 log (%s): %s", member, wk.body)
		}
	}
	// Every public byte of the directory's log: leaves and batches name
	// map indexes and commitments, never a handle.
	var lr api.LeavesResponse
	cp := c.mustCheckpoint(t)
	e.ok("GET", fmt.Sprintf("/v2/log/leaves?start=0&end=%d", cp.Size), nil, "", http.StatusOK, &lr)
	public := [][]byte{cp.Signed}
	for i, l := range lr.Leaves {
		var br api.BatchResponse
		e.ok("GET", fmt.Sprintf("/v2/log/batch?epoch=%d", i+1), nil, "", http.StatusOK, &br)
		public = append(public, l, br.Batch, br.Proof)
	}
	for _, b := range public {
		for _, h := range []string{"alice", "bob"} {
			if bytes.Contains(b, []byte(h)) {
				t.Errorf("public log data names %s: %q", h, b)
			}
		}
	}
}
