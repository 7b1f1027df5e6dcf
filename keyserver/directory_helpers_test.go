package keyserver_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// dirClient checks a key server's directory answers as a client and an
// auditor do (spec/transparency-v2.md §6, §8), pinned to the keys the
// test gave the server, not to what the server publishes.
type dirClient struct {
	e      *env
	v      *kt.Verifier
	vrfPub *vrf.PublicKey
}

// dirClient returns the checking client of e's directory, after checking
// that the discovery document publishes the directory's keys.
func (e *env) dirClient() *dirClient {
	e.t.Helper()
	vkey, err := kt.VerifierKey(serverName+directory.OriginSuffix, e.logKey.Public().(ed25519.PublicKey))
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := directory.NewVerifier(vkey)
	if err != nil {
		e.t.Fatal(err)
	}
	var wk api.WellKnown
	e.ok("GET", "/.well-known/sealpost-keyserver", nil, "", http.StatusOK, &wk)
	pub := e.vrfKey.Public()
	if wk.DirectoryOrigin != serverName+directory.OriginSuffix || wk.DirectoryVerifierKey != vkey || string(wk.VRFKey) != string(pub.Bytes()) {
		e.t.Fatalf("discovery: directory %q %q %x; want %q %q %x", wk.DirectoryOrigin, wk.DirectoryVerifierKey, wk.VRFKey, serverName+directory.OriginSuffix, vkey, pub.Bytes())
	}
	return &dirClient{e: e, v: v, vrfPub: pub}
}

// waitSequenced waits until every key-set change in the store is in a
// directory epoch and returns the latest epoch.
func (e *env) waitSequenced() uint64 {
	e.t.Helper()
	return e.waitSequencedWithin(30 * time.Second)
}

// waitSequencedWithin is waitSequenced, failing after limit.
func (e *env) waitSequencedWithin(limit time.Duration) uint64 {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(limit)
	for {
		pending, err := e.store.Unsequenced(ctx, 1)
		if err != nil {
			e.t.Fatal(err)
		}
		epoch, err := e.store.LatestEpoch(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(pending) == 0 && epoch > 0 {
			return epoch
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("key-set changes still not sequenced after %v (epoch %d, %d pending)", limit, epoch, len(pending))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dirHashes(bs []api.Bytes) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("hash of %d bytes", len(b))
		}
		out[i] = tlog.Hash(b)
	}
	return out, nil
}

// lookup fetches and verifies the directory lookup of handle: the entry,
// or nil when the answer proves the handle absent.
func (c *dirClient) lookup(handle, bearer string) (*kt.Entry, *api.DirectoryLookup, error) {
	c.e.t.Helper()
	var r api.DirectoryLookup
	c.e.ok("GET", "/v2/accounts/"+handle, nil, bearer, http.StatusOK, &r)
	entry, err := c.verifyLookup(&r)
	return entry, &r, err
}

// verifyLookup verifies a lookup answer as a client does.
func (c *dirClient) verifyLookup(r *api.DirectoryLookup) (*kt.Entry, error) {
	cp, err := c.v.OpenCheckpoint([]byte(r.Checkpoint))
	if err != nil {
		return nil, err
	}
	incl, err := dirHashes(r.Inclusion)
	if err != nil {
		return nil, err
	}
	return directory.VerifyLookup(cp, c.vrfPub, &directory.Lookup{
		Handle: r.Handle, VRFProof: r.VRFProof, Epoch: r.Epoch, Leaf: r.Leaf,
		MapProof: r.MapProof, Inclusion: incl, Entry: r.Entry, Opening: r.Opening,
	})
}

// history fetches and verifies the directory history of handle with the
// token bearer.
func (c *dirClient) history(handle, bearer string) ([]*kt.Entry, *api.DirectoryHistory, error) {
	c.e.t.Helper()
	var r api.DirectoryHistory
	c.e.ok("GET", "/v2/accounts/"+handle+"/history", nil, bearer, http.StatusOK, &r)
	cp, err := c.v.OpenCheckpoint([]byte(r.Checkpoint))
	if err != nil {
		return nil, &r, err
	}
	h := &directory.History{Handle: r.Handle, VRFProof: r.VRFProof}
	for _, v := range r.Versions {
		h.Versions = append(h.Versions, directory.HistoryVersion{Version: v.Version, Epoch: v.Epoch, Entry: v.Entry, Opening: v.Opening})
	}
	for _, p := range r.Proofs {
		incl, err := dirHashes(p.Inclusion)
		if err != nil {
			return nil, &r, err
		}
		h.Proofs = append(h.Proofs, directory.EpochProof{Epoch: p.Epoch, Leaf: p.Leaf, Inclusion: incl, MapProof: p.MapProof})
	}
	entries, err := directory.VerifyHistory(cp, c.vrfPub, h)
	return entries, &r, err
}

// checkpoint fetches the directory log's current checkpoint and opens it
// with the pinned verifier.
func (c *dirClient) checkpoint() (*kt.Checkpoint, error) {
	c.e.t.Helper()
	var cr api.CheckpointResponse
	c.e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, &cr)
	return c.v.OpenCheckpoint([]byte(cr.Checkpoint))
}

