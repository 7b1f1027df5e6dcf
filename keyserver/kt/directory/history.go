package directory

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

// HistoryVersion is one sequenced value of a handle
// (spec/transparency-v2.md §6.4): its map version (1, 2, 3, …), the epoch
// that sequenced it, the entry (kt.Entry.Marshal) and the opening of its
// commitment.
type HistoryVersion struct {
	Version, Epoch uint64
	Entry          []byte
	Opening        []byte
}

// EpochProof is the proof of the handle's value at one epoch: the epoch's
// leaf, its inclusion under the checkpoint, and the map proof of the
// handle's index under the leaf's map root.
type EpochProof struct {
	Epoch     uint64
	Leaf      []byte
	Inclusion []tlog.Hash
	MapProof  []byte
}

// History is a history answer (spec/transparency-v2.md §6.4): every value
// the handle's index ever had, ascending, and the proofs of the epochs
// HistoryEpochs names, ascending.
type History struct {
	Handle   string
	VRFProof []byte
	Versions []HistoryVersion
	Proofs   []EpochProof
}

// HistoryEpochs returns the epochs whose proofs a history of versions
// under a checkpoint of size size must hold (spec/transparency-v2.md
// §6.4): each version's epoch e, and e−1 when at least 1, and size when at
// least 1; ascending, without duplicates. The key server uses it to build
// the answer.
func HistoryEpochs(versions []HistoryVersion, size uint64) []uint64 {
	var es []uint64
	for _, v := range versions {
		if v.Epoch > 1 {
			es = append(es, v.Epoch-1)
		}
		if v.Epoch >= 1 {
			es = append(es, v.Epoch)
		}
	}
	if size >= 1 {
		es = append(es, size)
	}
	slices.Sort(es)
	return slices.Compact(es)
}

// VerifyHistory verifies a history answer against a checkpoint the caller
// has opened and the pinned VRF key (spec/transparency-v2.md §6.4) and
// returns the entries of its versions, oldest first (none when the handle
// is proven absent). An accepted history shows every value the handle's
// index had up to the checkpoint: the seqs have no gap, and at the epoch
// before each version the index still held the previous one.
func VerifyHistory(cp *kt.Checkpoint, vrfKey *vrf.PublicKey, h *History) ([]*kt.Entry, error) {
	if err := checkCheckpoint(cp); err != nil {
		return nil, err
	}
	if vrfKey == nil || h == nil {
		return nil, fail(ErrMalformed, "no VRF key or no answer")
	}
	alpha, err := vrf.HandleInput(h.Handle)
	if err != nil {
		return nil, wrap(ErrMalformed, "handle", err)
	}
	size := uint64(cp.Size)
	// Step 1: versions 1, 2, 3, … at strictly increasing epochs within
	// the checkpoint, each with an entry and a 32-byte opening.
	commitments := make([]vmap.Hash, len(h.Versions))
	var lastEpoch uint64
	for i, v := range h.Versions {
		if v.Version != uint64(i)+1 {
			return nil, fail(ErrHistory, "version %d at position %d (a gap or a repeat)", v.Version, i)
		}
		if v.Epoch <= lastEpoch || v.Epoch > size {
			return nil, fail(ErrHistory, "version %d at epoch %d after epoch %d, checkpoint size %d", v.Version, v.Epoch, lastEpoch, size)
		}
		lastEpoch = v.Epoch
		if len(v.Opening) != OpeningSize || len(v.Entry) == 0 {
			return nil, fail(ErrMalformed, "version %d: opening of %d bytes, entry of %d", v.Version, len(v.Opening), len(v.Entry))
		}
		commitments[i] = Commit((*[OpeningSize]byte)(v.Opening), v.Entry)
	}
	// Step 2: exactly the epochs HistoryEpochs names.
	want := HistoryEpochs(h.Versions, size)
	if len(h.Proofs) != len(want) {
		return nil, fail(ErrHistory, "%d epoch proofs, want %d", len(h.Proofs), len(want))
	}
	for i, p := range h.Proofs {
		if p.Epoch != want[i] {
			return nil, fail(ErrHistory, "proof %d is of epoch %d, want %d", i, p.Epoch, want[i])
		}
	}
	// Step 3: each leaf is its epoch's, under the pinned VRF key, and
	// included under the checkpoint.
	leaves := make([]*Leaf, len(h.Proofs))
	for i, p := range h.Proofs {
		if leaves[i], err = verifyEpoch(cp, vrfKey, p.Epoch, p.Leaf, p.Inclusion, ErrProofInvalid); err != nil {
			return nil, err
		}
	}
	// Step 4: the index.
	index, err := handleIndex(vrfKey, alpha, h.VRFProof)
	if err != nil {
		return nil, err
	}
	// Step 5: at each epoch the index holds the newest version sequenced
	// at or before it, or is absent before the first.
	next := 0 // versions [0, next) have epochs ≤ the current proof's
	for i, p := range h.Proofs {
		got, err := lookupValue(leaves[i], index, p.MapProof)
		if err != nil {
			return nil, err
		}
		for next < len(h.Versions) && h.Versions[next].Epoch <= p.Epoch {
			next++
		}
		switch {
		case next == 0 && got != nil:
			return nil, fail(ErrProofInvalid, "index present (version %d) at epoch %d, before the first version", got.Version, p.Epoch)
		case next == 0:
		case got == nil:
			return nil, fail(ErrProofInvalid, "index absent at epoch %d, after version %d", p.Epoch, next)
		case got.Version != uint64(next) || vmap.Hash(got.Commitment) != commitments[next-1]:
			return nil, fail(ErrProofInvalid, "index holds version %d at epoch %d, want version %d and its commitment", got.Version, p.Epoch, next)
		}
	}
	// Step 6: the entries are the handle's, validly signed, and each
	// follows the one before.
	entries := make([]*kt.Entry, len(h.Versions))
	for i, v := range h.Versions {
		e, err := checkEntry(h.Handle, v.Entry)
		if err != nil {
			return nil, err
		}
		var prev *kt.Entry
		if i > 0 {
			prev = entries[i-1]
		}
		if err := successor(prev, e); err != nil {
			return nil, err
		}
		entries[i] = e
	}
	return entries, nil
}

