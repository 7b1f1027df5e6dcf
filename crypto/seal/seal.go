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
// Version 2 (spec/seal.md §10, SealHybrid and OpenHybrid) adds an
// ML-KEM-768 encapsulation to the recipient device's last-resort KEM
// prekey to the ephemeral layer, so that recording envelopes now and
// breaking X25519 later does not reveal their senders. Open opens version 1
// only; OpenHybrid opens both, given a KEMKeys lookup of the recipient's
// last-resort prekeys by key id (KEMKeyID).
//
// The package is pure: no I/O and no global state. Randomness is an
// io.Reader supplied by the caller.
package seal

import (
	"crypto/mlkem"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Version is the first byte of every version 1 envelope (spec/seal.md §2),
// and VersionHybrid of every version 2 (hybrid post-quantum) envelope
// (spec/seal.md §10.1).
const (
	Version       = 0x01
	VersionHybrid = 0x02
)

// KDF labels, spec/seal.md §2 and §4.
const (
	LabelEphemeral = "sealpost/v1/seal-ephemeral"
	LabelStatic    = "sealpost/v1/seal-static"

	// Version 2, spec/seal.md §10.1 and §10.4.
	LabelTranscriptHybrid = "sealpost/v2/seal-transcript"
	LabelEphemeralHybrid  = "sealpost/v2/seal-ephemeral"
	LabelStaticHybrid     = "sealpost/v2/seal-static"
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

// Version 2 sizes, spec/seal.md §10.1 and §10.3.
const (
	// KeyIDSize is the size of the key id that names the recipient's
	// ML-KEM-768 prekey in a version 2 envelope.
	KeyIDSize = 8
	// KEMCiphertextSize is the size of an ML-KEM-768 ciphertext.
	KEMCiphertextSize = mlkem.CiphertextSize768
	// OverheadHybrid is Overhead plus the key id and the ML-KEM-768
	// ciphertext: 271 + 8 + 1088 = 1367.
	OverheadHybrid = Overhead + KeyIDSize + KEMCiphertextSize
	// MinHybridEnvelopeSize is the smallest version 2 envelope: the
	// smallest power of two above OverheadHybrid + LengthFieldSize.
	MinHybridEnvelopeSize = 2048
	// MaxHybridMessageSize is the longest message SealHybrid accepts.
	MaxHybridMessageSize = MaxEnvelopeSize - OverheadHybrid - LengthFieldSize
)

// Offsets into an envelope (spec/seal.md §3).
const (
	offEphemeral = 1
	offC1        = offEphemeral + prim.X25519Size
	offC2        = offC1 + CertBlockSize + prim.AEADTagSize // end of the header
	okm1Size     = 32 + prim.AEADKeySize + prim.AEADNonceSize
	okm2Size     = prim.AEADKeySize + prim.AEADNonceSize
	certFixed    = keys.MaxCertificateSize - keys.MaxHandleLen // certificate without its handle

	// Version 2 (spec/seal.md §10.2).
	offKeyID2 = offC1
	offCT2    = offKeyID2 + KeyIDSize
	offC1v2   = offCT2 + KEMCiphertextSize                 // 1129
	offC2v2   = offC1v2 + CertBlockSize + prim.AEADTagSize // 1351
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
	// ErrBadKEMPrekey reports sealing a version 2 envelope to a KEM prekey
	// that is not a last-resort ML-KEM-768 prekey signed by the recipient
	// device (spec/seal.md §10.5). It wraps the keys error that says why.
	ErrBadKEMPrekey = errors.New("seal: KEM prekey is not the recipient device's signed last-resort ML-KEM-768 prekey")
	// ErrNoKEMKeys reports a version 2 envelope given to Open, or to
	// OpenHybrid without a KEM key lookup: it cannot be opened without the
	// recipient's ML-KEM-768 decapsulation key (spec/seal.md §10.6).
	ErrNoKEMKeys = errors.New("seal: version 2 envelope and no KEM keys to open it")
	// ErrUnknownKEMKey reports a version 2 envelope whose key id names no
	// KEM prekey the recipient holds (spec/seal.md §10.6). The key id is
	// visible to anyone, so this says nothing secret.
	ErrUnknownKEMKey = errors.New("seal: envelope names an unknown KEM key")
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

// BucketSizeHybrid is BucketSize for a version 2 envelope: the smallest
// power of two, at least MinHybridEnvelopeSize, that holds OverheadHybrid +
// LengthFieldSize + messageLen bytes (spec/seal.md §10.3). It returns
// ErrTooLarge for a message longer than MaxHybridMessageSize.
func BucketSizeHybrid(messageLen int) (int, error) {
	if messageLen < 0 || messageLen > MaxHybridMessageSize {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, messageLen, MaxHybridMessageSize)
	}
	need := OverheadHybrid + LengthFieldSize + messageLen
	b := MinHybridEnvelopeSize
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
