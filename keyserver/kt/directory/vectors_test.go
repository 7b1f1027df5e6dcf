package directory_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

// vectorErrors are the names directory.json uses (spec/errors.md §3.16,
// and §3.7 for a checkpoint the log verifier refuses).
var vectorErrors = map[string]error{
	"malformed": directory.ErrMalformed, "proof_invalid": directory.ErrProofInvalid,
	"wrong_key": directory.ErrWrongKey, "not_latest": directory.ErrNotLatest,
	"origin": directory.ErrOrigin, "history": directory.ErrHistory, "audit": directory.ErrAudit,
	"bad_signature": kt.ErrBadSignature,
}

func checkVectorErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	sentinel, ok := vectorErrors[want]
	if !ok {
		t.Fatalf("unknown error name %q", want)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v; want %s", err, want)
	}
}

func hashes(hs []vectors.Hex) []tlog.Hash {
	var out []tlog.Hash
	for _, h := range hs {
		out = append(out, tlog.Hash(h))
	}
	return out
}

// open opens a vector's checkpoint with the version 2 verifier.
func openVector(verifierKey, signed string) (*kt.Checkpoint, error) {
	v, err := directory.NewVerifier(verifierKey)
	if err != nil {
		return nil, err
	}
	return v.OpenCheckpoint([]byte(signed))
}

func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.DirectoryCase]("directory.json")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, c := range f.Cases {
		kinds[c.Type]++
		t.Run(c.ID, func(t *testing.T) {
			var err error
			switch c.Type {
			case "leaf":
				err = leafVector(t, c.Leaf)
			case "commit":
				got := directory.Commit((*[32]byte)(c.Commit.Opening), c.Commit.Entry)
				if !bytes.Equal(got[:], c.Commit.Commitment) {
					t.Fatalf("commitment %x, want %x", got, c.Commit.Commitment)
				}
			case "lookup":
				err = lookupVector(t, c.Lookup)
			case "history":
				err = historyVector(t, c.History)
			case "audit":
				err = auditVector(t, c.Audit)
			case "origin":
				err = originVector(c.Origin)
			default:
				t.Fatalf("unknown type %q", c.Type)
			}
			checkVectorErr(t, err, c.Error)
		})
	}
	for _, k := range []string{"leaf", "commit", "lookup", "history", "audit", "origin"} {
		if kinds[k] == 0 {
			t.Errorf("no %s case", k)
		}
	}
}

func leafVector(t *testing.T, c *vectors.DirectoryLeafCase) error {
	l, err := directory.ParseLeaf(c.Encoding)
	if err != nil {
		return err
	}
	want := directory.Leaf{Epoch: c.Epoch, Time: c.Time, VRFKey: [32]byte(c.VRFKey), MapRoot: vmap.Hash(c.MapRoot),
		Count: c.Count, BatchDigest: vmap.Hash(c.BatchDigest)}
	if *l != want {
		t.Fatalf("parsed %+v, want %+v", l, want)
	}
	if !bytes.Equal(want.Marshal(), c.Encoding) {
		t.Fatal("Marshal differs from the encoding")
	}
	return nil
}

func lookupVector(t *testing.T, c *vectors.DirectoryLookupCase) error {
	cp, err := openVector(c.VerifierKey, c.Checkpoint)
	if err != nil {
		return err
	}
	key, err := vrf.ParsePublicKey(c.VRFKey)
	if err != nil {
		t.Fatal(err)
	}
	e, err := directory.VerifyLookup(cp, key, &directory.Lookup{Handle: c.Handle, VRFProof: c.VRFProof, Epoch: c.Epoch,
		Leaf: c.Leaf, MapProof: c.MapProof, Inclusion: hashes(c.Inclusion), Entry: c.Entry, Opening: c.Opening})
	if err != nil {
		return err
	}
	if (e != nil) != c.Present {
		t.Fatalf("present %v, want %v", e != nil, c.Present)
	}
	if e != nil && !bytes.Equal(e.Marshal(), c.Entry) {
		t.Fatal("returned entry differs from the answer's")
	}
	// The index is the VRF output's first 32 bytes (§3.4).
	alpha, err := vrf.HandleInput(c.Handle)
	if err != nil {
		t.Fatal(err)
	}
	beta, err := key.Verify(alpha, c.VRFProof)
	if err != nil {
		t.Fatal(err)
	}
	if idx := vrf.Index(&beta); !bytes.Equal(idx[:], c.Index) {
		t.Fatalf("index %x, want %x", idx, c.Index)
	}
	return nil
}

