// Package seal implements Sealpost's sealed envelopes (spec/seal.md): one
// ratchet message carried from a sender device to one recipient device so
// that the relay storing it learns the recipient address and a size bucket,
// but not who sent it or what it says.
//
// The structure is Signal's sealed sender v1 with our own strings. An
// ephemeral X25519 agreement with the recipient device's identity key
// encrypts the sender's device certificate; a static X25519 agreement between
// the sender's and the recipient's device identity keys, chained to the
// first, encrypts the padded message. Envelopes are padded to a power of two
// between MinEnvelopeSize and MaxEnvelopeSize bytes.
//
// Open authenticates the envelope and returns the sender's certificate after
// checking its self-signature under the account key it names. It does not
// know whether that account key belongs to the handle: the caller must check
// Opened.Sender against the key directory and its transparency log (for
// example with keys.DeviceCertificate.VerifyFor) before trusting the sender.
//
// The package is pure: no I/O and no global state. Randomness is an
// io.Reader supplied by the caller.
package seal

import (
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Version is the first byte of every envelope (spec/seal.md §2).
const Version = 0x01

// KDF labels, spec/seal.md §2 and §4.
const (
	LabelEphemeral = "sealpost/v1/seal-ephemeral"
	LabelStatic    = "sealpost/v1/seal-static"
)

// Sizes, spec/seal.md §2 and §3.
const (
	// CertBlockSize is the size of the plaintext that carries the sender's
	// device certificate: room for a certificate with the longest handle.
	CertBlockSize = keys.MaxCertificateSize
	// LengthFieldSize is the big-endian message length at the start of the
	// message block.
	LengthFieldSize = 4
	// Overhead is every byte of an envelope that is not the message block:
	// version, ephemeral key, encrypted certificate block, and the tag of
	// the message block.
	Overhead = 1 + prim.X25519Size + (CertBlockSize + prim.AEADTagSize) + prim.AEADTagSize
	// MinEnvelopeSize and MaxEnvelopeSize bound the envelope sizes: every
	// envelope is a power of two between them (spec/seal.md §3.3).
	MinEnvelopeSize = 512
	MaxEnvelopeSize = 256 << 10
	// MaxMessageSize is the longest message Seal accepts.
	MaxMessageSize = MaxEnvelopeSize - Overhead - LengthFieldSize
)

// Offsets into an envelope (spec/seal.md §3).
const (
	offEphemeral = 1
	offC1        = offEphemeral + prim.X25519Size
	offC2        = offC1 + CertBlockSize + prim.AEADTagSize // end of the header
	okm1Size     = 32 + prim.AEADKeySize + prim.AEADNonceSize
	okm2Size     = prim.AEADKeySize + prim.AEADNonceSize
	certFixed    = keys.MaxCertificateSize - keys.MaxHandleLen // certificate without its handle
)

// Errors of spec/errors.md §3.5: each sentinel is the name there in Go
// case (ErrSenderMismatch is sender_mismatch); test with errors.Is.
var (
	// ErrMalformed reports an envelope whose outer structure is wrong: a
	// length that is not an envelope size, or an unknown version. These are
	// checked before any secret is used and are visible to anyone.
	ErrMalformed = errors.New("seal: malformed envelope")
	// ErrDecrypt reports an envelope that could not be opened. It is the
	// only error for every check that involves a key, and says nothing about
	// which one failed.
	ErrDecrypt = errors.New("seal: cannot open envelope")
	// ErrTooLarge reports a message longer than MaxMessageSize.
	ErrTooLarge = errors.New("seal: message too large")
	// ErrSenderMismatch reports sender keys that are not the ones the
	// sender certificate certifies.
	ErrSenderMismatch = errors.New("seal: sender keys do not match the sender certificate")
)

// BucketSize returns the size of the envelope that carries a message of
// messageLen bytes: the smallest power of two, at least MinEnvelopeSize, that
// holds Overhead + LengthFieldSize + messageLen bytes (spec/seal.md §3.3).
// It returns ErrTooLarge for a message longer than MaxMessageSize.
func BucketSize(messageLen int) (int, error) {
	if messageLen < 0 || messageLen > MaxMessageSize {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, messageLen, MaxMessageSize)
	}
	need := Overhead + LengthFieldSize + messageLen
	b := MinEnvelopeSize
	for b < need {
		b <<= 1
	}
	return b, nil
}

// ValidEnvelopeSize reports whether n is an envelope size: a power of two
// from MinEnvelopeSize to MaxEnvelopeSize. A relay may refuse any other size
// without reading the envelope (spec/seal.md §3.3).
func ValidEnvelopeSize(n int) bool {
	return n >= MinEnvelopeSize && n <= MaxEnvelopeSize && n&(n-1) == 0
}

// allZero reports whether b is all zeros, in time that depends only on
// len(b).
func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
