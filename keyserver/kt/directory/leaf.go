package directory

import (
	"encoding/binary"
	"math"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// Leaf is the log leaf of one epoch (spec/transparency-v2.md §5.1): the
// epoch number, when it was sequenced, the key server's VRF public key,
// the map root after the epoch's batch, and the batch's size and digest.
// The leaf of epoch e is the log's leaf at index e−1.
type Leaf struct {
	Epoch       uint64
	Time        int64 // Unix seconds
	VRFKey      [32]byte
	MapRoot     vmap.Hash
	Count       uint32
	BatchDigest vmap.Hash
}

// Marshal returns the leaf's encoding (spec/transparency-v2.md §5.1):
//
//	0x02 || epoch (8) || time (8) || vrf key (32) || map root (32)
//	     || count (4) || batch digest (32)
//
// integers big-endian, LeafSize bytes. It does not check the fields:
// ParseLeaf refuses an epoch 0, a negative time or a count above
// vmap.MaxBatch.
func (l *Leaf) Marshal() []byte {
	b := make([]byte, 0, LeafSize)
	b = append(b, LeafVersion)
	b = binary.BigEndian.AppendUint64(b, l.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Time))
	b = append(b, l.VRFKey[:]...)
	b = append(b, l.MapRoot[:]...)
	b = binary.BigEndian.AppendUint32(b, l.Count)
	return append(b, l.BatchDigest[:]...)
}

// ParseLeaf decodes a log leaf (spec/transparency-v2.md §5.1). It refuses
// (ErrMalformed) a length other than LeafSize, a first byte other than
// LeafVersion, epoch 0, a time above 2^63−1 (negative as int64) and a
// count above vmap.MaxBatch. Every accepted leaf re-encodes to b.
func ParseLeaf(b []byte) (*Leaf, error) {
	if len(b) != LeafSize {
		return nil, fail(ErrMalformed, "leaf of %d bytes, want %d", len(b), LeafSize)
	}
	if b[0] != LeafVersion {
		return nil, fail(ErrMalformed, "leaf version 0x%02x, want 0x%02x", b[0], LeafVersion)
	}
	var l Leaf
	l.Epoch = binary.BigEndian.Uint64(b[1:])
	t := binary.BigEndian.Uint64(b[9:])
	copy(l.VRFKey[:], b[17:49])
	copy(l.MapRoot[:], b[49:81])
	l.Count = binary.BigEndian.Uint32(b[81:])
	copy(l.BatchDigest[:], b[85:117])
	if l.Epoch == 0 {
		return nil, fail(ErrMalformed, "leaf of epoch 0")
	}
	if t > math.MaxInt64 {
		return nil, fail(ErrMalformed, "leaf time %d above 2^63-1", t)
	}
	l.Time = int64(t)
	if l.Count > vmap.MaxBatch {
		return nil, fail(ErrMalformed, "leaf count %d above %d", l.Count, vmap.MaxBatch)
	}
	return &l, nil
}
