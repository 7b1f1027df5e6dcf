package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

func init() { register("vmap.json", genVMap) }

// The map's hashes of spec/transparency-v2.md §4.2, written out here from
// the spec rather than borrowed from the code under test: roots and the
// batch digest are computed by these, proofs by the package (and checked).
const vmLabel = "sealpost/v2/kt-map"

func vmHash(domain byte, parts ...[]byte) []byte {
	h := sha256.New()
	h.Write([]byte(vmLabel))
	h.Write([]byte{domain})
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func vmBit(x []byte, d int) byte { return x[d/8] >> (7 - d%8) & 1 }

// vmRoot is the root of a set of leaves: SHA-256(label||0x00) if empty,
// else the node over all of them, where the node over leaves sharing
// their first d bits is the leaf itself if there is one, else the inner
// node at the first bit where they differ.
func vmRoot(leaves []vectors.VMapLeaf) []byte {
	if len(leaves) == 0 {
		return vmHash(0x00)
	}
	var rec func(ls []vectors.VMapLeaf, d int) []byte
	rec = func(ls []vectors.VMapLeaf, d int) []byte {
		if len(ls) == 1 {
			return vmHash(0x01, ls[0].Index, binary.BigEndian.AppendUint64(nil, ls[0].Version), ls[0].Commitment)
		}
		for ; ; d++ {
			var l, r []vectors.VMapLeaf
			for _, x := range ls {
				if vmBit(x.Index, d) == 0 {
					l = append(l, x)
				} else {
					r = append(r, x)
				}
			}
			if len(l) > 0 && len(r) > 0 {
				prefix := make([]byte, 32)
				for i := range d {
					prefix[i/8] |= vmBit(ls[0].Index, i) << (7 - i%8)
				}
				return vmHash(0x02, []byte{byte(d)}, prefix, rec(l, d+1), rec(r, d+1))
			}
		}
	}
	return rec(leaves, 0)
}

type vmEntry struct {
	index      []byte
	old, new   uint64
	commitment []byte
}

func vmBatchBytes(es []vmEntry) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(es)))
	for _, e := range es {
		b = append(b, e.index...)
		b = binary.BigEndian.AppendUint64(b, e.old)
		b = binary.BigEndian.AppendUint64(b, e.new)
		b = append(b, e.commitment...)
	}
	return b
}

// vmApply returns leaves with the batch applied.
func vmApply(leaves []vectors.VMapLeaf, es []vmEntry) []vectors.VMapLeaf {
	out := slices.Clone(leaves)
next:
	for _, e := range es {
		for i := range out {
			if bytes.Equal(out[i].Index, e.index) {
				out[i].Version, out[i].Commitment = e.new, e.commitment
				continue next
			}
		}
		out = append(out, vectors.VMapLeaf{Index: e.index, Version: e.new, Commitment: e.commitment})
	}
	return out
}

// vmIndex returns a 32-byte index starting with head, the rest random.
func vmIndex(r io.Reader, head ...byte) []byte {
	x := make([]byte, 32)
	io.ReadFull(r, x)
	copy(x, head)
	return x
}

func vmBuild(leaves []vectors.VMapLeaf) (*vmap.Map, vmap.Root, error) {
	// Epoch 1 adds every leaf at version 1, epoch 2 raises the others.
	m := vmap.New(vmap.NewMemStore())
	var ups, bumps []vmap.Update
	for _, l := range leaves {
		ups = append(ups, vmap.Update{Index: vmap.Index(l.Index), Value: vmap.Value{Version: 1, Commitment: [32]byte(l.Commitment)}})
		if l.Version > 1 {
			bumps = append(bumps, vmap.Update{Index: vmap.Index(l.Index), Value: vmap.Value{Version: l.Version, Commitment: [32]byte(l.Commitment)}})
		}
	}
	root, err := m.Apply(context.Background(), ups)
	if err == nil {
		root, err = m.Apply(context.Background(), bumps)
	}
	if err != nil {
		return nil, root, err
	}
	if h := root.Hash(); !bytes.Equal(h[:], vmRoot(leaves)) {
		return nil, root, fmt.Errorf("vmap root differs from the spec's")
	}
	return m, root, nil
}