func historyVector(t *testing.T, c *vectors.DirectoryHistory) error {
	cp, err := openVector(c.VerifierKey, c.Checkpoint)
	if err != nil {
		return err
	}
	key, err := vrf.ParsePublicKey(c.VRFKey)
	if err != nil {
		t.Fatal(err)
	}
	h := &directory.History{Handle: c.Handle, VRFProof: c.VRFProof}
	for _, v := range c.Versions {
		h.Versions = append(h.Versions, directory.HistoryVersion{Version: v.Version, Epoch: v.Epoch, Entry: v.Entry, Opening: v.Opening})
	}
	for _, p := range c.Proofs {
		h.Proofs = append(h.Proofs, directory.EpochProof{Epoch: p.Epoch, Leaf: p.Leaf, Inclusion: hashes(p.Inclusion), MapProof: p.MapProof})
	}
	es, err := directory.VerifyHistory(cp, key, h)
	if err != nil {
		return err
	}
	if len(es) != c.Entries {
		t.Fatalf("%d entries, want %d", len(es), c.Entries)
	}
	for i, e := range es {
		if !bytes.Equal(e.Marshal(), c.Versions[i].Entry) {
			t.Fatalf("entry %d differs", i)
		}
	}
	return nil
}

// auditStateFromVector returns the vector's state, checking that its
// encoding (§8.1) parses to the same fields and is what Marshal writes.
func auditStateFromVector(t *testing.T, v *vectors.DirectoryAuditState) *directory.AuditState {
	t.Helper()
	st := &directory.AuditState{Size: v.Size, TreeRoot: tlog.Hash(v.TreeRoot), MapRoot: vmap.Hash(v.MapRoot),
		Time: v.Time, VRFKey: [32]byte(v.VRFKey), Edge: hashes(v.Edge)}
	parsed, err := directory.ParseAuditState(v.Encoded)
	if err != nil {
		t.Fatalf("encoded state: %v", err)
	}
	unchanged(t, st, parsed)
	if !bytes.Equal(st.Marshal(), v.Encoded) {
		t.Fatal("Marshal differs from the encoded state")
	}
	return st
}

func auditVector(t *testing.T, c *vectors.DirectoryAuditCase) error {
	cp, err := openVector(c.VerifierKey, c.Checkpoint)
	if err != nil {
		return err
	}
	var es []directory.AuditEpoch
	for _, e := range c.Epochs {
		es = append(es, directory.AuditEpoch{Leaf: e.Leaf, Batch: e.Batch, BatchProof: e.BatchProof})
	}
	old := auditStateFromVector(t, &c.Old)
	before := fmt.Sprint(*old)
	st, err := directory.Audit(old, cp, tlog.TreeProof(hashes(c.Consistency)), es)
	if fmt.Sprint(*old) != before {
		t.Fatal("Audit changed the old state")
	}
	if err != nil {
		if c.New != nil {
			t.Fatal("refused case with a new state")
		}
		return err
	}
	if c.New == nil {
		t.Fatal("accepted case without a new state")
	}
	unchanged(t, auditStateFromVector(t, c.New), st)
	return nil
}

func originVector(c *vectors.DirectoryOrigin) error {
	var v *kt.Verifier
	var err error
	switch c.Verifier {
	case "v2":
		v, err = directory.NewVerifier(c.VerifierKey)
	case "v1":
		v, err = kt.NewVerifier(c.VerifierKey)
	default:
		return fmt.Errorf("unknown verifier %q", c.Verifier)
	}
	if err != nil || c.Checkpoint == "" {
		return err
	}
	_, err = v.OpenCheckpoint([]byte(c.Checkpoint))
	return err
}
