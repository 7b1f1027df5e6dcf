package directory

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

// Lookup is a lookup answer (spec/transparency-v2.md §6.2): the VRF proof
// of Handle's index, the leaf of epoch Epoch with its inclusion proof
// under the checkpoint, the map proof of the index under the leaf's map
// root and, when the handle is present, its entry (kt.Entry.Marshal) and
// the commitment's opening. Entry and Opening both empty mean absent.
type Lookup struct {
	Handle    string
	VRFProof  []byte
	Epoch     uint64
	Leaf      []byte
	MapProof  []byte
	Inclusion []tlog.Hash
	Entry     []byte
	Opening   []byte
}

// VerifyLookup verifies a lookup answer against a checkpoint the caller
// has opened (with NewVerifier's verifier, the witness quorum and its
// freshness checks) and the pinned VRF public key, in the order of
// spec/transparency-v2.md §6.3. It returns the handle's entry, which is
// the latest as of the checkpoint, or nil and no error when the answer
// proves the handle absent. Nothing is kept: a refusal changes nothing.
func VerifyLookup(cp *kt.Checkpoint, vrfKey *vrf.PublicKey, l *Lookup) (*kt.Entry, error) {
	if err := checkCheckpoint(cp); err != nil {
		return nil, err
	}
	if vrfKey == nil || l == nil {
		return nil, fail(ErrMalformed, "no VRF key or no answer")
	}
	alpha, err := vrf.HandleInput(l.Handle)
	if err != nil {
		return nil, wrap(ErrMalformed, "handle", err)
	}
	// §6.3 steps 1–4: the leaf is the checkpoint's last, under the pinned
	// VRF key, and included.
	if l.Epoch != uint64(cp.Size) {
		return nil, fail(ErrNotLatest, "answer of epoch %d under a checkpoint of size %d", l.Epoch, cp.Size)
	}
	leaf, err := verifyEpoch(cp, vrfKey, l.Epoch, l.Leaf, l.Inclusion, ErrNotLatest)
	if err != nil {
		return nil, err
	}
	// Steps 5–6: the index, and its value in the map of that epoch.
	index, err := handleIndex(vrfKey, alpha, l.VRFProof)
	if err != nil {
		return nil, err
	}
	value, err := lookupValue(leaf, index, l.MapProof)
	if err != nil {
		return nil, err
	}
	// Step 7: present if and only if an entry is given.
	if value == nil {
		if len(l.Entry) != 0 || len(l.Opening) != 0 {
			return nil, fail(ErrProofInvalid, "entry given for an index the map proves absent")
		}
		return nil, nil
	}
	if len(l.Entry) == 0 {
		return nil, fail(ErrProofInvalid, "no entry for an index the map holds")
	}
	if len(l.Opening) != OpeningSize {
		return nil, fail(ErrMalformed, "opening of %d bytes, want %d", len(l.Opening), OpeningSize)
	}
	// Steps 8–9: the commitment opens to the entry, and the entry is the
	// handle's, validly signed.
	if Commit((*[OpeningSize]byte)(l.Opening), l.Entry) != vmap.Hash(value.Commitment) {
		return nil, fail(ErrProofInvalid, "commitment does not open to the entry")
	}
	return checkEntry(l.Handle, l.Entry)
}

// verifyEpoch checks the leaf of an epoch (spec/transparency-v2.md §6.3
// steps 2–4): it parses, is the leaf of epoch, names the pinned VRF key,
// and is the log's leaf at index epoch−1 under cp. A leaf of another epoch
// is wrongEpoch.
func verifyEpoch(cp *kt.Checkpoint, vrfKey *vrf.PublicKey, epoch uint64, b []byte, inclusion []tlog.Hash, wrongEpoch error) (*Leaf, error) {
	leaf, err := ParseLeaf(b)
	if err != nil {
		return nil, err
	}
	if leaf.Epoch != epoch {
		return nil, fail(wrongEpoch, "leaf of epoch %d given for epoch %d", leaf.Epoch, epoch)
	}
	if !bytes.Equal(leaf.VRFKey[:], vrfKey.Bytes()) {
		return nil, fail(ErrWrongKey, "leaf of epoch %d names another VRF key", epoch)
	}
	if epoch > uint64(cp.Size) {
		return nil, fail(ErrProofInvalid, "epoch %d beyond a checkpoint of size %d", epoch, cp.Size)
	}
	if err := kt.VerifyInclusion(cp, int64(epoch-1), b, inclusion); err != nil {
		return nil, wrap(ErrProofInvalid, "leaf inclusion", err)
	}
	return leaf, nil
}

// handleIndex verifies the VRF proof of alpha and returns the map index
// (spec/transparency-v2.md §3.4, §6.3 step 5).
func handleIndex(vrfKey *vrf.PublicKey, alpha, proof []byte) (vmap.Index, error) {
	beta, err := vrfKey.Verify(alpha, proof)
	switch {
	case errors.Is(err, vrf.ErrMalformedProof):
		return vmap.Index{}, wrap(ErrMalformed, "VRF proof", err)
	case err != nil:
		return vmap.Index{}, wrap(ErrProofInvalid, "VRF proof", err)
	}
	return vmap.Index(vrf.Index(&beta)), nil
}

// lookupValue checks a map proof of index under the leaf's map root
// (spec/transparency-v2.md §4.5, §6.3 step 6).
func lookupValue(leaf *Leaf, index vmap.Index, proof []byte) (*vmap.Value, error) {
	v, err := vmap.VerifyLookup(leaf.MapRoot, index, proof)
	switch {
	case errors.Is(err, vmap.ErrMalformed):
		return nil, wrap(ErrMalformed, "map proof", err)
	case err != nil:
		return nil, wrap(ErrProofInvalid, "map proof of epoch "+strconv.FormatUint(leaf.Epoch, 10), err)
	}
	return v, nil
}

// checkEntry parses an entry whose commitment opened and checks that it is
// handle's and validly signed (spec/transparency-v2.md §6.3 step 9). The
// key server committed to it, so any failure is ErrProofInvalid.
func checkEntry(handle string, b []byte) (*kt.Entry, error) {
	e, err := kt.ParseEntry(b)
	if err != nil {
		return nil, wrap(ErrProofInvalid, "committed entry", err)
	}
	if e.Handle != handle {
		return nil, fail(ErrProofInvalid, "committed entry is of handle %q, not %q", e.Handle, handle)
	}
	if err := e.Verify(); err != nil {
		return nil, wrap(ErrProofInvalid, "committed entry", err)
	}
	return e, nil
}
