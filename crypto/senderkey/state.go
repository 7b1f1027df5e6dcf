package senderkey

import (
	"encoding/binary"
	"fmt"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// State encodings, spec/senderkey.md §7. Both start with the state version
// and a kind byte.
//
// Sending chain (§7.1), 118 bytes:
//
//	version 1 | kind 0x01 | group id 32 | chain id 16 | iteration 4 |
//	chain key 32 | signing seed 32
//
// Receiving chain (§7.2), 120 + 44×K bytes:
//
//	version 1 | kind 0x02 | group id 32 | chain id 16 | signing key 32 |
//	iteration 4 | chain key 32 | K 2 | K × (iteration 4 | message key 32 |
//	stored 8), oldest first
const (
	kindSending   = 0x01
	kindReceiving = 0x02

	sendingStateSize   = 2 + GroupIDSize + ChainIDSize + 4 + KeySize + KeySize
	receivingFixedSize = 2 + GroupIDSize + ChainIDSize + KeySize + 4 + KeySize + 2
	skippedEntrySize   = 4 + KeySize + 8
)

// Marshal returns the canonical encoding of the chain (§7.1). It holds the
// chain key and the signing seed: store it encrypted and erase copies.
func (s *SendingChain) Marshal() []byte {
	b := make([]byte, 0, sendingStateSize)
	b = append(b, StateVersion, kindSending)
	b = append(b, s.group[:]...)
	b = append(b, s.chain[:]...)
	b = binary.BigEndian.AppendUint32(b, s.iteration)
	b = append(b, s.ck[:]...)
	return append(b, s.priv.Seed()...)
}

// UnmarshalSendingChain decodes a chain marshalled by SendingChain.Marshal,
// refusing anything else with ErrInvalidState (§7.3). b is not retained.
func UnmarshalSendingChain(b []byte) (*SendingChain, error) {
	if len(b) != sendingStateSize || b[0] != StateVersion || b[1] != kindSending {
		return nil, fmt.Errorf("%w: not a version %d sending chain of %d bytes", ErrInvalidState, StateVersion, sendingStateSize)
	}
	s := &SendingChain{}
	off := 2
	off += copy(s.group[:], b[off:])
	off += copy(s.chain[:], b[off:])
	s.iteration = binary.BigEndian.Uint32(b[off:])
	off += 4
	off += copy(s.ck[:], b[off:])
	s.setSigningSeed(b[off : off+KeySize])
	return s, nil
}

// Marshal returns the canonical encoding of the chain (§7.2). It holds the
// chain key and the skipped message keys: store it encrypted and erase
// copies.
func (r *ReceivingChain) Marshal() []byte {
	b := make([]byte, 0, receivingFixedSize+skippedEntrySize*len(r.skipped))
	b = append(b, StateVersion, kindReceiving)
	b = append(b, r.group[:]...)
	b = append(b, r.chain[:]...)
	b = append(b, r.pub[:]...)
	b = binary.BigEndian.AppendUint32(b, r.iteration)
	b = append(b, r.ck[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.skipped)))
	for i := range r.skipped {
		e := &r.skipped[i]
		b = binary.BigEndian.AppendUint32(b, e.iteration)
		b = append(b, e.mk[:]...)
		b = binary.BigEndian.AppendUint64(b, e.stored)
	}
	return b
}

// UnmarshalReceivingChain decodes a chain marshalled by
// ReceivingChain.Marshal, refusing anything that is not the canonical
// encoding of a reachable chain with ErrInvalidState (§7.3). b is not
// retained.
func UnmarshalReceivingChain(b []byte) (*ReceivingChain, error) {
	r, err := unmarshalReceiving(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidState, err)
	}
	return r, nil
}

func unmarshalReceiving(b []byte) (*ReceivingChain, error) {
	if len(b) < receivingFixedSize || b[0] != StateVersion || b[1] != kindReceiving {
		return nil, fmt.Errorf("not a version %d receiving chain", StateVersion)
	}
	r := &ReceivingChain{}
	off := 2
	off += copy(r.group[:], b[off:])
	off += copy(r.chain[:], b[off:])
	off += copy(r.pub[:], b[off:])
	r.iteration = binary.BigEndian.Uint32(b[off:])
	off += 4
	off += copy(r.ck[:], b[off:])
	k := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if k > MaxSkippedKeys {
		r.Destroy()
		return nil, fmt.Errorf("%d skipped keys, more than %d", k, MaxSkippedKeys)
	}
	if len(b)-off != k*skippedEntrySize {
		r.Destroy()
		return nil, fmt.Errorf("%d bytes for %d skipped keys", len(b)-off, k)
	}
	if prim.CheckEd25519Public(r.pub[:]) != nil {
		r.Destroy()
		return nil, fmt.Errorf("invalid signing key")
	}
	if k > 0 {
		r.skipped = make([]skippedKey, k)
	}
	seen := make(map[uint32]struct{}, k)
	for i := range r.skipped {
		e := &r.skipped[i]
		e.iteration = binary.BigEndian.Uint32(b[off:])
		copy(e.mk[:], b[off+4:])
		e.stored = binary.BigEndian.Uint64(b[off+4+KeySize:])
		off += skippedEntrySize
		if _, dup := seen[e.iteration]; dup || e.iteration >= r.iteration {
			r.Destroy()
			return nil, fmt.Errorf("skipped key %d repeated or not before the chain's iteration", i)
		}
		seen[e.iteration] = struct{}{}
	}
	return r, nil
}
