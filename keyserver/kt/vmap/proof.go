package vmap

import (
	"encoding/binary"
)

// Kinds of lookup proof (spec/transparency-v2.md §4.4): the first byte of
// its encoding.
const (
	// KindEmpty proves absence in the empty map.
	KindEmpty = 0x00
	// KindPresent proves the value at the index.
	KindPresent = 0x01
	// KindAbsentLeaf proves absence: the walk ends at a leaf of another
	// index (the neighbour).
	KindAbsentLeaf = 0x02
	// KindAbsentInner proves absence: the walk ends at an inner node whose
	// prefix the index does not share (the index's subtree is empty).
	KindAbsentInner = 0x03
)

// Encoded sizes (spec/transparency-v2.md §4.4).
const (
	stepSize = 1 + HashSize
	// MaxProofSize is the longest lookup proof: 256 steps and the largest
	// terminal.
	MaxProofSize = 3 + IndexBits*stepSize + 1 + 32 + 2*HashSize
)

// terminalSize is the size of the terminal of each kind of proof.
var terminalSize = [4]int{KindEmpty: 0, KindPresent: 8 + IndexSize, KindAbsentLeaf: IndexSize + 8 + IndexSize, KindAbsentInner: 1 + 32 + 2*HashSize}

// Step is one inner node on the walk from the root: the bit at which its
// children differ and the hash of the child the walk does not take.
type Step struct {
	Depth   int
	Sibling Hash
}

// Proof is a lookup proof: the steps from the root down, and the node the
// walk ends at. Which terminal fields are set depends on Kind.
type Proof struct {
	Kind  byte
	Steps []Step
	// Value is the value at the index (KindPresent) or at the neighbour
	// leaf (KindAbsentLeaf).
	Value Value
	// Neighbour is the index of the leaf the walk ends at (KindAbsentLeaf).
	Neighbour Index
	// Depth and Prefix label the inner node the walk ends at, Left and
	// Right are its children's hashes (KindAbsentInner).
	Depth       int
	Prefix      [32]byte
	Left, Right Hash
}

// Marshal returns the encoding of spec/transparency-v2.md §4.4.
func (p *Proof) Marshal() []byte {
	b := make([]byte, 0, 3+len(p.Steps)*stepSize+1+32+2*HashSize)
	b = append(b, p.Kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Steps)))
	for _, s := range p.Steps {
		b = append(b, byte(s.Depth))
		b = append(b, s.Sibling[:]...)
	}
	switch p.Kind {
	case KindPresent:
		b = appendValue(b, &p.Value)
	case KindAbsentLeaf:
		b = append(b, p.Neighbour[:]...)
		b = appendValue(b, &p.Value)
	case KindAbsentInner:
		b = append(b, byte(p.Depth))
		b = append(b, p.Prefix[:]...)
		b = append(b, p.Left[:]...)
		b = append(b, p.Right[:]...)
	}
	return b
}

func appendValue(b []byte, v *Value) []byte {
	b = binary.BigEndian.AppendUint64(b, v.Version)
	return append(b, v.Commitment[:]...)
}

