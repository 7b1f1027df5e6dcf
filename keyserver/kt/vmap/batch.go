package vmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
)

// Node tags of a batch proof (spec/transparency-v2.md §4.6).
const (
	batchEmpty = 0x00
	batchLeaf  = 0x01
	batchInner = 0x02
	batchStub  = 0x03
)

const (
	batchEntrySize = IndexSize + 8 + 8 + IndexSize
	// MaxBatchProofSize bounds the encoding VerifyBatch reads.
	MaxBatchProofSize = 1 << 28
)

// MarshalBatch returns the public encoding of a batch
// (spec/transparency-v2.md §4.6): a 4-byte big-endian count, then each
// entry as index || old version (8 bytes) || new version (8 bytes) ||
// commitment, sorted by index.
func MarshalBatch(es []BatchEntry) []byte {
	b := make([]byte, 0, 4+len(es)*batchEntrySize)
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for i := range es {
		b = append(b, es[i].Index[:]...)
		b = binary.BigEndian.AppendUint64(b, es[i].OldVersion)
		b = appendValue(b, &es[i].Value)
	}
	return b
}

// ParseBatch decodes a batch, refusing a wrong length, more than MaxBatch
// entries or unsorted entries (ErrMalformed), an index twice
// (ErrDuplicate) and a version that does not increase (ErrVersion).
func ParseBatch(b []byte) ([]BatchEntry, error) {
	if len(b) < 4 {
		return nil, malformed("batch of %d bytes", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxBatch || uint64(len(b)) != 4+uint64(n)*batchEntrySize {
		return nil, malformed("batch of %d bytes for %d entries", len(b), n)
	}
	es := make([]BatchEntry, n)
	b = b[4:]
	for i := range es {
		copy(es[i].Index[:], b)
		es[i].OldVersion = binary.BigEndian.Uint64(b[32:])
		es[i].Value.Version = binary.BigEndian.Uint64(b[40:])
		copy(es[i].Value.Commitment[:], b[48:80])
		b = b[batchEntrySize:]
	}
	if err := checkBatch(es); err != nil {
		return nil, err
	}
	return es, nil
}

// BatchDigest returns SHA-256(label || 0x03 || MarshalBatch(es)), the
// digest a log leaf records (spec/transparency-v2.md §4.6).
func BatchDigest(es []BatchEntry) Hash {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{domainBatch})
	h.Write(MarshalBatch(es))
	return Hash(h.Sum(nil))
}

// checkBatch checks what a batch must satisfy on its own: at most
// MaxBatch entries, sorted by index (ErrMalformed), no index twice
// (ErrDuplicate), each new version above the old one and 1 for a new
// index (ErrVersion).
func checkBatch(es []BatchEntry) error {
	if len(es) > MaxBatch {
		return malformed("batch of %d entries", len(es))
	}
	for i := range es {
		if i > 0 {
			switch c := bytes.Compare(es[i-1].Index[:], es[i].Index[:]); {
			case c == 0:
				return ErrDuplicate
			case c > 0:
				return malformed("batch not sorted by index")
			}
		}
		e := &es[i]
		if e.Value.Version <= e.OldVersion || (e.OldVersion == 0 && e.Value.Version != 1) {
			return versionError(e.OldVersion, e.Value.Version)
		}
	}
	return nil
}

// batchProof is a parsed batch proof: the opened nodes by label, and the
// top (a stub if its label is unknown).
type batchProof struct {
	empty  bool
	top    Child
	nodes  map[Label]Node
	opened []Label
}

// parseBatchProof decodes a batch proof (spec/transparency-v2.md §4.6),
// checking that every node lies where its parent says (ErrMalformed). It
// does not look at the batch.
func parseBatchProof(b []byte) (*batchProof, error) {
	if len(b) == 0 || len(b) > MaxBatchProofSize {
		return nil, malformed("batch proof of %d bytes", len(b))
	}
	bp := &batchProof{nodes: make(map[Label]Node)}
	if b[0] == batchEmpty {
		if len(b) != 1 {
			return nil, malformed("trailing bytes after an empty tree")
		}
		bp.empty = true
		return bp, nil
	}
	rest, top, err := bp.parse(b, -1, nil, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, malformed("trailing bytes after the batch proof")
	}
	bp.top = top
	return bp, nil
}

// parse reads one node whose parent sits at depth pd with prefix pp, on
// side (pd = -1 for the top).
func (bp *batchProof) parse(b []byte, pd int, pp *[32]byte, side int) ([]byte, Child, error) {
	if len(b) == 0 {
		return nil, Child{}, malformed("batch proof truncated")
	}
	// under checks that a node labelled q sits on its parent's side.
	under := func(q *[32]byte) bool {
		return pd < 0 || (hasPrefix(q, pp, pd) && bit(q, pd) == side)
	}
	switch b[0] {
	case batchStub:
		if len(b) < 1+HashSize {
			return nil, Child{}, malformed("batch proof truncated")
		}
		c := Child{Label: Label{Depth: stubDepth}, Hash: Hash(b[1 : 1+HashSize])}
		return b[1+HashSize:], c, nil
	case batchLeaf:
		if len(b) < 1+IndexSize+8+IndexSize {
			return nil, Child{}, malformed("batch proof truncated")
		}
		var n Node
		n.Label = Label{Depth: IndexBits, Prefix: [32]byte(b[1:33])}
		if err := parseValue(&n.Value, b[33:73]); err != nil {
			return nil, Child{}, err
		}
		if !under(&n.Label.Prefix) {
			return nil, Child{}, malformed("leaf not under its parent")
		}
		idx := Index(n.Label.Prefix)
		n.Hash = LeafHash(&idx, &n.Value)
		bp.nodes[n.Label] = n
		bp.opened = append(bp.opened, n.Label)
		return b[73:], Child{Label: n.Label, Hash: n.Hash}, nil
	case batchInner:
		if len(b) < 2+32 {
			return nil, Child{}, malformed("batch proof truncated")
		}
		var n Node
		d := int(b[1])
		n.Label = Label{Depth: uint16(d), Prefix: [32]byte(b[2:34])}
		if d <= pd || !masked(&n.Label.Prefix, d) || !under(&n.Label.Prefix) {
			return nil, Child{}, malformed("inner node not under its parent")
		}
		rest := b[34:]
		var err error
		for s := range 2 {
			if rest, n.Children[s], err = bp.parse(rest, d, &n.Label.Prefix, s); err != nil {
				return nil, Child{}, err
			}
		}
		n.Hash = InnerHash(d, &n.Label.Prefix, &n.Children[0].Hash, &n.Children[1].Hash)
		bp.nodes[n.Label] = n
		bp.opened = append(bp.opened, n.Label)
		return rest, Child{Label: n.Label, Hash: n.Hash}, nil
	}
	return nil, Child{}, malformed("unknown batch proof node %d", b[0])
}

// VerifyBatch checks, over public data, that the map with root newRoot is
// the map with root oldRoot changed by exactly batch
// (spec/transparency-v2.md §4.6): batch must be well-formed (see
// ParseBatch); proof must open, in the tree of oldRoot, the walk of every
// index of batch and nothing else; each entry's old version must be the
// one the old tree holds (0 for absent); and applying batch to the opened
// tree must give newRoot. A leaf changed but not named, or a version
// lowered, makes it fail.
func VerifyBatch(oldRoot, newRoot Hash, batch []BatchEntry, proof []byte) error {
	if err := checkBatch(batch); err != nil {
		return err
	}
	bp, err := parseBatchProof(proof)
	if err != nil {
		return err
	}
	if bp.empty {
		if oldRoot != EmptyRoot {
			return invalid("empty-tree batch proof for a non-empty root")
		}
	} else if bp.top.Hash != oldRoot {
		return invalid("batch proof does not lead to the old root")
	}
	// Every opened node must be on some index's walk, and every walk
	// must end at an opened node.
	visited := make(map[Label]bool, len(bp.opened))
	for i := range batch {
		if bp.empty {
			break
		}
		x := (*[32]byte)(&batch[i].Index)
		c := bp.top
		for {
			if c.Label.Depth == stubDepth {
				return invalid("batch proof does not open the walk of an index")
			}
			visited[c.Label] = true
			n := bp.nodes[c.Label]
			if n.IsLeaf() || !hasPrefix(x, &n.Label.Prefix, int(n.Label.Depth)) {
				break
			}
			c = n.Children[bit(x, int(n.Label.Depth))]
		}
	}
	if len(visited) != len(bp.opened) {
		return invalid("batch proof opens a node no index's walk reaches")
	}
	got := oldRoot
	if len(batch) > 0 {
		mg := &merger{audit: true, open: func(c Child) (Node, error) { return bp.nodes[c.Label], nil }}
		var top Child
		if bp.empty {
			top, err = mg.fresh(batch)
		} else {
			top, err = mg.merge(bp.top, batch)
		}
		if err != nil {
			return err
		}
		got = top.Hash
	}
	if got != newRoot {
		return invalid("the batch applied to the old root does not give the new root")
	}
	return nil
}
