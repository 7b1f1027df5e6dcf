package keys

import (
	"bytes"
	"crypto/mlkem"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"golang.org/x/crypto/cryptobyte"
)

// PrekeyKind says what a prekey is and how it may be used (spec/keys.md §8).
type PrekeyKind uint8

const (
	// SignedPrekey is a device's medium-term X25519 prekey (SPK).
	SignedPrekey PrekeyKind = 1
	// OneTimePrekey is an X25519 prekey handed out at most once (OPK).
	OneTimePrekey PrekeyKind = 2
	// LastResortKEMPrekey is a device's medium-term ML-KEM-768 prekey,
	// served when no one-time KEM prekey remains (PQSPK).
	LastResortKEMPrekey PrekeyKind = 3
	// OneTimeKEMPrekey is an ML-KEM-768 prekey handed out at most once (PQOPK).
	OneTimeKEMPrekey PrekeyKind = 4
)

func (k PrekeyKind) String() string {
	switch k {
	case SignedPrekey:
		return "signed-prekey"
	case OneTimePrekey:
		return "one-time-prekey"
	case LastResortKEMPrekey:
		return "last-resort-kem-prekey"
	case OneTimeKEMPrekey:
		return "one-time-kem-prekey"
	}
	return fmt.Sprintf("prekey-kind-%d", uint8(k))
}

// IsKEM reports whether prekeys of this kind are ML-KEM-768 keys.
func (k PrekeyKind) IsKEM() bool { return k == LastResortKEMPrekey || k == OneTimeKEMPrekey }

// publicSize is the size of the public key of a prekey of kind k, or 0 for
// an unknown kind.
func (k PrekeyKind) publicSize() int {
	switch k {
	case SignedPrekey, OneTimePrekey:
		return DHKeySize
	case LastResortKEMPrekey, OneTimeKEMPrekey:
		return KEMKeySize
	}
	return 0
}

// secretSize is the size of the private key of a prekey of kind k.
func (k PrekeyKind) secretSize() int {
	if k.IsKEM() {
		return KEMSeedSize
	}
	return prim.X25519Size
}

// Prekey is a public prekey signed by a device signing key (spec/keys.md §8).
type Prekey struct {
	Kind      PrekeyKind
	ID        uint32
	Public    []byte // 32 bytes (X25519) or 1184 bytes (ML-KEM-768)
	Signature [SignatureSize]byte

	// kem caches the parsed ML-KEM-768 key, and kemBytes the encoding it was
	// parsed from, so a bundle's KEM key is expanded once, not at every check.
	kem      *mlkem.EncapsulationKey768
	kemBytes []byte
}

// PrekeyPrivate is the private half of a prekey, kept by the device.
type PrekeyPrivate struct {
	Kind PrekeyKind
	ID   uint32
	// Secret is the X25519 private key (32 bytes) or the ML-KEM-768
	// decapsulation key seed d || z (64 bytes, FIPS 203 §7.1). An X25519
	// secret is read in place by every agreement (prim.X25519), never
	// copied into a key object.
	Secret []byte

	// kem holds the ML-KEM key expanded from Secret by GeneratePrekey or
	// LoadPrekeyPrivate, so a key kept in memory is expanded once.
	// crypto/mlkem keeps it where it cannot be wiped (SECURITY.md).
	kem *mlkem.DecapsulationKey768
}

// LoadPrekeyPrivate returns the private prekey of the given kind, id and
// secret (as stored by the client). secret is used in place, not copied:
// the caller keeps it unchanged while the prekey is in use and wipes it
// afterwards (the client passes a locked buffer, spec/client.md §8). An
// ML-KEM seed is expanded once, here.
func LoadPrekeyPrivate(kind PrekeyKind, id uint32, secret []byte) (*PrekeyPrivate, error) {
	if kind.publicSize() == 0 {
		return nil, ErrWrongKind
	}
	p := &PrekeyPrivate{Kind: kind, ID: id, Secret: secret}
	if err := p.expand(); err != nil {
		return nil, err
	}
	return p, nil
}