func genVMap() ([]byte, error) {
	r := testrand.New("vmap vectors")
	ctx := context.Background()
	commit := func() []byte { c := make([]byte, 32); io.ReadFull(r, c); return c }
	// A tree whose shape the spec's example draws: L1 and L2 differ only
	// in their last bit (an inner node at depth 255).
	l1 := make([]byte, 32)
	l2 := make([]byte, 32)
	l2[31] = 1
	leaves := []vectors.VMapLeaf{
		{Index: l1, Version: 1, Commitment: commit()},
		{Index: l2, Version: 2, Commitment: commit()},
		{Index: vmIndex(r, 0x20), Version: 1, Commitment: commit()},
		{Index: vmIndex(r, 0x30), Version: 7, Commitment: commit()},
		{Index: vmIndex(r, 0x80), Version: 1, Commitment: commit()},
		{Index: vmIndex(r, 0x81), Version: 3, Commitment: commit()},
		{Index: vmIndex(r, 0xc0), Version: 1, Commitment: commit()},
	}
	m, root, err := vmBuild(leaves)
	if err != nil {
		return nil, err
	}
	rootHash := root.Hash()
	var cases []vectors.VMapCase
	lookup := func(id, comment string, ls []vectors.VMapLeaf, m *vmap.Map, root []byte, x []byte, proof []byte, errName string) {
		c := &vectors.VMapLookupCase{Leaves: ls, Root: root, Index: x, Proof: proof}
		if errName == "" {
			for _, l := range ls {
				if bytes.Equal(l.Index, x) {
					c.Present, c.Version, c.Commitment = true, l.Version, l.Commitment
				}
			}
		}
		cases = append(cases, vectors.VMapCase{ID: id, Comment: comment, Type: "lookup", Lookup: c, Error: errName})
	}
	prove := func(m *vmap.Map, x []byte) []byte {
		r, err2 := m.Latest(ctx)
		if err2 != nil {
			err = err2
		}
		p, err2 := m.Prove(ctx, r.Epoch, vmap.Index(x))
		if err2 != nil {
			err = err2
		}
		return p
	}
	absentLeaf := vmIndex(r, 0x28)  // in L3's slot
	absentInner := vmIndex(r, 0x40) // bits 01: the node at depth 2 (prefix 00) does not cover it
	absentDeep := vmIndex(r, 0x01)  // walks to the depth-255 node, whose prefix is all zeros
	lookup("present", "the value at an index (two steps)", leaves, m, rootHash[:], leaves[2].Index, prove(m, leaves[2].Index), "")
	lookup("present-deep", "a leaf under the inner node at depth 255", leaves, m, rootHash[:], l2, prove(m, l2), "")
	lookup("absent-neighbour-leaf", "the walk ends at a leaf of another index", leaves, m, rootHash[:], absentLeaf, prove(m, absentLeaf), "")
	lookup("absent-empty-subtree", "the walk ends at an inner node whose prefix the index does not share", leaves, m, rootHash[:], absentInner, prove(m, absentInner), "")
	lookup("absent-below-deep-node", "the walk ends at the depth-255 node", leaves, m, rootHash[:], absentDeep, prove(m, absentDeep), "")
	empty := vmap.New(vmap.NewMemStore())
	emptyRoot := vmHash(0x00)
	lookup("empty-map", "absence in the empty map", nil, empty, emptyRoot, absentLeaf, prove0(empty, absentLeaf), "")
	one := leaves[:1]
	m1, _, err1 := vmBuild(one)
	if err1 != nil {
		return nil, err1
	}
	lookup("one-leaf-present", "a map of one leaf: the root is the leaf, no steps", one, m1, vmRoot(one), l1, prove(m1, l1), "")
	lookup("one-leaf-absent", "a map of one leaf: absence with no steps", one, m1, vmRoot(one), l2, prove(m1, l2), "")
	if err != nil {
		return nil, err
	}

	good := prove(m, leaves[2].Index)
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	other := vmRoot(leaves[:3])
	lookup("wrong-root", "a valid proof checked against another root", leaves, m, other, leaves[2].Index, good, "proof_invalid")
	lookup("wrong-index", "L3's proof checked for L4", leaves, m, rootHash[:], leaves[3].Index, good, "proof_invalid")
	lookup("sibling-changed", "one bit of a sibling flipped", leaves, m, rootHash[:], leaves[2].Index, flip(good, 4), "proof_invalid")
	lookup("commitment-changed", "one bit of the commitment flipped", leaves, m, rootHash[:], leaves[2].Index, flip(good, len(good)-1), "proof_invalid")
	lookup("absence-of-present", "the neighbour-leaf proof ending at L3 given for L3 itself", leaves, m, rootHash[:], leaves[2].Index, prove(m, absentLeaf), "proof_invalid")
	lookup("empty-for-nonempty", "the empty-map proof under a non-empty root", leaves, m, rootHash[:], absentLeaf, []byte{0, 0, 0}, "proof_invalid")
	lookup("truncated", "last byte missing", leaves, m, rootHash[:], leaves[2].Index, good[:len(good)-1], "malformed")
	lookup("trailing", "one byte too many", leaves, m, rootHash[:], leaves[2].Index, append(bytes.Clone(good), 0), "malformed")
	lookup("unknown-kind", "kind 4", leaves, m, rootHash[:], leaves[2].Index, append([]byte{4}, good[1:]...), "malformed")
	steps := int(good[2])
	if steps < 2 {
		return nil, fmt.Errorf("vmap: example proof has %d steps", steps)
	}
	dup := bytes.Clone(good)
	dup[3+33] = dup[3]
	lookup("depths-not-increasing", "the second step at the first step's depth", leaves, m, rootHash[:], leaves[2].Index, dup, "malformed")
	v0 := bytes.Clone(good)
	clear(v0[3+steps*33 : 3+steps*33+8])
	lookup("version-zero", "a leaf at version 0", leaves, m, rootHash[:], leaves[2].Index, v0, "malformed")
	if err != nil {
		return nil, err
	}

	// Batches.
	batch := func(id, comment string, old []vectors.VMapLeaf, newLeaves []vectors.VMapLeaf, es []vmEntry, proof []byte, errName string) {
		c := &vectors.VMapBatchCase{OldLeaves: old, OldRoot: vmRoot(old), NewRoot: vmRoot(newLeaves), Batch: vmBatchBytes(es), Proof: proof}
		// The digest of every batch that parses (refused later, if at all).
		if errName != "version" && errName != "duplicate" && id != "unsorted" {
			c.BatchDigest = vmHash(0x03, c.Batch)
		}
		cases = append(cases, vectors.VMapCase{ID: id, Comment: comment, Type: "batch", Batch: c, Error: errName})
	}
	proveBatch := func(m *vmap.Map, es []vmEntry) []byte {
		var ups []vmap.Update
		for _, e := range es {
			ups = append(ups, vmap.Update{Index: vmap.Index(e.index), Value: vmap.Value{Version: e.new, Commitment: [32]byte(e.commitment)}})
		}
		r, err2 := m.Latest(ctx)
		if err2 != nil {
			err = err2
		}
		_, p, err2 := m.ProveBatch(ctx, r.Epoch, ups)
		if err2 != nil {
			err = err2
		}
		return p
	}
	sorted := func(es []vmEntry) []vmEntry {
		slices.SortFunc(es, func(a, b vmEntry) int { return bytes.Compare(a.index, b.index) })
		return es
	}
	es := sorted([]vmEntry{
		{index: l2, old: 2, new: 5, commitment: commit()},
		{index: leaves[2].Index, old: 1, new: 2, commitment: commit()},
		{index: absentLeaf, old: 0, new: 1, commitment: commit()},
		{index: absentInner, old: 0, new: 1, commitment: commit()},
	})
	after := vmApply(leaves, es)
	batch("batch", "two bumps and two new indices (in a neighbour leaf's slot and in an empty subtree)", leaves, after, es, proveBatch(m, es), "")
	var fromEmpty []vmEntry
	for _, l := range leaves {
		fromEmpty = append(fromEmpty, vmEntry{index: l.Index, old: 0, new: 1, commitment: l.Commitment})
	}
	fromEmpty = sorted(fromEmpty)
	batch("batch-from-empty", "the first epoch: every leaf new, the proof is the empty tree", nil, vmApply(nil, fromEmpty), fromEmpty, []byte{0}, "")
	batch("batch-empty", "an epoch with no update: the proof is the root as a stub", leaves, leaves, nil, append([]byte{3}, rootHash[:]...), "")
	extra := append(slices.Clone(es), vmEntry{index: leaves[4].Index, old: 1, new: 2, commitment: commit()})
	batch("unclaimed-leaf", "the new root also changed L5, which the batch does not name", leaves, vmApply(leaves, extra), es, proveBatch(m, es), "proof_invalid")
	batch("extra-node-opened", "the proof opens L5's walk, which no entry takes", leaves, after, es, proveBatch(m, sorted(slices.Clone(extra))), "proof_invalid")
	lowered := slices.Clone(es)
	for i := range lowered {
		if bytes.Equal(lowered[i].index, l2) {
			lowered[i].new = 1
		}
	}
	batch("version-lowered", "L2 from version 2 to 1", leaves, vmApply(leaves, lowered), lowered, proveBatch(m, es), "version")
	wrongOld := slices.Clone(es)
	for i := range wrongOld {
		if bytes.Equal(wrongOld[i].index, l2) {
			wrongOld[i].old = 3
		}
	}
	batch("old-version-wrong", "the batch says L2 was at version 3; the old tree holds 2", leaves, vmApply(leaves, wrongOld), wrongOld, proveBatch(m, es), "proof_invalid")
	newAt2 := slices.Clone(es)
	for i := range newAt2 {
		if bytes.Equal(newAt2[i].index, absentInner) {
			newAt2[i].new = 2
		}
	}
	batch("new-index-not-1", "a new index at version 2", leaves, vmApply(leaves, newAt2), newAt2, proveBatch(m, es), "version")
	unsorted := slices.Clone(es)
	unsorted[0], unsorted[1] = unsorted[1], unsorted[0]
	batch("unsorted", "entries out of index order", leaves, after, unsorted, proveBatch(m, es), "malformed")
	twice := slices.Clone(es)
	twice[1] = twice[0]
	batch("duplicate", "an index twice", leaves, after, twice, proveBatch(m, es), "duplicate")
	p := proveBatch(m, es)
	batch("proof-truncated", "batch proof missing its last byte", leaves, after, es, p[:len(p)-1], "malformed")
	if err != nil {
		return nil, err
	}
	return encode(&vectors.File[vectors.VMapCase]{
		Description: "Key transparency v2 map: lookup proofs (presence, absence at a neighbour leaf, in an empty subtree, in the empty map) and batch audits, with refused cases. Roots are computed from the leaves as the spec defines them.",
		Spec:        "spec/transparency-v2.md §4",
		Cases:       cases,
	})
}

// prove0 proves against epoch 0 (the empty map).
func prove0(m *vmap.Map, x []byte) []byte {
	p, _ := m.Prove(context.Background(), 0, vmap.Index(x))
	return p
}