// mustCheckpoint is checkpoint, failing the test unless it opens.
func (c *dirClient) mustCheckpoint(t testing.TB) *kt.Checkpoint {
	t.Helper()
	cp, err := c.checkpoint()
	if err != nil {
		t.Fatalf("directory checkpoint: %v", err)
	}
	return cp
}

// audit advances a from its state to the directory log's current
// checkpoint over the public /v2/log endpoints (spec/transparency-v2.md
// §8) and returns the checkpoint's size.
func (c *dirClient) audit(a *directory.Auditor) (uint64, error) {
	c.e.t.Helper()
	cp, err := c.checkpoint()
	if err != nil {
		return 0, err
	}
	old := a.State().Size
	size := uint64(cp.Size)
	var proof tlog.TreeProof
	if old > 0 && old < size {
		var r api.ConsistencyResponse
		c.e.ok("GET", fmt.Sprintf("/v2/log/consistency?old=%d&new=%d", old, size), nil, "", http.StatusOK, &r)
		if proof, err = dirHashes(r.Proof); err != nil {
			return 0, err
		}
	}
	var epochs []directory.AuditEpoch
	for start := old; start < size; {
		end := min(size, start+100)
		var lr api.LeavesResponse
		c.e.ok("GET", fmt.Sprintf("/v2/log/leaves?start=%d&end=%d", start, end), nil, "", http.StatusOK, &lr)
		if len(lr.Leaves) == 0 {
			return 0, fmt.Errorf("no leaves from %d", start)
		}
		for _, l := range lr.Leaves {
			start++
			var br api.BatchResponse
			c.e.ok("GET", fmt.Sprintf("/v2/log/batch?epoch=%d", start), nil, "", http.StatusOK, &br)
			epochs = append(epochs, directory.AuditEpoch{Leaf: l, Batch: br.Batch, BatchProof: br.Proof})
		}
	}
	return size, a.Advance(cp, proof, epochs)
}

// newAuditor returns an auditor of an empty directory log under c's VRF
// key.
func (c *dirClient) newAuditor() *directory.Auditor {
	c.e.t.Helper()
	st, err := directory.NewAuditState(c.vrfPub)
	if err != nil {
		c.e.t.Fatal(err)
	}
	a, err := directory.NewAuditor(st)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return a
}

// latest waits until every key-set change is sequenced and returns
// handle's verified entry in the latest epoch (nil: proven absent).
func (c *dirClient) latest(t testing.TB, handle string) *kt.Entry {
	t.Helper()
	c.e.waitSequenced()
	return c.mustLookup(t, handle)
}

// mustLookup looks up handle and fails the test unless it verifies.
func (c *dirClient) mustLookup(t testing.TB, handle string) *kt.Entry {
	t.Helper()
	entry, _, err := c.lookup(handle, "")
	if err != nil {
		t.Fatalf("lookup %s: %v", handle, err)
	}
	return entry
}