// expand checks Secret and fills the ML-KEM cache from it.
func (p *PrekeyPrivate) expand() error {
	var err error
	if p.Kind.IsKEM() {
		p.kem, err = p.KEM()
	} else {
		_, err = p.X25519()
	}
	return err
}

// GeneratePrekey creates a prekey of the given kind and id and signs it with
// the device signing key. It reads 32 bytes from rand for an X25519 prekey
// and 64 for an ML-KEM-768 one (spec/keys.md §8).
func (d *DevicePrivateKeys) GeneratePrekey(rand io.Reader, kind PrekeyKind, id uint32) (*PrekeyPrivate, *Prekey, error) {
	if kind.publicSize() == 0 {
		return nil, nil, ErrWrongKind
	}
	secret := make([]byte, kind.secretSize())
	if _, err := io.ReadFull(rand, secret); err != nil {
		return nil, nil, err
	}
	priv := &PrekeyPrivate{Kind: kind, ID: id, Secret: secret}
	if err := priv.expand(); err != nil {
		return nil, nil, err
	}
	pub, err := priv.public()
	if err != nil {
		return nil, nil, err
	}
	p := &Prekey{Kind: kind, ID: id, Public: pub}
	p.cacheKEM()
	copy(p.Signature[:], d.Sign(LabelPrekey, p.body()))
	return priv, p, nil
}

// public derives the public key from the private one.
func (p *PrekeyPrivate) public() ([]byte, error) {
	if p.Kind.IsKEM() {
		dk, err := p.KEM()
		if err != nil {
			return nil, err
		}
		return dk.EncapsulationKey().Bytes(), nil
	}
	k, err := p.X25519()
	if err != nil {
		return nil, err
	}
	pub, err := prim.X25519Public(k)
	return pub[:], err
}

// X25519 returns the private key of an X25519 prekey: Secret itself, for
// prim.DH, after checking its kind and length.
func (p *PrekeyPrivate) X25519() ([]byte, error) {
	if p.Kind.IsKEM() || p.Kind.publicSize() == 0 {
		return nil, ErrWrongKind
	}
	if len(p.Secret) != prim.X25519Size {
		return nil, malformed("X25519 prekey secret length %d", len(p.Secret))
	}
	return p.Secret, nil
}

// KEM returns the decapsulation key of an ML-KEM-768 prekey.
func (p *PrekeyPrivate) KEM() (*mlkem.DecapsulationKey768, error) {
	if !p.Kind.IsKEM() {
		return nil, ErrWrongKind
	}
	if p.kem != nil && prim.Equal(p.kem.Bytes(), p.Secret) {
		return p.kem, nil
	}
	if len(p.Secret) != KEMSeedSize {
		return nil, malformed("KEM prekey seed length %d", len(p.Secret))
	}
	return mlkem.NewDecapsulationKey768(p.Secret)
}

// Zero overwrites the private key bytes and drops the expanded ML-KEM key,
// which crypto/mlkem holds where it cannot be wiped (best effort,
// SECURITY.md). A caller that passed its own (read-only) memory to
// LoadPrekeyPrivate calls Forget instead and wipes that memory itself.
func (p *PrekeyPrivate) Zero() {
	prim.Zero(p.Secret)
	p.kem = nil
}

// Forget drops the references to the private key without writing to it.
func (p *PrekeyPrivate) Forget() {
	p.Secret, p.kem = nil, nil
}

// body is the signed part: kind || id || public key.
func (p *Prekey) body() []byte {
	b := make([]byte, 0, 5+len(p.Public))
	b = append(b, byte(p.Kind))
	b = binary.BigEndian.AppendUint32(b, p.ID)
	return append(b, p.Public...)
}

// Marshal returns the prekey's canonical encoding (spec/keys.md §8).
func (p *Prekey) Marshal() []byte { return append(p.body(), p.Signature[:]...) }

