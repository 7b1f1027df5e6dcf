// Package vmap implements the verifiable map of key transparency v2
// (spec/transparency-v2.md §4): a compressed binary Merkle prefix tree keyed
// by 32-byte indices (VRF outputs), whose leaves hold a version counter and a
// 32-byte commitment. It proves the value at an index, or its absence, under
// a root (VerifyLookup), applies one batch of updates per epoch (Map.Apply),
// and lets an auditor check over public data that a batch changed exactly
// the leaves it names, with versions only increasing (VerifyBatch).
//
// The tree only grows: leaves are added or get a higher version, never
// removed. Every inner node has two non-empty children and sits at the
// longest common prefix of the indices below it, so a root depends only on
// the set of (index, value) pairs, not on the order they were added.
//
// Verification is pure (no I/O, no global state). The Map reads and writes
// nodes through a NodeStore; MemStore keeps them in memory.
//
// Errors: ErrMalformed for bytes that are not a canonical encoding,
// ErrProofInvalid for a well-formed proof that does not prove what it is
// asked to (wrong root, wrong index, a batch whose new root is not what its
// updates yield), ErrVersion for a version that does not increase,
// ErrDuplicate for a batch naming an index twice.
package vmap

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes and limits of spec/transparency-v2.md §4.
const (
	// IndexSize is the size of an index (a VRF output) and of a commitment.
	IndexSize = 32
	// HashSize is the size of a node hash (SHA-256).
	HashSize = sha256.Size
	// IndexBits is the depth of a leaf: the number of bits of an index.
	IndexBits = 8 * IndexSize
	// MaxBatch is the largest number of updates in one batch.
	MaxBatch = 1 << 20
)

// label is the domain-separation prefix of every hash of the map
// (spec/transparency-v2.md §4.2).
const label = "sealpost/v2/kt-map"

// Domain bytes following the label (spec/transparency-v2.md §4.2).
const (
	domainEmpty = 0x00
	domainLeaf  = 0x01
	domainInner = 0x02
	domainBatch = 0x03
)

// Errors; test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a canonical encoding.
	ErrMalformed = errors.New("vmap: malformed")
	// ErrProofInvalid reports a well-formed proof that does not prove the
	// claim: another root, another index, or a batch whose recomputed root
	// differs from the one claimed.
	ErrProofInvalid = errors.New("vmap: proof does not verify")
	// ErrVersion reports an update whose version is not strictly greater
	// than the current one, or not 1 for a new index.
	ErrVersion = errors.New("vmap: version does not increase")
	// ErrDuplicate reports a batch that names an index twice.
	ErrDuplicate = errors.New("vmap: index twice in one batch")
	// ErrNotFound is returned by a NodeStore for a node or epoch it does
	// not hold.
	ErrNotFound = errors.New("vmap: not found")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProofInvalid, fmt.Sprintf(format, args...))
}

// Index is a position in the map: a VRF output.
type Index [IndexSize]byte

// Hash is a node hash or a root.
type Hash [HashSize]byte

// Value is what a leaf holds: a version (at least 1) and a commitment.
type Value struct {
	Version    uint64
	Commitment [IndexSize]byte
}

// bit returns bit i of b, most significant bit of b[0] first.
func bit(b *[32]byte, i int) int { return int(b[i>>3]>>(7-uint(i&7))) & 1 }

// mask returns b with every bit from n on cleared.
func mask(b [32]byte, n int) [32]byte {
	if n >= IndexBits {
		return b
	}
	b[n>>3] &= ^byte(0xff >> uint(n&7))
	clear(b[n>>3+1:])
	return b
}

// masked reports whether every bit of b from n on is zero.
func masked(b *[32]byte, n int) bool { return mask(*b, n) == *b }

// lcp returns the number of leading bits a and b share, at most 256.
func lcp(a, b *[32]byte) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			n := 0
			for x&0x80 == 0 {
				x <<= 1
				n++
			}
			return 8*i + n
		}
	}
	return IndexBits
}

// hasPrefix reports whether a and b agree on their first n bits.
func hasPrefix(a, b *[32]byte, n int) bool { return lcp(a, b) >= n }

// EmptyRoot is the root of the empty map (spec/transparency-v2.md §4.2):
// SHA-256(label || 0x00).
var EmptyRoot = Hash(sha256.Sum256(append([]byte(label), domainEmpty)))

// LeafHash returns SHA-256(label || 0x01 || index || version (8 bytes, big
// endian) || commitment) (spec/transparency-v2.md §4.2).
func LeafHash(index *Index, v *Value) Hash {
	var b [len(label) + 1 + IndexSize + 8 + IndexSize]byte
	n := copy(b[:], label)
	b[n] = domainLeaf
	n++
	n += copy(b[n:], index[:])
	binary.BigEndian.PutUint64(b[n:], v.Version)
	n += 8
	copy(b[n:], v.Commitment[:])
	return sha256.Sum256(b[:])
}

// InnerHash returns SHA-256(label || 0x02 || depth (1 byte) || prefix ||
// left || right) for the inner node whose children differ first at bit
// depth (0 ≤ depth ≤ 255); prefix is the 32-byte string of its first depth
// bits followed by zeros (spec/transparency-v2.md §4.2). InnerHash masks
// prefix itself.
func InnerHash(depth int, prefix *[32]byte, left, right *Hash) Hash {
	var b [len(label) + 2 + 32 + 2*HashSize]byte
	n := copy(b[:], label)
	b[n] = domainInner
	b[n+1] = byte(depth)
	n += 2
	p := mask(*prefix, depth)
	n += copy(b[n:], p[:])
	n += copy(b[n:], left[:])
	copy(b[n:], right[:])
	return sha256.Sum256(b[:])
}
