// Package keys implements Sealpost's identity keys and the signed objects
// built from them (spec/keys.md): account identity keys, device identity
// keys, device certificates and revocations, signed prekeys, the prekey
// bundle a key server hands out, and safety numbers.
//
// Every value has exactly one byte encoding. Parse functions refuse anything
// else: wrong lengths, unknown versions or kinds, non-canonical public keys,
// trailing bytes. Parsing checks structure only; Verify methods check
// signatures, and VerifyBundle checks a whole bundle's chain at once.
//
// The package is pure: no I/O and no global state. Randomness is an
// io.Reader supplied by the caller.
package keys

import (
	"errors"
	"fmt"
)

// Sizes of spec/keys.md §2.
const (
	AccountKeySize = 32   // Ed25519 public key
	SigningKeySize = 32   // Ed25519 public key
	DHKeySize      = 32   // X25519 public key
	SignatureSize  = 64   // Ed25519 signature
	KEMKeySize     = 1184 // ML-KEM-768 encapsulation key
	KEMSeedSize    = 64   // ML-KEM-768 decapsulation key seed (d || z)
)

// Version is the version byte of every structure in spec/keys.md.
const Version = 0x01

// Signature labels, spec/keys.md §2.3. Each signature covers
// label || 0x00 || body.
const (
	LabelDeviceCertificate = "sealpost/v1/device-certificate"
	LabelDeviceRevocation  = "sealpost/v1/device-revocation"
	LabelPrekey            = "sealpost/v1/prekey"
	// LabelGroupChange: the account key's signature of a group state
	// change (spec/groups.md §4.3).
	LabelGroupChange = "sealpost/v1/group-change"
)

// Errors of spec/errors.md §3.2: each sentinel is the name there in Go
// case (ErrWrongAccount is wrong_account); test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a canonical encoding.
	ErrMalformed = errors.New("keys: malformed encoding")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("keys: bad signature")
	// ErrWrongAccount reports a certificate or revocation that names a
	// different handle or account key than the one it was checked against.
	ErrWrongAccount = errors.New("keys: certificate does not belong to this account")
	// ErrWrongKind reports a prekey of a kind not allowed where it appears.
	ErrWrongKind = errors.New("keys: wrong prekey kind")
)

// asMalformed marks err, found while parsing, as ErrMalformed too.
func asMalformed(err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// malformed wraps ErrMalformed with what was wrong.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
