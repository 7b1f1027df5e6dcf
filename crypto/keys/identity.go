package keys

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"io"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// AccountPublicKey is an account identity key (AIK), an Ed25519 public key
// (spec/keys.md §4).
type AccountPublicKey [AccountKeySize]byte

// ParseAccountPublicKey checks b as spec/keys.md §2.2 requires.
func ParseAccountPublicKey(b []byte) (AccountPublicKey, error) {
	var k AccountPublicKey
	if err := prim.CheckEd25519Public(b); err != nil {
		return k, malformed("account key: %v", err)
	}
	copy(k[:], b)
	return k, nil
}

// AccountPrivateKey is the private half of an account identity key.
type AccountPrivateKey struct {
	priv ed25519.PrivateKey
}

// GenerateAccountKey creates an account identity key from 32 bytes of rand
// (the Ed25519 seed, RFC 8032 §5.1.5).
func GenerateAccountKey(rand io.Reader) (*AccountPrivateKey, error) {
	priv, err := prim.NewEd25519Key(rand)
	if err != nil {
		return nil, err
	}
	return &AccountPrivateKey{priv}, nil
}

// NewAccountPrivateKey returns the account key whose 32-byte seed is seed.
func NewAccountPrivateKey(seed []byte) (*AccountPrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, malformed("account seed length %d", len(seed))
	}
	return &AccountPrivateKey{ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns a copy of the 32-byte seed, for storage by the client.
func (k *AccountPrivateKey) Seed() []byte { return append([]byte(nil), k.priv.Seed()...) }

// Public returns the account's public key.
func (k *AccountPrivateKey) Public() AccountPublicKey {
	var p AccountPublicKey
	copy(p[:], k.priv[ed25519.SeedSize:])
	return p
}

// Zero overwrites the private key (best effort, SECURITY.md).
func (k *AccountPrivateKey) Zero() { prim.Zero(k.priv) }

// DevicePublicKeys are a device's identity keys: Ed25519 for signatures and
// X25519 for agreement (spec/keys.md §5).
type DevicePublicKeys struct {
	Signing [SigningKeySize]byte
	DH      [DHKeySize]byte
}

// DevicePrivateKeys holds a device's private identity keys.
type DevicePrivateKeys struct {
	sign ed25519.PrivateKey
	dh   *ecdh.PrivateKey
}

// GenerateDeviceKeys creates device identity keys: the Ed25519 seed is the
// first 32 bytes read from rand, the X25519 private key the next 32
// (spec/keys.md §5).
func GenerateDeviceKeys(rand io.Reader) (*DevicePrivateKeys, error) {
	sign, err := prim.NewEd25519Key(rand)
	if err != nil {
		return nil, err
	}
	dh, err := prim.NewX25519PrivateKey(rand)
	if err != nil {
		return nil, err
	}
	return &DevicePrivateKeys{sign, dh}, nil
}

// NewDevicePrivateKeys returns the device keys with the given Ed25519 seed
// and X25519 private key, each 32 bytes.
func NewDevicePrivateKeys(signingSeed, dhPrivate []byte) (*DevicePrivateKeys, error) {
	if len(signingSeed) != ed25519.SeedSize {
		return nil, malformed("device signing seed length %d", len(signingSeed))
	}
	dh, err := prim.X25519PrivateKeyFromBytes(dhPrivate)
	if err != nil {
		return nil, malformed("device agreement key: %v", err)
	}
	return &DevicePrivateKeys{ed25519.NewKeyFromSeed(signingSeed), dh}, nil
}

// SigningSeed returns a copy of the Ed25519 seed, for storage by the client.
func (d *DevicePrivateKeys) SigningSeed() []byte { return append([]byte(nil), d.sign.Seed()...) }

// DHPrivate returns a copy of the X25519 private key bytes.
func (d *DevicePrivateKeys) DHPrivate() []byte { return d.dh.Bytes() }

// DH returns the device's X25519 private key for key agreement.
func (d *DevicePrivateKeys) DH() *ecdh.PrivateKey { return d.dh }

// Sign signs label || 0x00 || msg with the device signing key.
func (d *DevicePrivateKeys) Sign(label string, msg []byte) []byte {
	return prim.Sign(d.sign, label, msg)
}

// Public returns the device's public identity keys.
func (d *DevicePrivateKeys) Public() DevicePublicKeys {
	var p DevicePublicKeys
	copy(p.Signing[:], d.sign[ed25519.SeedSize:])
	copy(p.DH[:], d.dh.PublicKey().Bytes())
	return p
}

// Zero overwrites the signing key. The X25519 key lives inside crypto/ecdh,
// which cannot be wiped from outside (SECURITY.md, "Known limits").
func (d *DevicePrivateKeys) Zero() { prim.Zero(d.sign) }
