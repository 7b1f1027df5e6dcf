package link

import (
	"encoding/binary"
	"fmt"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// role is the side a Channel belongs to.
type role uint8

const (
	roleE role = iota + 1 // the existing device: sends e2n
	roleN                 // the new device: sends n2e
)

// recordHeaderSize is type (1) || seq (8) (spec/linking.md §7.2).
const recordHeaderSize = 1 + 8

// Channel carries the records after the handshake (spec/linking.md §7):
// ChaCha20-Poly1305 under one key per direction, the nonce the 12-byte
// big-endian sequence number, which starts at 1 in each direction (0 was
// msg1's or msg2's). A Channel is not safe for concurrent use.
type Channel struct {
	role             role
	th               [HashSize]byte
	sendKey, recvKey [keySize]byte
	sendDir, recvDir byte
	sendSeq, recvSeq uint64 // the next to seal, the next expected
	destroyed        bool
}

// The sizes of link.go, spelt out there for readers, are these.
var (
	_ = [1]struct{}{}[Msg1Size-(1+32+kemCiphertextSize+IDSize+tagSize)]
	_ = [1]struct{}{}[Msg2Size-(1+msg2PlaintextSize+tagSize)]
	_ = [1]struct{}{}[msg2PlaintextSize-(HashSize+1+MaxNameLen)]
	_ = [1]struct{}{}[MaxRecord-(recordHeaderSize+1+MaxChunk+tagSize)]
)

func newChannel(r role, k *sessionKeys) *Channel {
	c := &Channel{role: r, th: k.th, sendSeq: 1, recvSeq: 1}
	if r == roleE {
		c.sendKey, c.recvKey, c.sendDir, c.recvDir = k.e2n, k.n2e, dirE2N, dirN2E
	} else {
		c.sendKey, c.recvKey, c.sendDir, c.recvDir = k.n2e, k.e2n, dirN2E, dirE2N
	}
	return c
}

// Transcript returns th, the transcript hash both sides agreed on
// (spec/linking.md §5.1).
func (c *Channel) Transcript() [HashSize]byte { return c.th }

// Seal encrypts rec as the next record of this side's direction
// (spec/linking.md §7.2). It refuses a record this side may not send
// (ErrWrongDirection) or one outside spec/linking.md §8 (ErrMalformed).
func (c *Channel) Seal(rec Record) ([]byte, error) {
	if c.destroyed {
		return nil, fmt.Errorf("%w: destroyed", ErrWrongState)
	}
	if rec == nil {
		return nil, malformed("nil record")
	}
	if !allowed(c.role, rec.Type()) {
		return nil, fmt.Errorf("%w: %v", ErrWrongDirection, rec.Type())
	}
	pt, err := MarshalRecord(rec)
	if err != nil {
		return nil, err
	}
	defer prim.Zero(pt)
	out := make([]byte, recordHeaderSize, recordHeaderSize+len(pt)+tagSize)
	out[0] = typeRecord
	binary.BigEndian.PutUint64(out[1:], c.sendSeq)
	out = prim.AEADSeal(out, c.sendKey[:], nonce(c.sendSeq), pt, ad(c.th, c.sendDir, typeRecord))
	c.sendSeq++
	return out, nil
}

// Open decrypts the next record from the other side (spec/linking.md
// §7.3). Errors leave the channel unchanged: ErrMalformed (not a record,
// or an authentic record whose body is not canonical), ErrDecrypt (not
// from the other side of this channel: drop it), ErrDuplicate (an
// authentic record already opened: drop it), ErrGap (an authentic record
// past the next expected: records were lost, abort), ErrWrongDirection
// (an authentic record of a type the other side may not send).
func (c *Channel) Open(b []byte) (Record, error) {
	if c.destroyed {
		return nil, fmt.Errorf("%w: destroyed", ErrWrongState)
	}
	if len(b) < recordHeaderSize+1+tagSize || len(b) > MaxRecord || b[0] != typeRecord {
		return nil, malformed("record of %d bytes", len(b))
	}
	seq := binary.BigEndian.Uint64(b[1:recordHeaderSize])
	pt, err := prim.AEADOpen(nil, c.recvKey[:], nonce(seq), b[recordHeaderSize:], ad(c.th, c.recvDir, typeRecord))
	if err != nil {
		return nil, ErrDecrypt
	}
	defer prim.Zero(pt)
	switch {
	case seq < c.recvSeq:
		return nil, fmt.Errorf("%w: sequence number %d", ErrDuplicate, seq)
	case seq > c.recvSeq:
		return nil, fmt.Errorf("%w: sequence number %d, expected %d", ErrGap, seq, c.recvSeq)
	}
	rec, err := ParseRecord(pt)
	if err != nil {
		return nil, err
	}
	peer := roleE
	if c.role == roleE {
		peer = roleN
	}
	if !allowed(peer, rec.Type()) {
		return nil, fmt.Errorf("%w: %v", ErrWrongDirection, rec.Type())
	}
	c.recvSeq++
	return rec, nil
}

// allowed reports whether role r may send records of type t
// (spec/linking.md §8).
func allowed(r role, t RecordType) bool {
	switch t {
	case TypeAccount, TypeSnapshotChunk:
		return r == roleE
	case TypeLinked:
		return r == roleN
	case TypeAbort:
		return true
	}
	return false
}

// Destroy zeroes the channel's keys; it refuses every later call.
func (c *Channel) Destroy() {
	prim.Zero(c.sendKey[:])
	prim.Zero(c.recvKey[:])
	c.destroyed = true
}
