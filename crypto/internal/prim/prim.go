// Package prim wraps the primitives Sealpost's protocols are built from, with
// the checks spec/keys.md §2 requires of every key and shared secret:
// canonical public-key encodings, refusal of small-order points, refusal of an
// all-zero X25519 output. Every protocol package calls these wrappers instead
// of the standard library directly, so each check is written once.
//
// The package is pure: no I/O, no global state. Randomness is always an
// io.Reader supplied by the caller.
package prim

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"

	"filippo.io/edwards25519"
)

// Sizes of the encodings used throughout spec/keys.md §2.
const (
	X25519Size        = 32 // X25519 private scalar, public u-coordinate, shared secret
	Ed25519PublicSize = 32
	Ed25519SeedSize   = ed25519.SeedSize
	SignatureSize     = ed25519.SignatureSize
)

// Errors of spec/errors.md §3.1: each sentinel is the name there in Go
// case (ErrZeroSharedSecret is zero_shared_secret); test with errors.Is.
var (
	// ErrNonCanonical reports a public key whose encoding is not the unique
	// canonical one (spec/keys.md §2.1, §2.2).
	ErrNonCanonical = errors.New("prim: non-canonical public key")
	// ErrLowOrder reports a public key of small order (spec/keys.md §2.1, §2.2).
	ErrLowOrder = errors.New("prim: low-order public key")
	// ErrZeroSharedSecret reports an X25519 output of all zeros (spec/keys.md §2.1).
	ErrZeroSharedSecret = errors.New("prim: all-zero X25519 shared secret")
	// ErrLength reports an encoding of the wrong length.
	ErrLength = errors.New("prim: wrong key length")
)

// x25519LowOrder lists the canonical encodings of the u-coordinates of the
// points of small order on Curve25519 and its twist (spec/keys.md §2.1).
var x25519LowOrder = [][X25519Size]byte{
	{},  // u = 0
	{1}, // u = 1
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

// CheckX25519Public checks an X25519 public key as spec/keys.md §2.1 says:
// exactly 32 bytes, bit 255 clear, u < 2^255-19, and not one of the
// small-order u-coordinates.
func CheckX25519Public(b []byte) error {
	if len(b) != X25519Size {
		return ErrLength
	}
	if b[31]&0x80 != 0 || !x25519Reduced(b) {
		return ErrNonCanonical
	}
	for i := range x25519LowOrder {
		if subtle.ConstantTimeCompare(b, x25519LowOrder[i][:]) == 1 {
			return ErrLowOrder
		}
	}
	return nil
}

// x25519Reduced reports whether the little-endian value b (bit 255 clear) is
// less than p = 2^255-19. The only values in [p, 2^255) have bytes 1..30 equal
// to 0xff, byte 31 equal to 0x7f and byte 0 at least 0xed.
func x25519Reduced(b []byte) bool {
	if b[31] != 0x7f || b[0] < 0xed {
		return true
	}
	for _, c := range b[1:31] {
		if c != 0xff {
			return true
		}
	}
	return false
}

// CheckEd25519Public checks an Ed25519 public key as spec/keys.md §2.2 says:
// exactly 32 bytes; y < p (a canonical field element); a point on the curve;
// not of small order. The only points whose x is zero, where a set sign bit
// would be a second encoding, have small order, so they are refused too.
func CheckEd25519Public(b []byte) error {
	if len(b) != Ed25519PublicSize {
		return ErrLength
	}
	var y [32]byte
	copy(y[:], b)
	y[31] &= 0x7f
	if !x25519Reduced(y[:]) { // same field, same bound: y < 2^255-19
		return ErrNonCanonical
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return ErrNonCanonical
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return ErrLowOrder
	}
	return nil
}

// NewEd25519Key reads a 32-byte seed from rand and returns the key pair it
// determines (RFC 8032 §5.1.5).
func NewEd25519Key(rand io.Reader) (ed25519.PrivateKey, error) {
	var seed [Ed25519SeedSize]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed[:]), nil
}

// Sign signs label || 0x00 || msg (spec/keys.md §2.3). Every signature in
// Sealpost is over a domain-separated message built this way.
// A key of the wrong length (a zeroed key object) gives a nil signature,
// which every verifier refuses.
func Sign(priv ed25519.PrivateKey, label string, msg []byte) []byte {
	if len(priv) != ed25519.PrivateKeySize {
		return nil
	}
	return ed25519.Sign(priv, SignedMessage(label, msg))
}

// VerifyLabeled checks an Ed25519 signature over label || 0x00 || msg
// (spec/keys.md §2.3) with Verify.
func VerifyLabeled(pub []byte, label string, msg, sig []byte) bool {
	return Verify(pub, SignedMessage(label, msg), sig)
}

// Verify checks pub (CheckEd25519Public) and then an Ed25519 signature over
// msg (RFC 8032 §5.1.7, cofactorless, as crypto/ed25519 does; signatures
// with S ≥ L are refused). spec/keys.md §2.2.
func Verify(pub, msg, sig []byte) bool {
	if CheckEd25519Public(pub) != nil {
		return false
	}
	return VerifyChecked(pub, msg, sig)
}

// VerifyLabeledChecked is VerifyLabeled for a public key that has already
// passed CheckEd25519Public, so that verifying several signatures by one key
// decodes it once.
func VerifyLabeledChecked(pub []byte, label string, msg, sig []byte) bool {
	return VerifyChecked(pub, SignedMessage(label, msg), sig)
}

// VerifyChecked is Verify for a public key that has already passed
// CheckEd25519Public.
func VerifyChecked(pub, msg, sig []byte) bool {
	if len(pub) != Ed25519PublicSize || len(sig) != SignatureSize {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pub), msg, sig)
}

// SignedMessage returns label || 0x00 || msg, the bytes an Ed25519 signature
// in Sealpost covers (spec/keys.md §2.3).
func SignedMessage(label string, msg []byte) []byte {
	m := make([]byte, 0, len(label)+1+len(msg))
	m = append(m, label...)
	m = append(m, 0)
	return append(m, msg...)
}

// HKDF is HKDF-SHA256 (RFC 5869) with the given salt, input and info,
// returning n bytes. A nil salt means HashLen zero bytes, as in RFC 5869 §2.2.
func HKDF(salt, ikm []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, ikm, salt, info, n)
	if err != nil {
		// Only possible for n > 255*32, a programming error.
		panic("prim: " + err.Error())
	}
	return out
}

// Zero overwrites b with zeros. Erasure is best effort under a garbage
// collector (SECURITY.md, "Known limits").
func Zero(b []byte) { clear(b) }

// Equal compares two secrets in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