// ParseProof decodes a lookup proof, refusing with ErrMalformed anything
// that is not the canonical encoding of a proof some tree could produce:
// an unknown kind, step depths not strictly increasing, a version 0, a
// terminal inner node not below the last step or with prefix bits set past
// its depth, wrong length. It does not look at the root or the index.
func ParseProof(b []byte) (*Proof, error) {
	if len(b) < 3 || len(b) > MaxProofSize {
		return nil, malformed("proof of %d bytes", len(b))
	}
	p := &Proof{Kind: b[0]}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if p.Kind > KindAbsentInner {
		return nil, malformed("unknown proof kind %d", p.Kind)
	}
	if n > IndexBits || (p.Kind == KindEmpty && n != 0) {
		return nil, malformed("%d steps", n)
	}
	terminal := terminalSize[p.Kind]
	if len(b) != 3+n*stepSize+terminal {
		return nil, malformed("proof of %d bytes for %d steps", len(b), n)
	}
	b = b[3:]
	last := -1
	if n > 0 {
		p.Steps = make([]Step, n)
	}
	for i := range p.Steps {
		d := int(b[0])
		if d <= last {
			return nil, malformed("step depths not increasing")
		}
		p.Steps[i].Depth = d
		copy(p.Steps[i].Sibling[:], b[1:stepSize])
		last = d
		b = b[stepSize:]
	}
	switch p.Kind {
	case KindPresent:
		if err := parseValue(&p.Value, b); err != nil {
			return nil, err
		}
	case KindAbsentLeaf:
		copy(p.Neighbour[:], b)
		if err := parseValue(&p.Value, b[IndexSize:]); err != nil {
			return nil, err
		}
	case KindAbsentInner:
		p.Depth = int(b[0])
		copy(p.Prefix[:], b[1:33])
		copy(p.Left[:], b[33:65])
		copy(p.Right[:], b[65:97])
		if p.Depth <= last {
			return nil, malformed("terminal node not below the last step")
		}
		if !masked(&p.Prefix, p.Depth) {
			return nil, malformed("prefix bits set past the node's depth")
		}
	}
	return p, nil
}

func parseValue(v *Value, b []byte) error {
	v.Version = binary.BigEndian.Uint64(b)
	copy(v.Commitment[:], b[8:40])
	if v.Version == 0 {
		return malformed("leaf version 0")
	}
	return nil
}

// VerifyLookup checks an encoded lookup proof for index under root
// (spec/transparency-v2.md §4.5). It returns the value at index, or nil if
// the proof shows index absent. A proof that does not parse is
// ErrMalformed; one that parses but does not lead from root to index is
// ErrProofInvalid.
func VerifyLookup(root Hash, index Index, proof []byte) (*Value, error) {
	p, err := ParseProof(proof)
	if err != nil {
		return nil, err
	}
	return p.Verify(root, index)
}

// Verify checks a parsed proof for index under root; see VerifyLookup.
func (p *Proof) Verify(root Hash, index Index) (*Value, error) {
	// Bits the terminal must share with index: those above and at the
	// last step's depth.
	shared := 0
	if len(p.Steps) > 0 {
		shared = p.Steps[len(p.Steps)-1].Depth + 1
	}
	var h Hash
	var value *Value
	switch p.Kind {
	case KindEmpty:
		if root != EmptyRoot {
			return nil, invalid("empty-map proof for a non-empty root")
		}
		return nil, nil
	case KindPresent:
		h = LeafHash(&index, &p.Value)
		v := p.Value
		value = &v
	case KindAbsentLeaf:
		if p.Neighbour == index {
			return nil, invalid("absence proof ends at the index itself")
		}
		if !hasPrefix((*[32]byte)(&p.Neighbour), (*[32]byte)(&index), shared) {
			return nil, invalid("neighbour leaf not on the index's path")
		}
		h = LeafHash(&p.Neighbour, &p.Value)
	case KindAbsentInner:
		if !hasPrefix(&p.Prefix, (*[32]byte)(&index), shared) {
			return nil, invalid("terminal node not on the index's path")
		}
		if hasPrefix(&p.Prefix, (*[32]byte)(&index), p.Depth) {
			return nil, invalid("index lies under the terminal node")
		}
		h = InnerHash(p.Depth, &p.Prefix, &p.Left, &p.Right)
	}
	for i := len(p.Steps) - 1; i >= 0; i-- {
		s := &p.Steps[i]
		if bit((*[32]byte)(&index), s.Depth) == 0 {
			h = InnerHash(s.Depth, (*[32]byte)(&index), &h, &s.Sibling)
		} else {
			h = InnerHash(s.Depth, (*[32]byte)(&index), &s.Sibling, &h)
		}
	}
	if h != root {
		return nil, invalid("proof does not lead to the root")
	}
	return value, nil
}
