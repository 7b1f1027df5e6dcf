package tlsconfig

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrPinMismatch is returned when a server's certificate does not have the
// pinned fingerprint.
var ErrPinMismatch = errors.New("tlsconfig: server certificate does not match the pinned fingerprint")

// Fingerprint is the SHA-256 hash of a certificate's DER encoding.
type Fingerprint [sha256.Size]byte

// FingerprintOf returns the fingerprint of a DER-encoded certificate.
func FingerprintOf(der []byte) Fingerprint { return sha256.Sum256(der) }

// String formats f as 64 lower-case hex digits without separators, the
// form sealpostd prints and clients take on the command line.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// ParseFingerprint parses a fingerprint written as 64 hex digits, in either
// case, with or without colons between the bytes (the form
// `openssl x509 -fingerprint -sha256` prints). An optional "sha256:" or
// "SHA256=" prefix is accepted.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	t := strings.TrimSpace(s)
	for _, p := range []string{"sha256:", "sha256="} {
		if len(t) >= len(p) && strings.EqualFold(t[:len(p)], p) {
			t = t[len(p):]
			break
		}
	}
	if strings.Contains(t, ":") {
		parts := strings.Split(t, ":")
		if len(parts) != len(f) {
			return f, fmt.Errorf("tlsconfig: fingerprint %q: want %d colon-separated bytes", s, len(f))
		}
		for _, p := range parts {
			if len(p) != 2 {
				return f, fmt.Errorf("tlsconfig: fingerprint %q: want two hex digits between colons", s)
			}
		}
		t = strings.Join(parts, "")
	}
	if len(t) != hex.EncodedLen(len(f)) {
		return f, fmt.Errorf("tlsconfig: fingerprint %q: want %d hex digits", s, hex.EncodedLen(len(f)))
	}
	if _, err := hex.Decode(f[:], []byte(t)); err != nil {
		return Fingerprint{}, fmt.Errorf("tlsconfig: fingerprint %q: not hex", s)
	}
	return f, nil
}

// VerifyPeerCertificate checks that the first (leaf) certificate of
// rawCerts has fingerprint f; it has the signature of
// tls.Config.VerifyPeerCertificate and ignores verifiedChains. Note that
// crypto/tls does not call VerifyPeerCertificate on resumed connections;
// ClientConfig uses VerifyConnection, which it does call.
func (f Fingerprint) VerifyPeerCertificate(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return ErrPinMismatch
	}
	got := FingerprintOf(rawCerts[0])
	if subtle.ConstantTimeCompare(got[:], f[:]) != 1 {
		return ErrPinMismatch
	}
	return nil
}
