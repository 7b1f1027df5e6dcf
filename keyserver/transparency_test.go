package keyserver_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// verifier returns the log verifier published by the server.
func (e *env) verifier() *kt.Verifier {
	e.t.Helper()
	var wk api.WellKnown
	e.ok("GET", "/.well-known/sealpost-keyserver", nil, "", http.StatusOK, &wk)
	v, err := kt.NewVerifier(wk.LogVerifierKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func hashesIn(t testing.TB, bs []api.Bytes) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			t.Fatalf("hash of %d bytes", len(b))
		}
		copy(out[i][:], b)
	}
	return out
}

// lookup fetches handle and checks everything a client checks: the
// checkpoint signature, the leaf's inclusion, and that the leaf decodes to
// the key set served.
func (e *env) lookup(v *kt.Verifier, handle string) (*api.AccountResponse, *kt.Checkpoint) {
	e.t.Helper()
	var a api.AccountResponse
	e.ok("GET", "/v1/accounts/"+handle, nil, "", http.StatusOK, &a)
	cp, err := v.OpenCheckpoint([]byte(a.Checkpoint))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := kt.VerifyInclusion(cp, a.LogIndex, a.Leaf, hashesIn(e.t, a.Inclusion)); err != nil {
		e.t.Fatalf("inclusion of %s: %v", handle, err)
	}
	entry, err := kt.ParseEntry(a.Leaf)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := entry.Verify(); err != nil {
		e.t.Fatal(err)
	}
	if entry.Handle != a.Handle || string(entry.AccountKey[:]) != string(a.AccountKey) || entry.Version != a.Version || len(entry.Devices) != len(a.Devices) {
		e.t.Fatalf("leaf %+v does not match the served key set %+v", entry, a)
	}
	for i, d := range entry.Devices {
		served := a.Devices[i]
		if uint32(d.Certificate.Device) != served.ID || string(d.Certificate.Marshal()) != string(served.Certificate) {
			e.t.Fatalf("device %d differs from the leaf", served.ID)
		}
		if (d.Revocation == nil) != (served.Revocation == nil) || d.Revocation != nil && string(d.Revocation.Marshal()) != string(served.Revocation) {
			e.t.Fatalf("device %d revocation differs from the leaf", served.ID)
		}
	}
	return &a, cp
}

func (e *env) checkpoint(v *kt.Verifier) *kt.Checkpoint {
	e.t.Helper()
	var c api.CheckpointResponse
	e.ok("GET", "/v1/log/checkpoint", nil, "", http.StatusOK, &c)
	cp, err := v.OpenCheckpoint([]byte(c.Checkpoint))
	if err != nil {
		e.t.Fatal(err)
	}
	return cp
}

func (e *env) consistent(older, newer *kt.Checkpoint) {
	e.t.Helper()
	if older.Size == 0 || older.Size == newer.Size {
		if err := kt.VerifyConsistency(older, newer, nil); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	var p api.ConsistencyResponse
	e.ok("GET", fmt.Sprintf("/v1/log/consistency?old=%d&new=%d", older.Size, newer.Size), nil, "", http.StatusOK, &p)
	if err := kt.VerifyConsistency(older, newer, hashesIn(e.t, p.Proof)); err != nil {
		e.t.Fatalf("consistency %d -> %d: %v", older.Size, newer.Size, err)
	}
}

// TestTamperedViews checks that the proofs the server serves are refused
// when the leaf or the checkpoint is altered.
func TestTamperedViews(t *testing.T) {
	e := newEnv(t, nil)
	v := e.verifier()
	for _, h := range []string{"alice", "bob", "carol"} {
		e.register(e.newUser(h))
	}
	var a api.AccountResponse
	e.ok("GET", "/v1/accounts/bob", nil, "", http.StatusOK, &a)
	cp, err := v.OpenCheckpoint([]byte(a.Checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	leaf := append([]byte(nil), a.Leaf...)
	leaf[len(leaf)-1] ^= 1
	if err := kt.VerifyInclusion(cp, a.LogIndex, leaf, hashesIn(t, a.Inclusion)); err == nil {
		t.Fatal("tampered leaf accepted")
	}
	forged := strings.Replace(a.Checkpoint, "\n3\n", "\n4\n", 1)
	if _, err := v.OpenCheckpoint([]byte(forged)); !errors.Is(err, kt.ErrBadSignature) {
		t.Fatalf("forged checkpoint: %v", err)
	}

	// A fork: the log key signs another tree of the same size.
	signer, err := kt.NewSigner(serverName+"/keyserver", e.logKey)
	if err != nil {
		t.Fatal(err)
	}
	other := cp.Root
	other[0] ^= 1
	signed, err := kt.SignCheckpoint(signer, serverName+"/keyserver", cp.Size, other)
	if err != nil {
		t.Fatal(err)
	}
	fork, err := v.OpenCheckpoint(signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := kt.VerifyConsistency(cp, fork, nil); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("forked checkpoint: %v", err)
	}
	if _, err := v.Advance(cp, fork, nil); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("advancing to a fork: %v", err)
	}
	// A larger fork: the real proof from size 2 does not lead to it.
	e.register(e.newUser("dave"))
	real := e.checkpoint(v)
	bigger := real.Root
	bigger[0] ^= 1
	signed, err = kt.SignCheckpoint(signer, serverName+"/keyserver", real.Size, bigger)
	if err != nil {
		t.Fatal(err)
	}
	fork, err = v.OpenCheckpoint(signed)
	if err != nil {
		t.Fatal(err)
	}
	var p api.ConsistencyResponse
	e.ok("GET", fmt.Sprintf("/v1/log/consistency?old=%d&new=%d", cp.Size, real.Size), nil, "", http.StatusOK, &p)
	if err := kt.VerifyConsistency(cp, real, hashesIn(t, p.Proof)); err != nil {
		t.Fatal(err)
	}
	if err := kt.VerifyConsistency(cp, fork, hashesIn(t, p.Proof)); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("forked larger checkpoint: %v", err)
	}
}

// TestCheckpointTimestamp: every checkpoint carries the log key's
// timestamp (spec/transparency.md §5.3); an unchanged tree is signed again
// once its checkpoint is older than CheckpointRefresh, and not before.
func TestCheckpointTimestamp(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.CheckpointRefresh = 10 * time.Minute })
	v := e.verifier()
	start := e.clock.Now()
	cp1 := e.checkpoint(v)
	if !cp1.Time.Equal(start.Truncate(time.Second)) {
		t.Fatalf("checkpoint time %v, want %v", cp1.Time, start)
	}
	e.clock.Advance(9 * time.Minute)
	if cp := e.checkpoint(v); !bytes.Equal(cp.Signed, cp1.Signed) {
		t.Fatal("signed again before the refresh interval")
	}
	e.clock.Advance(2 * time.Minute)
	cp2 := e.checkpoint(v)
	if cp2.Size != cp1.Size || cp2.Root != cp1.Root || !cp2.Time.Equal(start.Add(11*time.Minute).Truncate(time.Second)) {
		t.Fatalf("after 11 minutes: size %d time %v", cp2.Size, cp2.Time)
	}
	// Both are the same tree: the newer time is what a client pins.
	next, err := v.Advance(cp1, cp2, nil)
	if err != nil || next != cp2 {
		t.Fatalf("Advance(older time, newer time) = %v, %v", next, err)
	}
	if next, err := v.Advance(cp2, cp1, nil); err != nil || next != cp2 {
		t.Fatalf("Advance(newer time, older time) = %v, %v", next, err)
	}
}