// successor checks that next may be sequenced after prev (nil: next is the
// handle's first sequenced entry), allowing several key-set changes in one
// epoch (spec/transparency-v2.md §6.4 step 6): one change is exactly
// kt.CheckSuccessor; k > 1 changes keep the handle, the account key and
// every device of prev (a revoked one with its revocation), add devices
// after them, and k is the number of devices added plus the number of
// revocations that are new.
func successor(prev, next *kt.Entry) error {
	var pv uint64
	var pdev []kt.Device
	if prev != nil {
		pv, pdev = prev.Version, prev.Devices
		if next.AccountKey != prev.AccountKey {
			return fail(ErrHistory, "account key of %q changed", next.Handle)
		}
	}
	if next.Version <= pv {
		return fail(ErrHistory, "key-set version went from %d to %d", pv, next.Version)
	}
	if next.Version == pv+1 {
		if err := kt.CheckSuccessor(prev, next); err != nil {
			return wrap(ErrHistory, "key-set version "+strconv.FormatUint(next.Version, 10), err)
		}
		return nil
	}
	if len(next.Devices) < len(pdev) {
		return fail(ErrHistory, "device count went from %d to %d", len(pdev), len(next.Devices))
	}
	var changes uint64
	for i, d := range next.Devices {
		if d.Revocation != nil {
			changes++
		}
		if i >= len(pdev) {
			changes++ // added
			continue
		}
		p := pdev[i]
		if !bytes.Equal(p.Certificate.Marshal(), d.Certificate.Marshal()) {
			return fail(ErrHistory, "device %d certificate changed", p.Certificate.Device)
		}
		if p.Revocation != nil {
			if d.Revocation == nil || !bytes.Equal(p.Revocation.Marshal(), d.Revocation.Marshal()) {
				return fail(ErrHistory, "device %d revocation changed", p.Certificate.Device)
			}
			changes-- // not new
		}
	}
	if changes != next.Version-pv {
		return fail(ErrHistory, "key-set version went from %d to %d with %d changes", pv, next.Version, changes)
	}
	return nil
}
