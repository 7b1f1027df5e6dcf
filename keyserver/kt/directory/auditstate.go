package directory

import (
	"encoding/binary"

	"golang.org/x/mod/sumdb/tlog"
)

// Check checks epochs that follow the auditor's state as Advance does
// (spec/transparency-v2.md §8.2, every step but the checkpoint's), without
// a checkpoint of the size they reach: the key server signs only its
// latest tree, and an auditor that fetches the epochs up to it in pages
// checks each page as it arrives. The state moves on, with a tree root
// computed from the leaves alone that no checkpoint has confirmed yet: the
// caller must end with Advance to a checkpoint, which ties every leaf
// checked to its root, and must discard the auditor if that fails. A
// refusal leaves the state unchanged.
func (a *Auditor) Check(epochs []AuditEpoch) error {
	st := a.st.clone()
	for i := range epochs {
		if err := st.step(&epochs[i]); err != nil {
			return err
		}
	}
	st.TreeRoot = edgeRoot(st.Edge)
	a.st = st
	return nil
}

// auditStateVersion is the first byte of an encoded AuditState.
const auditStateVersion = 0x01

// Marshal encodes the state, for an auditor to keep between runs
// (spec/transparency-v2.md §8.3):
//
//	0x01 || size (8) || tree root (32) || map root (32) || time (8)
//	     || VRF key (32) || edge count (1) || edge count × hash (32)
func (st *AuditState) Marshal() []byte {
	b := make([]byte, 0, 1+8+32+32+8+32+1+len(st.Edge)*tlog.HashSize)
	b = append(b, auditStateVersion)
	b = binary.BigEndian.AppendUint64(b, st.Size)
	b = append(b, st.TreeRoot[:]...)
	b = append(b, st.MapRoot[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(st.Time))
	b = append(b, st.VRFKey[:]...)
	b = append(b, byte(len(st.Edge)))
	for _, h := range st.Edge {
		b = append(b, h[:]...)
	}
	return b
}

// ParseAuditState decodes a state Marshal encoded, refusing (ErrMalformed)
// a wrong version or length, and a state whose edge does not make its
// tree root or whose VRF key is not a valid key.
func ParseAuditState(b []byte) (*AuditState, error) {
	const fixed = 1 + 8 + 32 + 32 + 8 + 32 + 1
	if len(b) < fixed || b[0] != auditStateVersion {
		return nil, fail(ErrMalformed, "audit state of %d bytes", len(b))
	}
	n := int(b[fixed-1])
	if len(b) != fixed+n*tlog.HashSize {
		return nil, fail(ErrMalformed, "audit state of %d bytes with %d edge hashes", len(b), n)
	}
	st := &AuditState{Size: binary.BigEndian.Uint64(b[1:9])}
	copy(st.TreeRoot[:], b[9:41])
	copy(st.MapRoot[:], b[41:73])
	st.Time = int64(binary.BigEndian.Uint64(b[73:81]))
	copy(st.VRFKey[:], b[81:113])
	for i := range n {
		off := fixed + i*tlog.HashSize
		st.Edge = append(st.Edge, tlog.Hash(b[off:off+tlog.HashSize]))
	}
	if err := st.check(); err != nil {
		return nil, err
	}
	return st, nil
}
