package directory

import (
	"crypto/sha256"
	"errors"
	"math/bits"
	"slices"
	"strconv"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditState is what an auditor trusts after checking the log up to Size
// epochs (spec/transparency-v2.md §8.1): the log's tree root at that size,
// the map root after epoch Size, the time of its leaf, the key server's
// VRF key, and the right edge of the tree — the hashes of the perfect
// subtrees whose sizes are the bits of Size, largest (leftmost) first —
// from which the next roots follow from new leaves alone. It holds no
// handle and no commitment.
type AuditState struct {
	Size     uint64
	TreeRoot tlog.Hash
	MapRoot  vmap.Hash
	Time     int64
	VRFKey   [32]byte
	Edge     []tlog.Hash
}

// AuditEpoch is the public data of one epoch (spec/transparency-v2.md
// §8): its log leaf, its batch (vmap.MarshalBatch) and its batch proof
// against the previous epoch's map (vmap.Map.ProveBatch).
type AuditEpoch struct {
	Leaf       []byte
	Batch      []byte
	BatchProof []byte
}

// NewAuditState returns the state of a log with no epoch yet
// (spec/transparency-v2.md §8.1): size 0, the empty tree's root
// SHA-256(""), the empty map's root, time 0, and the key server's
// published VRF key, which every leaf must then name.
func NewAuditState(vrfKey *vrf.PublicKey) (*AuditState, error) {
	if vrfKey == nil {
		return nil, fail(ErrMalformed, "no VRF key")
	}
	return &AuditState{TreeRoot: sha256.Sum256(nil), MapRoot: vmap.EmptyRoot, VRFKey: [32]byte(vrfKey.Bytes())}, nil
}

// clone returns a deep copy of st.
func (st *AuditState) clone() *AuditState {
	c := *st
	c.Edge = slices.Clone(st.Edge)
	return &c
}

// check refuses a state whose edge does not make its tree root, or whose
// VRF key is not a valid one (a state from storage or from a caller).
func (st *AuditState) check() error {
	if st.Size > kt.MaxTreeSize {
		return fail(ErrMalformed, "audit state of size %d", st.Size)
	}
	if len(st.Edge) != bits.OnesCount64(st.Size) {
		return fail(ErrMalformed, "audit state edge of %d hashes for size %d", len(st.Edge), st.Size)
	}
	if edgeRoot(st.Edge) != st.TreeRoot {
		return fail(ErrMalformed, "audit state edge does not make its tree root")
	}
	if _, err := vrf.ParsePublicKey(st.VRFKey[:]); err != nil {
		return wrap(ErrMalformed, "audit state VRF key", err)
	}
	return nil
}

// appendLeaf adds the hash of leaf number st.Size to the edge
// (spec/transparency-v2.md §8.1, §8.2 step 4.8): it merges the new leaf with the
// smallest subtrees while they are of equal size.
func (st *AuditState) appendLeaf(leaf []byte) {
	h := tlog.RecordHash(leaf)
	for n := st.Size; n&1 == 1; n >>= 1 {
		h = tlog.NodeHash(st.Edge[len(st.Edge)-1], h)
		st.Edge = st.Edge[:len(st.Edge)-1]
	}
	st.Edge = append(st.Edge, h)
	st.Size++
}

// edgeRoot is the RFC 6962 root of the tree whose right edge is edge:
// SHA-256("") if it is empty, else the hashes folded from the right
// (spec/transparency-v2.md §8.1).
func edgeRoot(edge []tlog.Hash) tlog.Hash {
	if len(edge) == 0 {
		return sha256.Sum256(nil)
	}
	h := edge[len(edge)-1]
	for i := len(edge) - 2; i >= 0; i-- {
		h = tlog.NodeHash(edge[i], h)
	}
	return h
}

// step checks one epoch against st and advances st to it
// (spec/transparency-v2.md §8.2 step 4). On error st may be partly
// advanced: callers work on a copy.
func (st *AuditState) step(e *AuditEpoch) error {
	leaf, err := ParseLeaf(e.Leaf)
	if err != nil {
		return err
	}
	if leaf.Epoch != st.Size+1 {
		return fail(ErrAudit, "leaf %d is of epoch %d, want %d", st.Size, leaf.Epoch, st.Size+1)
	}
	if leaf.Time < st.Time {
		return fail(ErrAudit, "epoch %d at time %d, before the previous epoch's %d", leaf.Epoch, leaf.Time, st.Time)
	}
	if leaf.VRFKey != st.VRFKey {
		return fail(ErrWrongKey, "epoch %d names another VRF key", leaf.Epoch)
	}
	batch, err := vmap.ParseBatch(e.Batch)
	switch {
	case errors.Is(err, vmap.ErrMalformed):
		return wrap(ErrMalformed, "batch of epoch "+fmtEpoch(leaf.Epoch), err)
	case err != nil:
		return wrap(ErrAudit, "batch of epoch "+fmtEpoch(leaf.Epoch), err)
	}
	if uint64(len(batch)) != uint64(leaf.Count) {
		return fail(ErrAudit, "epoch %d: batch of %d entries, leaf says %d", leaf.Epoch, len(batch), leaf.Count)
	}
	if vmap.BatchDigest(batch) != leaf.BatchDigest {
		return fail(ErrAudit, "epoch %d: batch digest differs from the leaf's", leaf.Epoch)
	}
	err = vmap.VerifyBatch(st.MapRoot, leaf.MapRoot, batch, e.BatchProof)
	switch {
	case errors.Is(err, vmap.ErrMalformed):
		return wrap(ErrMalformed, "batch proof of epoch "+fmtEpoch(leaf.Epoch), err)
	case err != nil:
		return wrap(ErrProofInvalid, "batch proof of epoch "+fmtEpoch(leaf.Epoch), err)
	}
	st.MapRoot = leaf.MapRoot
	st.Time = leaf.Time
	st.appendLeaf(e.Leaf)
	return nil
}

// Audit checks the epochs after old up to the checkpoint cp (opened by
// the caller with NewVerifier's verifier), and that cp's tree extends
// old's, and returns the new state (spec/transparency-v2.md §8.2). epochs
// must be exactly the epochs old.Size+1 … cp.Size, in order; consistency
// is the RFC 6962 consistency proof from old.Size to cp.Size. old is never
// changed; on error no state is returned.
func Audit(old *AuditState, cp *kt.Checkpoint, consistency tlog.TreeProof, epochs []AuditEpoch) (*AuditState, error) {
	if old == nil {
		return nil, fail(ErrMalformed, "no audit state")
	}
	// Steps 1–2: a version 2 checkpoint, a well-formed state, one epoch
	// for each new leaf.
	if err := checkCheckpoint(cp); err != nil {
		return nil, err
	}
	if err := old.check(); err != nil {
		return nil, err
	}
	if uint64(cp.Size) != old.Size+uint64(len(epochs)) {
		return nil, fail(ErrAudit, "checkpoint of size %d after size %d with %d epochs", cp.Size, old.Size, len(epochs))
	}
	// Step 3, before the leaves, so that a fork is reported as one
	// whatever the leaves.
	switch {
	case old.Size == 0 || uint64(cp.Size) == old.Size:
		if len(consistency) != 0 {
			return nil, fail(ErrProofInvalid, "consistency proof of %d hashes from size %d to %d", len(consistency), old.Size, cp.Size)
		}
	default:
		if err := tlog.CheckTree(consistency, cp.Size, cp.Root, int64(old.Size), old.TreeRoot); err != nil {
			return nil, fail(ErrProofInvalid, "fork: tree of size %d does not extend the audited tree of size %d: %v", cp.Size, old.Size, err)
		}
	}
	// Step 4: each epoch, on a copy.
	st := old.clone()
	for i := range epochs {
		if err := st.step(&epochs[i]); err != nil {
			return nil, err
		}
	}
	// Step 5: the leaves make the checkpoint's tree.
	st.TreeRoot = edgeRoot(st.Edge)
	if st.TreeRoot != cp.Root {
		return nil, fail(ErrProofInvalid, "leaves do not make the root of the checkpoint of size %d", cp.Size)
	}
	return st, nil
}

// Auditor keeps an AuditState and advances it checkpoint by checkpoint
// (spec/transparency-v2.md §8). It is not safe for concurrent use.
type Auditor struct {
	st *AuditState
}

// NewAuditor returns an auditor starting from st (NewAuditState for a new
// log, or a state an earlier Auditor returned). A state whose edge does
// not make its tree root, or whose VRF key is invalid, is ErrMalformed.
func NewAuditor(st *AuditState) (*Auditor, error) {
	if st == nil {
		return nil, fail(ErrMalformed, "no audit state")
	}
	if err := st.check(); err != nil {
		return nil, err
	}
	return &Auditor{st: st.clone()}, nil
}

// State returns a copy of the auditor's state, to keep.
func (a *Auditor) State() *AuditState { return a.st.clone() }

// Advance runs Audit from the auditor's state and, if it accepts, moves
// to the new state. A refusal leaves the state unchanged.
func (a *Auditor) Advance(cp *kt.Checkpoint, consistency tlog.TreeProof, epochs []AuditEpoch) error {
	st, err := Audit(a.st, cp, consistency, epochs)
	if err != nil {
		return err
	}
	a.st = st
	return nil
}

func fmtEpoch(e uint64) string { return strconv.FormatUint(e, 10) }
