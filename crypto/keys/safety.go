package keys

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// Safety number parameters, spec/keys.md §10.
const (
	LabelSafetyNumber      = "sealpost/v1/safety-number"
	SafetyNumberIterations = 5200
	safetyFingerprintSize  = 30 // bytes of the final hash kept per account
	// SafetyNumberPrefix begins the compact (QR) form of a safety number.
	SafetyNumberPrefix = "sealpost-sn1:"
)

// ErrSafetyNumberMismatch reports a scanned safety number that is not the
// one computed locally.
var ErrSafetyNumberMismatch = errors.New("keys: safety number does not match")

// SafetyNumber is what two people compare to know they hold each other's
// account keys. It depends only on the two handles and account keys, so it
// is the same on both sides and does not change when devices come and go
// (spec/keys.md §10).
type SafetyNumber struct {
	// first and second are the two accounts' fingerprints, the smaller
	// (byte-wise) first, so both sides compute the same value.
	first, second [safetyFingerprintSize]byte
}

// NewSafetyNumber computes the safety number of two accounts.
func NewSafetyNumber(handleA string, aikA AccountPublicKey, handleB string, aikB AccountPublicKey) (*SafetyNumber, error) {
	if err := CheckHandle(handleA); err != nil {
		return nil, err
	}
	if err := CheckHandle(handleB); err != nil {
		return nil, err
	}
	a, b := fingerprint(handleA, aikA), fingerprint(handleB, aikB)
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	return &SafetyNumber{a, b}, nil
}

// fingerprint is one account's half of a safety number (spec/keys.md §10.1):
// h = SHA-512(label || 0x00 || len(handle) || handle || aik), then
// SafetyNumberIterations-1 times h = SHA-512(h || aik); the first 30 bytes.
func fingerprint(handle string, aik AccountPublicKey) [safetyFingerprintSize]byte {
	in := prim.SignedMessage(LabelSafetyNumber, nil)
	in = append(in, byte(len(handle)))
	in = append(in, handle...)
	in = append(in, aik[:]...)
	h := sha512.Sum512(in)
	buf := make([]byte, 0, sha512.Size+AccountKeySize)
	for i := 1; i < SafetyNumberIterations; i++ {
		buf = append(append(buf[:0], h[:]...), aik[:]...)
		h = sha512.Sum512(buf)
	}
	var fp [safetyFingerprintSize]byte
	copy(fp[:], h[:])
	return fp
}

// digits renders a fingerprint as 30 decimal digits: each 5-byte group, read
// as a big-endian integer, modulo 100000, zero-padded to 5 digits.
func digits(fp [safetyFingerprintSize]byte) string {
	var sb strings.Builder
	for i := 0; i < safetyFingerprintSize; i += 5 {
		var g [8]byte
		copy(g[3:], fp[i:i+5])
		fmt.Fprintf(&sb, "%05d", binary.BigEndian.Uint64(g[:])%100000)
	}
	return sb.String()
}

// Digits returns the 60-digit safety number: the first account's 30 digits
// then the second's (spec/keys.md §10.2).
func (s *SafetyNumber) Digits() string { return digits(s.first) + digits(s.second) }

// Groups returns the digits in twelve groups of five, for display.
func (s *SafetyNumber) Groups() []string {
	d := s.Digits()
	g := make([]string, 0, 12)
	for i := 0; i < len(d); i += 5 {
		g = append(g, d[i:i+5])
	}
	return g
}

// Compact returns the form for QR codes (spec/keys.md §10.3):
// "sealpost-sn1:" || base64url-nopad(first || second).
func (s *SafetyNumber) Compact() string {
	return SafetyNumberPrefix + base64.RawURLEncoding.EncodeToString(append(s.first[:], s.second[:]...))
}

// MatchCompact reports whether a scanned compact string is this safety
// number, comparing in constant time. A malformed string is ErrMalformed;
// a well-formed different one is ErrSafetyNumberMismatch.
func (s *SafetyNumber) MatchCompact(scanned string) error {
	rest, ok := strings.CutPrefix(scanned, SafetyNumberPrefix)
	if !ok {
		return malformed("safety number prefix")
	}
	// The length check comes first: Go's base64 decoder skips '\r' and '\n',
	// which would let more than one string match.
	if len(rest) != base64.RawURLEncoding.EncodedLen(2*safetyFingerprintSize) {
		return malformed("safety number length")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != 2*safetyFingerprintSize {
		return malformed("safety number encoding")
	}
	if !prim.Equal(b, append(s.first[:], s.second[:]...)) {
		return ErrSafetyNumberMismatch
	}
	return nil
}
