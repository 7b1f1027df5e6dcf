package keys

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Bundle is what a key server hands out for one device when a peer claims
// its prekeys (spec/keys.md §9): the device certificate, the signed X25519
// prekey, at most one one-time X25519 prekey, and one ML-KEM-768 prekey,
// one-time if any remained, else the last-resort one.
type Bundle struct {
	Certificate   *DeviceCertificate
	SignedPrekey  *Prekey
	OneTimePrekey *Prekey // nil when the device has none left
	KEMPrekey     *Prekey
}

// BundleError says which part of a bundle failed verification.
type BundleError struct {
	Part string // "version", "certificate", "signed prekey", "one-time prekey", "KEM prekey"
	Err  error  // ErrMalformed, ErrBadSignature, ErrWrongAccount or ErrWrongKind
}

func (e *BundleError) Error() string { return fmt.Sprintf("keys: bundle %s: %v", e.Part, e.Err) }
func (e *BundleError) Unwrap() error { return e.Err }

// Exhausted reports whether the bundle carries no one-time prekey of either
// kind: the responder's one-time keys ran out and only its medium-term keys
// served.
func (b *Bundle) Exhausted() bool {
	return b.OneTimePrekey == nil && b.KEMPrekey != nil && b.KEMPrekey.Kind == LastResortKEMPrekey
}

// Marshal returns the bundle's canonical encoding (spec/keys.md §9).
func (b *Bundle) Marshal() []byte {
	out := []byte{Version}
	out = append(out, b.Certificate.Marshal()...)
	out = append(out, b.SignedPrekey.Marshal()...)
	if b.OneTimePrekey != nil {
		out = append(out, 1)
		out = append(out, b.OneTimePrekey.Marshal()...)
	} else {
		out = append(out, 0)
	}
	return append(out, b.KEMPrekey.Marshal()...)
}

// ParseBundle parses exactly one bundle. It checks structure, kinds and key
// encodings; VerifyBundle checks signatures and the account.
func ParseBundle(data []byte) (*Bundle, error) {
	s := cryptobyte.String(data)
	var version, hasOneTime uint8
	if !s.ReadUint8(&version) {
		return nil, &BundleError{"version", malformed("empty bundle")}
	}
	if version != Version {
		return nil, &BundleError{"version", malformed("bundle version %d", version)}
	}
	var b Bundle
	var err error
	if b.Certificate, err = readDeviceCertificate(&s); err != nil {
		return nil, &BundleError{"certificate", err}
	}
	if b.SignedPrekey, err = readPrekey(&s); err != nil {
		return nil, &BundleError{"signed prekey", err}
	}
	if !s.ReadUint8(&hasOneTime) || hasOneTime > 1 {
		return nil, &BundleError{"one-time prekey", malformed("bad presence byte")}
	}
	if hasOneTime == 1 {
		if b.OneTimePrekey, err = readPrekey(&s); err != nil {
			return nil, &BundleError{"one-time prekey", err}
		}
	}
	if b.KEMPrekey, err = readPrekey(&s); err != nil {
		return nil, &BundleError{"KEM prekey", err}
	}
	if !s.Empty() {
		return nil, &BundleError{"KEM prekey", malformed("trailing bytes after bundle")}
	}
	if err := b.checkKinds(); err != nil {
		return nil, err
	}
	return &b, nil
}

// checkKinds checks each prekey sits where its kind allows.
func (b *Bundle) checkKinds() error {
	switch {
	case b == nil || b.Certificate == nil:
		return &BundleError{"certificate", malformed("missing certificate")}
	case b.SignedPrekey == nil:
		return &BundleError{"signed prekey", malformed("missing signed prekey")}
	case b.KEMPrekey == nil:
		return &BundleError{"KEM prekey", malformed("missing KEM prekey")}
	}
	if b.SignedPrekey.Kind != SignedPrekey {
		return &BundleError{"signed prekey", ErrWrongKind}
	}
	if b.OneTimePrekey != nil && b.OneTimePrekey.Kind != OneTimePrekey {
		return &BundleError{"one-time prekey", ErrWrongKind}
	}
	if !b.KEMPrekey.Kind.IsKEM() {
		return &BundleError{"KEM prekey", ErrWrongKind}
	}
	return nil
}

// VerifyBundle checks the whole chain of a bundle (spec/keys.md §9.2): the
// certificate names handle and account key aik and is signed by aik; each
// prekey has the kind its place requires, a canonical key and a signature by
// the certified device signing key. The error is a *BundleError naming the
// part that failed.
func VerifyBundle(handle string, aik AccountPublicKey, b *Bundle) error {
	if err := b.checkKinds(); err != nil {
		return err
	}
	if err := b.Certificate.VerifyFor(handle, aik); err != nil {
		return &BundleError{"certificate", err}
	}
	// VerifyFor checked the certificate's keys, so the device signing key
	// is decoded once for the three prekey signatures.
	dev := b.Certificate.Keys.Signing
	if err := b.SignedPrekey.verifyChecked(dev); err != nil {
		return &BundleError{"signed prekey", err}
	}
	if b.OneTimePrekey != nil {
		if err := b.OneTimePrekey.verifyChecked(dev); err != nil {
			return &BundleError{"one-time prekey", err}
		}
	}
	if err := b.KEMPrekey.verifyChecked(dev); err != nil {
		return &BundleError{"KEM prekey", err}
	}
	return nil
}