// ParsePrekey parses exactly one prekey, checking its structure and public
// key but not its signature.
func ParsePrekey(b []byte) (*Prekey, error) {
	s := cryptobyte.String(b)
	p, err := readPrekey(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after prekey")
	}
	return p, nil
}

// readPrekey reads one prekey from the front of s; its kind gives its length.
func readPrekey(s *cryptobyte.String) (*Prekey, error) {
	var (
		kind uint8
		pub  []byte
		p    Prekey
	)
	if !s.ReadUint8(&kind) {
		return nil, malformed("truncated prekey")
	}
	p.Kind = PrekeyKind(kind)
	n := p.Kind.publicSize()
	if n == 0 {
		return nil, malformed("unknown prekey kind %d", kind)
	}
	if !s.ReadUint32(&p.ID) || !s.ReadBytes(&pub, n) || !s.CopyBytes(p.Signature[:]) {
		return nil, malformed("truncated %v", p.Kind)
	}
	p.Public = append([]byte(nil), pub...)
	p.cacheKEM() // parse an ML-KEM key once: checkPublic then finds it
	if err := p.checkPublic(); err != nil {
		return nil, err
	}
	return &p, nil
}

// checkPublic checks a prekey's kind and public key encoding (spec/keys.md
// §8). For an ML-KEM key this is the FIPS 203 §7.2 encapsulation key check;
// the parsed key is kept for EncapsulationKey.
func (p *Prekey) checkPublic() error {
	if p.Kind.publicSize() == 0 || len(p.Public) != p.Kind.publicSize() {
		return malformed("prekey kind %d with %d-byte key", p.Kind, len(p.Public))
	}
	if p.Kind.IsKEM() {
		_, err := p.EncapsulationKey()
		return err
	}
	if err := prim.CheckX25519Public(p.Public); err != nil {
		return malformed("%v: %v", p.Kind, err)
	}
	return nil
}

// cacheKEM keeps the parsed ML-KEM key of a new prekey. Only the
// constructors (GeneratePrekey, readPrekey) call it, so a Prekey is
// read-only, and safe for concurrent use, once returned.
func (p *Prekey) cacheKEM() {
	if !p.Kind.IsKEM() {
		return
	}
	if ek, err := mlkem.NewEncapsulationKey768(p.Public); err == nil {
		p.kem, p.kemBytes = ek, append([]byte(nil), p.Public...)
	}
}

// EncapsulationKey returns the parsed ML-KEM-768 key of a KEM prekey. A
// prekey from ParsePrekey, ParseBundle or GeneratePrekey keeps the key it
// parsed, so this is free unless Public was changed since.
func (p *Prekey) EncapsulationKey() (*mlkem.EncapsulationKey768, error) {
	if !p.Kind.IsKEM() {
		return nil, ErrWrongKind
	}
	if p.kem != nil && bytes.Equal(p.kemBytes, p.Public) {
		return p.kem, nil
	}
	ek, err := mlkem.NewEncapsulationKey768(p.Public)
	if err != nil {
		return nil, malformed("%v: invalid ML-KEM-768 encapsulation key", p.Kind)
	}
	return ek, nil
}

// Verify checks the prekey's encoding and its signature by the device
// signing key (spec/keys.md §8).
func (p *Prekey) Verify(deviceSigningKey [SigningKeySize]byte) error {
	if err := prim.CheckEd25519Public(deviceSigningKey[:]); err != nil {
		return malformed("device signing key: %v", err)
	}
	return p.verifyChecked(deviceSigningKey)
}

// verifyChecked is Verify for a device signing key already checked with
// prim.CheckEd25519Public (as a parsed certificate's is).
func (p *Prekey) verifyChecked(deviceSigningKey [SigningKeySize]byte) error {
	if err := p.checkPublic(); err != nil {
		return err
	}
	if !prim.VerifyLabeledChecked(deviceSigningKey[:], LabelPrekey, p.body(), p.Signature[:]) {
		return ErrBadSignature
	}
	return nil
}
