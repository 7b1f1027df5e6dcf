package senderkey

import (
	"encoding/binary"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// Distribution is what a member device sends every other member device so
// that it can read its group messages (spec/senderkey.md §5): the sending
// chain's ids, its current iteration and chain key, and its public signing
// key. It is a secret: whoever holds it reads every later message of the
// chain. It travels only inside pairwise sessions; it carries no signature
// of its own, the session authenticates it.
type Distribution struct {
	GroupID    GroupID
	ChainID    ChainID
	Iteration  uint32
	ChainKey   [KeySize]byte
	SigningKey [KeySize]byte // Ed25519 public key
}

// Distribution layout, spec/senderkey.md §5.1:
//
//	version      1   0x01
//	group id    32
//	chain id    16
//	iteration    4   big-endian, 0..2^32-2
//	chain key   32
//	signing key 32   Ed25519 public key

// Marshal returns the 117-byte encoding of d (§5.1).
func (d *Distribution) Marshal() []byte {
	b := make([]byte, 0, DistributionSize)
	b = append(b, Version)
	b = append(b, d.GroupID[:]...)
	b = append(b, d.ChainID[:]...)
	b = binary.BigEndian.AppendUint32(b, d.Iteration)
	b = append(b, d.ChainKey[:]...)
	return append(b, d.SigningKey[:]...)
}

// ParseDistribution decodes a distribution (§5.2), refusing anything but
// the canonical encoding of a usable one with ErrMalformed.
func ParseDistribution(b []byte) (*Distribution, error) {
	if len(b) != DistributionSize || b[0] != Version {
		return nil, ErrMalformed
	}
	var d Distribution
	off := 1
	off += copy(d.GroupID[:], b[off:])
	off += copy(d.ChainID[:], b[off:])
	d.Iteration = binary.BigEndian.Uint32(b[off:])
	off += 4
	off += copy(d.ChainKey[:], b[off:])
	copy(d.SigningKey[:], b[off:])
	if err := d.check(); err != nil {
		d.Destroy()
		return nil, err
	}
	return &d, nil
}

// check applies §5.2 steps 3-4 to a decoded or built distribution.
func (d *Distribution) check() error {
	if d.Iteration > MaxIteration || prim.CheckEd25519Public(d.SigningKey[:]) != nil {
		return ErrMalformed
	}
	return nil
}

// Destroy overwrites the chain key.
func (d *Distribution) Destroy() { prim.Zero(d.ChainKey[:]) }
