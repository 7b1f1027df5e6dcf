package vmap

import (
	"context"
	"errors"
	"sync"
)

// Label names a node by its position: its depth (the bit at which its
// children differ, 0–255, or 256 for a leaf) and its first Depth bits,
// followed by zeros. A leaf's label is its index.
type Label struct {
	Depth  uint16
	Prefix [32]byte
}

// Child is a reference from a node to one of its children.
type Child struct {
	Label Label
	Hash  Hash
}

// Node is one version of a node as a NodeStore keeps it: written at Epoch,
// valid until a later version of the same label replaces it.
type Node struct {
	Label Label
	Epoch uint64
	Hash  Hash
	// Value is the leaf's value (Label.Depth == 256).
	Value Value
	// Children are an inner node's left (bit 0) and right children.
	Children [2]Child
}

// IsLeaf reports whether n is a leaf.
func (n *Node) IsLeaf() bool { return n.Label.Depth == IndexBits }

// Root is the root of the map at one epoch: Empty, or the label and hash
// of the top node.
type Root struct {
	Epoch uint64
	Empty bool
	Top   Child
}

// Hash returns the root hash: EmptyRoot, or the top node's hash.
func (r *Root) Hash() Hash {
	if r.Empty {
		return EmptyRoot
	}
	return r.Top.Hash
}

// NodeStore holds the versioned nodes of a map (spec/transparency-v2.md
// §4.7). Nodes are never deleted: a label, once written, has a version at
// every later epoch, so the tree of any committed epoch can be read back
// and proofs served for it.
//
// Epoch 0 is the empty map and is never committed. A SQL engine is meant
// to implement it with two tables:
//
//	CREATE TABLE vmap_nodes (
//	    depth    SMALLINT NOT NULL,  -- 0..256
//	    prefix   BYTEA    NOT NULL,  -- 32 bytes, masked to depth bits
//	    epoch    BIGINT   NOT NULL,
//	    hash     BYTEA    NOT NULL,
//	    version  BIGINT,             -- leaf: version; inner: NULL
//	    commitment BYTEA,            -- leaf: 32 bytes; inner: NULL
//	    left_depth SMALLINT, left_prefix BYTEA, left_hash BYTEA,    -- inner only
//	    right_depth SMALLINT, right_prefix BYTEA, right_hash BYTEA, -- inner only
//	    PRIMARY KEY (depth, prefix, epoch)
//	);
//	CREATE TABLE vmap_roots (
//	    epoch BIGINT PRIMARY KEY,   -- 1, 2, ... with no gap
//	    top_depth SMALLINT, top_prefix BYTEA, hash BYTEA NOT NULL -- NULL top: empty
//	);
//
// Node is then SELECT ... WHERE depth = $1 AND prefix = $2 AND epoch <= $3
// ORDER BY epoch DESC LIMIT 1 (one index probe), and Commit one
// transaction inserting the epoch's nodes and its root row, refused if the
// root row of epoch-1 is missing or that of epoch exists (so on PostgreSQL
// two sequencers cannot both commit an epoch).
type NodeStore interface {
	// Node returns the newest version of the node labelled l written at
	// or before epoch, or ErrNotFound.
	Node(ctx context.Context, l Label, epoch uint64) (Node, error)
	// Root returns the root committed at epoch (epoch ≥ 1), or ErrNotFound.
	Root(ctx context.Context, epoch uint64) (Root, error)
	// Latest returns the newest committed epoch, 0 if none.
	Latest(ctx context.Context) (uint64, error)
	// Commit writes root.Epoch's nodes and root at once, or nothing. It
	// fails unless root.Epoch is Latest()+1. The store may keep nodes.
	Commit(ctx context.Context, root Root, nodes []Node) error
}

// MemStore is a NodeStore in memory, safe for concurrent use. Readers see
// an epoch only once it is wholly committed.
//
// Nodes live in fixed-size chunks of pointer-free records, indexed by a map
// from label to the newest version, each version linking to the previous
// one: the garbage collector has nothing to scan, so a map of millions of
// leaves does not slow down the rest of the process.
type MemStore struct {
	mu     sync.RWMutex
	newest map[Label]uint32 // label → slot of its newest version
	chunks [][]memNode
	n      uint32 // slots used
	roots  []Root // roots[e-1] is the root of epoch e
}

type memNode struct {
	Node
	prev uint32 // slot+1 of the previous version, 0 for none
}

const memChunk = 1 << 16

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{newest: make(map[Label]uint32)} }

func (s *MemStore) slot(i uint32) *memNode { return &s.chunks[i/memChunk][i%memChunk] }

// Node implements NodeStore.
func (s *MemStore) Node(_ context.Context, l Label, epoch uint64) (Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.newest[l]
	for ok {
		n := s.slot(i)
		if n.Epoch <= epoch {
			return n.Node, nil
		}
		i, ok = n.prev-1, n.prev != 0
	}
	return Node{}, ErrNotFound
}

// Root implements NodeStore.
func (s *MemStore) Root(_ context.Context, epoch uint64) (Root, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if epoch == 0 || epoch > uint64(len(s.roots)) {
		return Root{}, ErrNotFound
	}
	return s.roots[epoch-1], nil
}

// Latest implements NodeStore.
func (s *MemStore) Latest(context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return uint64(len(s.roots)), nil
}

// Commit implements NodeStore.
func (s *MemStore) Commit(_ context.Context, root Root, nodes []Node) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if root.Epoch != uint64(len(s.roots))+1 {
		return errEpoch
	}
	for i := range nodes {
		if nodes[i].Epoch != root.Epoch {
			return errEpoch
		}
	}
	if uint64(s.n)+uint64(len(nodes)) >= 1<<32-1 {
		return errors.New("vmap: MemStore full")
	}
	for _, n := range nodes {
		prev, ok := s.newest[n.Label]
		if ok && s.slot(prev).Epoch == n.Epoch {
			s.slot(prev).Node = n
			continue
		}
		if s.n%memChunk == 0 {
			s.chunks = append(s.chunks, make([]memNode, memChunk))
		}
		m := s.slot(s.n)
		m.Node = n
		if ok {
			m.prev = prev + 1
		}
		s.newest[n.Label] = s.n
		s.n++
	}
	s.roots = append(s.roots, root)
	return nil
}
