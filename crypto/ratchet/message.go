package ratchet

import (
	"encoding/binary"
	"math"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// Message layout, spec/ratchet.md §4.1:
//
//	version      1   0x01
//	flags        1   bit 0: initial message present; bits 1-7 zero
//	[initial length 2, big-endian, 1..MaxInitialSize   (flag bit 0 only)
//	 initial     L]                                     (flag bit 0 only)
//	ratchet key 32   sender's ratchet public key DHs
//	PN           4   big-endian, length of the sender's previous chain
//	N            4   big-endian, message number, 0..2^32-2
//	ciphertext  ≥16  ChaCha20-Poly1305 ciphertext and tag
//
// The header is every byte before the ciphertext.
const (
	flagInitial   = 0x01
	knownFlags    = flagInitial
	initialLenLen = 2
)

// header is a parsed message header. initial aliases the message.
type header struct {
	initial []byte // nil when absent
	dh      [KeySize]byte
	pn, n   uint32
}

// headerSize returns the size of a header carrying initial.
func headerSize(initial []byte) int {
	if initial == nil {
		return HeaderSize
	}
	return HeaderSize + initialLenLen + len(initial)
}

// appendHeader appends the encoding of a header to dst (§4.1).
func appendHeader(dst []byte, initial []byte, dh *[KeySize]byte, pn, n uint32) []byte {
	if initial == nil {
		dst = append(dst, Version, 0)
	} else {
		dst = append(dst, Version, flagInitial)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(initial)))
		dst = append(dst, initial...)
	}
	dst = append(dst, dh[:]...)
	dst = binary.BigEndian.AppendUint32(dst, pn)
	return binary.BigEndian.AppendUint32(dst, n)
}

// parseMessage splits msg into its header and ciphertext, checking
// everything spec/ratchet.md §4.2 requires. hdrLen is the header's length:
// msg[:hdrLen] is the header, msg[hdrLen:] the ciphertext.
func parseMessage(msg []byte) (h header, hdrLen int, err error) {
	if len(msg) < MinMessageSize || msg[0] != Version || msg[1]&^knownFlags != 0 {
		return header{}, 0, ErrMalformed
	}
	off := 2
	if msg[1]&flagInitial != 0 {
		l := int(binary.BigEndian.Uint16(msg[off:]))
		off += initialLenLen
		if l == 0 || l > MaxInitialSize || len(msg)-off-l < HeaderSize-2+prim.AEADTagSize {
			return header{}, 0, ErrMalformed
		}
		h.initial = msg[off : off+l : off+l]
		off += l
	}
	copy(h.dh[:], msg[off:off+KeySize])
	if prim.CheckX25519Public(h.dh[:]) != nil {
		return header{}, 0, ErrMalformed
	}
	off += KeySize
	h.pn = binary.BigEndian.Uint32(msg[off:])
	h.n = binary.BigEndian.Uint32(msg[off+4:])
	off += 8
	if h.n == math.MaxUint32 {
		return header{}, 0, ErrMalformed
	}
	return h, off, nil
}

// InitialMessage returns a copy of the PQXDH initial message carried in
// msg's header, and ok = false if msg carries none. It parses the message
// as Decrypt does (spec/ratchet.md §4.3) and returns ErrMalformed if Decrypt
// would refuse it as malformed; it does not authenticate anything. A
// responder uses it to run PQXDH before it has a session, then
// NewResponder and Decrypt, which authenticates the whole header.
func InitialMessage(msg []byte) (initial []byte, ok bool, err error) {
	h, _, err := parseMessage(msg)
	if err != nil {
		return nil, false, err
	}
	if h.initial == nil {
		return nil, false, nil
	}
	return append([]byte(nil), h.initial...), true, nil
}
