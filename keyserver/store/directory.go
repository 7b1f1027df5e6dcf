package store

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// The key transparency v2 directory (spec/transparency-v2.md §4.7): the
// versioned nodes and roots of the map, the epoch log (one leaf per epoch,
// §5) with its tlog hashes, each epoch's public batch (§4.6), each
// handle's VRF output and proof (§3) and its sequenced versions with their
// openings (§6.1). An epoch is written by CommitEpoch in one transaction;
// everything else here reads.

// ErrInvalid reports a request the store refuses as malformed whatever its
// state: a fault of the caller (for example an EpochCommit node of another
// epoch, or a handle twice in one commit). Nothing is changed.
var ErrInvalid = errors.New("store: invalid request")

// VRFEntry is a handle's VRF output, as the map index, and its proof
// (spec/transparency-v2.md §3.4), computed once when the handle first
// enters the map.
type VRFEntry struct {
	Handle string
	Index  [32]byte
	Proof  []byte
}

// SequencedVersion is one value a handle had in the map
// (spec/transparency-v2.md §6.1): the map version Seq (1 the first time
// the handle is sequenced, +1 for each later epoch that changes it), the
// key-set version it commits to (Version, the entry's), the epoch that
// wrote it, the opening of its commitment and the committed entry (the
// kt.Entry encoding).
type SequencedVersion struct {
	Handle  string
	Seq     uint64
	Version uint64
	Epoch   uint64
	Opening [32]byte
	Entry   []byte
}

// EpochCommit is everything one epoch writes (spec/transparency-v2.md
// §4.7), committed by CommitEpoch at once or not at all.
type EpochCommit struct {
	// Root is the map root after the epoch; Root.Epoch is the epoch and
	// must be LatestEpoch()+1 (else ErrConflict).
	Root vmap.Root
	// Nodes are the map nodes the epoch writes (vmap.Map.Prepare), each
	// with Epoch == Root.Epoch (else ErrInvalid).
	Nodes []vmap.Node
	// Leaf is the epoch's log leaf (§5), appended to the epoch log at index
	// Root.Epoch-1 with its tlog hashes. It must not be empty.
	Leaf []byte
	// Batch is the epoch's public batch (vmap.MarshalBatch), served by
	// EpochBatch. It must not be empty (an empty batch encodes as 4 bytes).
	Batch []byte
	// NewVRF are the VRF entries of the handles entering the map in this
	// epoch; ErrConflict if one of them already has one.
	NewVRF []VRFEntry
	// Versions are the values the epoch sequences, at most one per handle
	// (else ErrInvalid), each with Epoch == Root.Epoch (else ErrInvalid).
	// ErrConflict unless Seq is the handle's last Seq + 1 (1 for a handle
	// never sequenced), and unless the handle's account exists at Version
	// or later. Version need not be above the last one: an account
	// deleted and registered again starts at key-set version 1, and the
	// directory shows its new key set as the handle's next value. Each also records
	// Version as the account's last sequenced key-set version
	// (Unsequenced).
	Versions []SequencedVersion
}

// Directory is the key transparency v2 part of Store
// (spec/transparency-v2.md §4.7), on both engines.
type Directory interface {
	// Unsequenced returns at most limit accounts (limit ≥ 1, else
	// ErrInvalid) whose key-set Version is above the last one CommitEpoch
	// sequenced for them (or that were never sequenced), in handle order
	// (the database's collation), each with its devices as Account
	// returns them.
	Unsequenced(ctx context.Context, limit int) ([]*Account, error)
	// CommitEpoch writes c in one transaction: the map nodes and root,
	// the log leaf and its hashes, the batch, the VRF entries and the
	// sequenced versions. On any error nothing is written. Errors:
	// ErrConflict (see EpochCommit; on PostgreSQL also the loser of two
	// processes committing the same epoch), ErrInvalid.
	CommitEpoch(ctx context.Context, c EpochCommit) error
	// LatestEpoch returns the newest committed epoch, 0 when none.
	LatestEpoch(ctx context.Context) (uint64, error)
	// MapNode returns the newest version of the node labelled l written at
	// or before epoch, or an error matching vmap.ErrNotFound (and
	// ErrNotFound).
	MapNode(ctx context.Context, l vmap.Label, epoch uint64) (vmap.Node, error)
	// MapRoot returns the root committed at epoch, or an error matching
	// vmap.ErrNotFound (and ErrNotFound); epoch 0 is never committed.
	MapRoot(ctx context.Context, epoch uint64) (vmap.Root, error)
	// VRF returns the VRF entry of handle, or ErrNotFound.
	VRF(ctx context.Context, handle string) (VRFEntry, error)
	// History returns the sequenced versions of handle by ascending Seq,
	// none if it was never sequenced.
	History(ctx context.Context, handle string) ([]SequencedVersion, error)
	// EpochLeaves returns the epoch log's leaves with index in [start,
	// end); it fails unless 0 <= start <= end <= LatestEpoch.
	EpochLeaves(ctx context.Context, start, end int64) ([][]byte, error)
	// EpochHashes returns the epoch log's stored hashes at the given
	// indexes (tlog.StoredHashIndex), in order; it is a tlog.HashReader
	// and fails for an index not stored.
	EpochHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// EpochBatch returns the public batch of epoch, or ErrNotFound.
	EpochBatch(ctx context.Context, epoch uint64) ([]byte, error)
	// Sequencer tries to become the one sequencer of the directory. On
	// PostgreSQL it takes a session advisory lock on one connection of
	// the pool, held until release is called, and answers ok=false at
	// once if another session (another process, or another call) holds
	// it; Close releases it too. On SQLite it always
	// answers ok: one process owns the database file. Either way
	// CommitEpoch refuses a stale epoch, so a lost lock cannot fork the
	// directory.
	Sequencer(ctx context.Context) (release func(), ok bool, err error)
}

