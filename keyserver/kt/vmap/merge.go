package vmap

import (
	"errors"
	"sort"
)

// stubDepth marks the label of a subtree a batch proof gives only by its
// hash: its real label is unknown and no update may go under it.
const stubDepth = 0xffff

// BatchEntry is one update of a batch as the public sees it
// (spec/transparency-v2.md §4.6): the index, its version before the batch
// (0 if the index was absent) and its new value.
type BatchEntry struct {
	Index      Index
	OldVersion uint64
	Value      Value
}

// merger computes the tree that results from applying sorted updates to
// an existing tree (spec/transparency-v2.md §4.3). It is shared by the
// sequencer (Map.Apply, reading the store) and the auditor (VerifyBatch,
// reading the nodes a batch proof opens), so both compute the new root
// the same way.
type merger struct {
	open  func(Child) (Node, error)
	epoch uint64
	// audit makes each entry's OldVersion a claim to check against the
	// old tree; otherwise OldVersion is ignored.
	audit bool
	// record keeps the nodes created in out.
	record bool
	out    []Node
}

func (m *merger) emit(n Node) Child {
	if m.record {
		n.Epoch = m.epoch
		m.out = append(m.out, n)
	}
	return Child{Label: n.Label, Hash: n.Hash}
}

func (m *merger) leaf(e *BatchEntry) Child {
	return m.emit(Node{Label: Label{Depth: IndexBits, Prefix: e.Index}, Hash: LeafHash(&e.Index, &e.Value), Value: e.Value})
}

func (m *merger) inner(depth int, prefix *[32]byte, left, right Child) Child {
	return m.emit(Node{
		Label:    Label{Depth: uint16(depth), Prefix: mask(*prefix, depth)},
		Hash:     InnerHash(depth, prefix, &left.Hash, &right.Hash),
		Children: [2]Child{left, right},
	})
}

// split returns the position of the first entry whose bit d is 1; entries
// are sorted and share their first d bits.
func split(es []BatchEntry, d int) int {
	return sort.Search(len(es), func(i int) bool { return bit((*[32]byte)(&es[i].Index), d) == 1 })
}

// fresh builds the subtree of new indices es (sorted, at least one).
func (m *merger) fresh(es []BatchEntry) (Child, error) {
	if len(es) == 1 {
		e := &es[0]
		if m.audit && e.OldVersion != 0 {
			return Child{}, invalid("batch claims version %d for an absent index", e.OldVersion)
		}
		if e.Value.Version != 1 {
			return Child{}, versionError(0, e.Value.Version)
		}
		return m.leaf(e), nil
	}
	d := lcp((*[32]byte)(&es[0].Index), (*[32]byte)(&es[len(es)-1].Index))
	if d >= IndexBits {
		return Child{}, ErrDuplicate
	}
	k := split(es, d)
	l, err := m.fresh(es[:k])
	if err != nil {
		return Child{}, err
	}
	r, err := m.fresh(es[k:])
	if err != nil {
		return Child{}, err
	}
	return m.inner(d, (*[32]byte)(&es[0].Index), l, r), nil
}

// merge applies es (sorted, at least one, all in cur's slot) to the
// subtree cur.
func (m *merger) merge(cur Child, es []BatchEntry) (Child, error) {
	if cur.Label.Depth > IndexBits {
		return Child{}, invalid("update under a subtree the proof does not open")
	}
	q := &cur.Label.Prefix
	d := int(cur.Label.Depth)
	for i := range es {
		d = min(d, lcp((*[32]byte)(&es[i].Index), q))
	}
	if d < int(cur.Label.Depth) {
		// Some index leaves cur's prefix at bit d: a new inner node at d
		// gets cur on one side and those indices on the other.
		k := split(es, d)
		var kids [2]Child
		var err error
		side := bit(q, d)
		same, other := es[:k], es[k:]
		if side == 1 {
			same, other = other, same
		}
		if len(same) > 0 {
			kids[side], err = m.merge(cur, same)
		} else {
			kids[side] = cur
		}
		if err != nil {
			return Child{}, err
		}
		if kids[1-side], err = m.fresh(other); err != nil {
			return Child{}, err
		}
		return m.inner(d, q, kids[0], kids[1]), nil
	}
	n, err := m.open(cur)
	if err != nil {
		return Child{}, err
	}
	if n.Hash != cur.Hash || n.Label != cur.Label {
		return Child{}, errors.New("vmap: store returned another node")
	}
	if n.IsLeaf() {
		// d == 256: es is the one update of this index.
		e := &es[0]
		if len(es) != 1 {
			return Child{}, ErrDuplicate
		}
		if m.audit && e.OldVersion != n.Value.Version {
			return Child{}, invalid("batch claims version %d, the tree holds %d", e.OldVersion, n.Value.Version)
		}
		if !m.audit {
			e.OldVersion = n.Value.Version
		}
		if e.Value.Version <= n.Value.Version {
			return Child{}, versionError(n.Value.Version, e.Value.Version)
		}
		return m.leaf(e), nil
	}
	k := split(es, d)
	kids := n.Children
	if k > 0 {
		if kids[0], err = m.merge(kids[0], es[:k]); err != nil {
			return Child{}, err
		}
	}
	if k < len(es) {
		if kids[1], err = m.merge(kids[1], es[k:]); err != nil {
			return Child{}, err
		}
	}
	return m.inner(d, q, kids[0], kids[1]), nil
}
