package sendtoken

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"

	"github.com/cloudflare/circl/blindsign/blindrsa"
)

// spkiPrefix is every byte of an issuer public key before the modulus
// (spec/anonymous.md §3.1): the DER SubjectPublicKeyInfo of RFC 9578 §6.5,
// algorithm id-RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt, and
// an RSAPublicKey whose 257-byte modulus INTEGER starts with 0x00.
var spkiPrefix = []byte{
	0x30, 0x82, 0x01, 0x56, // SEQUENCE, 342 bytes
	0x30, 0x41, // AlgorithmIdentifier
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, // id-RSASSA-PSS
	0x30, 0x34, // RSASSA-PSS-params
	0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, // [0] sha384
	0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, // [1] mgf1
	0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, //     with sha384
	0xa2, 0x03, 0x02, 0x01, 0x30, // [2] saltLength 48
	0x03, 0x82, 0x01, 0x0f, 0x00, // BIT STRING, no unused bits
	0x30, 0x82, 0x01, 0x0a, // RSAPublicKey
	0x02, 0x82, 0x01, 0x01, 0x00, // modulus INTEGER, 257 bytes
}

// spkiSuffix is the public exponent 65537 (spec/anonymous.md §3.1).
var spkiSuffix = []byte{0x02, 0x03, 0x01, 0x00, 0x01}

// KeyID names an issuer public key: SHA-256 of its encoding
// (spec/anonymous.md §3.2, RFC 9578 §6.5).
type KeyID [KeyIDSize]byte

// PublicKey is an issuer's public key: an RSA-2048 key with exponent 65537.
type PublicKey struct {
	pk       *rsa.PublicKey
	encoding [PublicKeySize]byte
	id       KeyID
}

// ParsePublicKey decodes the exact encoding of spec/anonymous.md §3.1. Any
// other bytes are ErrMalformed.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize ||
		!bytes.Equal(b[:len(spkiPrefix)], spkiPrefix) ||
		!bytes.Equal(b[PublicKeySize-len(spkiSuffix):], spkiSuffix) {
		return nil, fmt.Errorf("%w: not an issuer public key", ErrMalformed)
	}
	n := b[len(spkiPrefix) : len(spkiPrefix)+ModulusSize]
	if n[0]&0x80 == 0 || n[ModulusSize-1]&1 == 0 {
		return nil, fmt.Errorf("%w: modulus not 2048 bits or even", ErrMalformed)
	}
	return newPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
}

func newPublicKey(pk *rsa.PublicKey) (*PublicKey, error) {
	if pk.E != 65537 || pk.N.BitLen() != 8*ModulusSize || pk.N.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: not an RSA-2048 key with exponent 65537", ErrMalformed)
	}
	k := &PublicKey{pk: pk}
	copy(k.encoding[:], spkiPrefix)
	pk.N.FillBytes(k.encoding[len(spkiPrefix) : len(spkiPrefix)+ModulusSize])
	copy(k.encoding[PublicKeySize-len(spkiSuffix):], spkiSuffix)
	k.id = sha256.Sum256(k.encoding[:])
	return k, nil
}

// Bytes returns the encoding of spec/anonymous.md §3.1.
func (k *PublicKey) Bytes() []byte { return bytes.Clone(k.encoding[:]) }

// ID returns the key id, SHA-256 of Bytes (spec/anonymous.md §3.2).
func (k *PublicKey) ID() KeyID { return k.id }

// Equal reports whether k and o are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool { return o != nil && k.id == o.id }

// PrivateKey is an issuer's signing key for one epoch.
type PrivateKey struct {
	sk     *rsa.PrivateKey
	pub    *PublicKey
	signer blindrsa.Signer
}

// GenerateKey makes a new RSA-2048 issuer key (spec/anonymous.md §3).
// Since Go 1.26 crypto/rsa ignores rand and always uses a secure source;
// rand is taken so callers state where keys come from.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	sk, err := rsa.GenerateKey(rand, 8*ModulusSize)
	if err != nil {
		return nil, fmt.Errorf("sendtoken: generate key: %w", err)
	}
	return newPrivateKey(sk)
}

// ParsePrivateKey decodes a PKCS#8 DER RSA key, as written by
// MarshalPrivateKey. It refuses a key that is not RSA-2048 with exponent
// 65537 (ErrMalformed).
func ParsePrivateKey(der []byte) (*PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	sk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: private key is not RSA", ErrMalformed)
	}
	return newPrivateKey(sk)
}

func newPrivateKey(sk *rsa.PrivateKey) (*PrivateKey, error) {
	if err := sk.Validate(); err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	pub, err := newPublicKey(&sk.PublicKey)
	if err != nil {
		return nil, err
	}
	return &PrivateKey{sk: sk, pub: pub, signer: blindrsa.NewSigner(sk)}, nil
}

// MarshalPrivateKey returns k as PKCS#8 DER, for the key server's storage.
// The result is secret.
func (k *PrivateKey) MarshalPrivateKey() ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(k.sk)
}

// Public returns the public key.
func (k *PrivateKey) Public() *PublicKey { return k.pub }