// CheckEpochCommit checks what of c does not depend on the store's state:
// both engines call it before they write (spec/transparency-v2.md §4.7).
// It returns an error matching ErrInvalid.
func CheckEpochCommit(c *EpochCommit) error {
	e := c.Root.Epoch
	if e == 0 || e >= 1<<62 {
		return fmt.Errorf("store: epoch %d out of range: %w", e, ErrConflict)
	}
	if len(c.Leaf) == 0 || len(c.Batch) == 0 {
		return fmt.Errorf("store: epoch %d without a log leaf or batch: %w", e, ErrInvalid)
	}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if n.Epoch != e {
			return fmt.Errorf("store: node of epoch %d in epoch %d: %w", n.Epoch, e, ErrInvalid)
		}
		if n.Label.Depth > vmap.IndexBits || (n.IsLeaf() && n.Value.Version >= 1<<63) {
			return fmt.Errorf("store: node of depth %d, version %d: %w", n.Label.Depth, n.Value.Version, ErrInvalid)
		}
	}
	if !c.Root.Empty && c.Root.Top.Label.Depth > vmap.IndexBits {
		return fmt.Errorf("store: root of depth %d: %w", c.Root.Top.Label.Depth, ErrInvalid)
	}
	seen := make(map[string]bool, len(c.NewVRF))
	for _, v := range c.NewVRF {
		if seen[v.Handle] {
			return fmt.Errorf("store: VRF entry of %q twice: %w", v.Handle, ErrInvalid)
		}
		seen[v.Handle] = true
	}
	clear(seen)
	for _, v := range c.Versions {
		switch {
		case seen[v.Handle]:
			return fmt.Errorf("store: %q sequenced twice in epoch %d: %w", v.Handle, e, ErrInvalid)
		case v.Epoch != e:
			return fmt.Errorf("store: %q version of epoch %d in epoch %d: %w", v.Handle, v.Epoch, e, ErrInvalid)
		case v.Seq == 0 || v.Seq >= 1<<63 || v.Version == 0 || v.Version >= 1<<63:
			return fmt.Errorf("store: %q seq %d, version %d out of range: %w", v.Handle, v.Seq, v.Version, ErrInvalid)
		}
		seen[v.Handle] = true
	}
	return nil
}

// errReadOnly is NodeStore's answer to Commit.
var errReadOnly = errors.New("store: the directory's NodeStore is read-only: an epoch is written with Store.CommitEpoch")

// NodeStore returns st's map as a vmap.NodeStore for vmap.New: Node, Root
// and Latest read through MapNode, MapRoot and LatestEpoch; Commit always
// fails (errReadOnly), since an epoch is written with its log leaf, batch
// and versions by CommitEpoch (the sequencer runs vmap.Map.Prepare, never
// Apply).
func NodeStore(st Store) vmap.NodeStore { return nodeStore{st} }

type nodeStore struct{ st Store }

func (n nodeStore) Node(ctx context.Context, l vmap.Label, epoch uint64) (vmap.Node, error) {
	return n.st.MapNode(ctx, l, epoch)
}

func (n nodeStore) Root(ctx context.Context, epoch uint64) (vmap.Root, error) {
	return n.st.MapRoot(ctx, epoch)
}

func (n nodeStore) Latest(ctx context.Context) (uint64, error) { return n.st.LatestEpoch(ctx) }

func (nodeStore) Commit(context.Context, vmap.Root, []vmap.Node) error { return errReadOnly }

// NotFound is the error of MapNode and MapRoot for what is not stored: it
// matches vmap.ErrNotFound (the vmap.NodeStore contract) and ErrNotFound.
func NotFound(what string) error {
	return fmt.Errorf("%s: %w (%w)", what, vmap.ErrNotFound, ErrNotFound)
}

// NodeRow is a vmap_nodes row as both engines read it (§4.7 of
// spec/transparency-v2.md): NULL columns are nil pointers.
type NodeRow struct {
	Epoch                          int64
	Version, LeftDepth, RightDepth *int64
	Hash, Commitment               []byte
	LeftPrefix, LeftHash           []byte
	RightPrefix, RightHash         []byte
}

// Node returns the node labelled l that the row holds, and whether the row
// is well-formed: every hash and prefix 32 bytes, a leaf with a version and
// a commitment, an inner node with both children's depths.
func (r *NodeRow) Node(l vmap.Label) (vmap.Node, bool) {
	n := vmap.Node{Label: l, Epoch: uint64(r.Epoch)}
	ok := CopyExact(n.Hash[:], r.Hash)
	if n.IsLeaf() {
		ok = ok && r.Version != nil && CopyExact(n.Value.Commitment[:], r.Commitment)
		if ok {
			n.Value.Version = uint64(*r.Version)
		}
		return n, ok
	}
	ok = ok && r.LeftDepth != nil && r.RightDepth != nil &&
		CopyExact(n.Children[0].Label.Prefix[:], r.LeftPrefix) && CopyExact(n.Children[0].Hash[:], r.LeftHash) &&
		CopyExact(n.Children[1].Label.Prefix[:], r.RightPrefix) && CopyExact(n.Children[1].Hash[:], r.RightHash)
	if ok {
		n.Children[0].Label.Depth, n.Children[1].Label.Depth = uint16(*r.LeftDepth), uint16(*r.RightDepth)
	}
	return n, ok
}

// CopyExact copies src to dst if they have the same length, and reports
// whether it did: a stored fixed-size value of another length is corrupt.
func CopyExact(dst, src []byte) bool {
	if len(src) != len(dst) {
		return false
	}
	copy(dst, src)
	return true
}
