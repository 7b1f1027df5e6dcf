package keys

import (
	"crypto/ed25519"
	"fmt"
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
	priv ed25519.PrivateKey // seed || public key, on the Go heap (see signingCopy)
}

// GenerateAccountKey creates an account identity key from 32 bytes of rand
// (the Ed25519 seed, RFC 8032 §5.1.5).
func GenerateAccountKey(rand io.Reader) (*AccountPrivateKey, error) {
	priv, err := prim.NewEd25519Key(rand)
	if err != nil {
		return nil, err
	}
	return &AccountPrivateKey{priv: priv}, nil
}

// NewAccountPrivateKey returns the account key whose 32-byte seed is seed.
func NewAccountPrivateKey(seed []byte) (*AccountPrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, malformed("account seed length %d", len(seed))
	}
	return &AccountPrivateKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// AccountPrivateKeyFromKey returns the account key priv, an
// ed25519.PrivateKey (seed || public key), copied (signingCopy) and checked.
// Unlike NewAccountPrivateKey it derives nothing from the seed.
func AccountPrivateKeyFromKey(priv []byte) (*AccountPrivateKey, error) {
	k, err := signingCopy(priv)
	if err != nil {
		return nil, fmt.Errorf("account key: %w", err)
	}
	return &AccountPrivateKey{priv: k}, nil
}

// signingCopy returns a heap copy of priv (seed || public key) after
// checking that the seed gives the public half (signingKeyMatches).
func signingCopy(priv []byte) (ed25519.PrivateKey, error) {
	if err := signingKeyMatches(priv); err != nil {
		return nil, err
	}
	return append(make(ed25519.PrivateKey, 0, ed25519.PrivateKeySize), priv...), nil
}

// signingKeyMatches checks that priv is an Ed25519 private key (seed ||
// public key) whose seed gives its public half: it signs a fixed message
// and verifies the signature under the public half, deriving nothing that
// signing would not. A seed paired with another public key signs nothing
// that verifies.
func signingKeyMatches(priv []byte) error {
	if len(priv) != ed25519.PrivateKeySize {
		return malformed("Ed25519 private key length %d", len(priv))
	}
	msg := []byte("sealpost/v1/local-key-check")
	if !prim.Verify(priv[ed25519.SeedSize:], prim.SignedMessage(keyCheckLabel, msg), signWithCopy(priv, keyCheckLabel, msg)) {
		return malformed("Ed25519 seed and public key do not match")
	}
	return nil
}

const keyCheckLabel = "sealpost/v1/local-key-check"

// signWithCopy signs label || 0x00 || msg with priv (seed || public key)
// held in memory crypto/ed25519 cannot use: crypto/ed25519 caches the
// expanded key (a copy of the seed, the scalar and the prefix) under a weak
// pointer to the key's bytes, which must be on the Go heap, until they are
// unreachable. So priv is copied to a fresh heap slice for this one
// signature and the copy wiped after it; the expanded key crypto/ed25519
// cached for it is dropped once the collector finds the slice unreachable,
// but not wiped (SECURITY.md "Known limits").
func signWithCopy(priv []byte, label string, msg []byte) []byte {
	if len(priv) != ed25519.PrivateKeySize {
		return nil
	}
	k := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	copy(k, priv)
	defer prim.Zero(k)
	return prim.Sign(k, label, msg)
}

// Seed returns a copy of the 32-byte seed, for storage by the client.
func (k *AccountPrivateKey) Seed() []byte { return append([]byte(nil), k.priv.Seed()...) }

// Public returns the account's public key.
func (k *AccountPrivateKey) Public() AccountPublicKey {
	var p AccountPublicKey
	copy(p[:], k.priv[ed25519.SeedSize:])
	return p
}

// Zero overwrites the private key (best effort, SECURITY.md "Known
// limits": crypto/ed25519 keeps its own expanded copy after signing).
func (k *AccountPrivateKey) Zero() { prim.Zero(k.priv) }

// DevicePublicKeys are a device's identity keys: Ed25519 for signatures and
// X25519 for agreement (spec/keys.md §5).
type DevicePublicKeys struct {
	Signing [SigningKeySize]byte
	DH      [DHKeySize]byte
}

// DevicePrivateKeys holds a device's private identity keys. The X25519 key
// is a plain 32-byte slice read in place by every agreement (prim.X25519):
// no key object is built for it. Keys from GenerateDeviceKeys and
// NewDevicePrivateKeys own their bytes; keys from DevicePrivateKeysInPlace
// read the caller's memory, which the client keeps locked (spec/client.md
// §8), and copy the signing key only for the duration of one signature
// (signWithCopy).
type DevicePrivateKeys struct {
	sign     ed25519.PrivateKey // seed || public key
	dh       []byte             // X25519 private key
	pub      DevicePublicKeys
	borrowed bool // sign and dh are the caller's: Zero leaves them
}

// GenerateDeviceKeys creates device identity keys: the Ed25519 seed is the
// first 32 bytes read from rand, the X25519 private key the next 32
// (spec/keys.md §5).
func GenerateDeviceKeys(rand io.Reader) (*DevicePrivateKeys, error) {
	sign, err := prim.NewEd25519Key(rand)
	if err != nil {
		return nil, err
	}
	dh, err := prim.NewX25519Key(rand)
	if err != nil {
		prim.Zero(sign)
		return nil, err
	}
	return newDeviceKeys(sign, dh, false)
}

// NewDevicePrivateKeys returns the device keys with the given Ed25519 seed
// and X25519 private key, each 32 bytes, copied.
func NewDevicePrivateKeys(signingSeed, dhPrivate []byte) (*DevicePrivateKeys, error) {
	if len(signingSeed) != ed25519.SeedSize {
		return nil, malformed("device signing seed length %d", len(signingSeed))
	}
	if len(dhPrivate) != prim.X25519Size {
		return nil, malformed("device agreement key length %d", len(dhPrivate))
	}
	return newDeviceKeys(ed25519.NewKeyFromSeed(signingSeed), append([]byte(nil), dhPrivate...), false)
}

// DevicePrivateKeysInPlace returns device keys over the caller's memory:
// dhPrivate (32 bytes), the X25519 key, is read in place by every
// agreement; signing, an ed25519.PrivateKey (the 32-byte seed followed by
// its public key), is checked here (signingKeyMatches) and copied only
// for each signature (signWithCopy). The caller keeps both unchanged while
// the keys are in use and wipes them itself; Zero drops them without
// writing.
func DevicePrivateKeysInPlace(signing, dhPrivate []byte) (*DevicePrivateKeys, error) {
	if len(dhPrivate) != prim.X25519Size {
		return nil, malformed("device agreement key length %d", len(dhPrivate))
	}
	if err := signingKeyMatches(signing); err != nil {
		return nil, fmt.Errorf("device signing key: %w", err)
	}
	return newDeviceKeys(signing, dhPrivate, true)
}

func newDeviceKeys(sign ed25519.PrivateKey, dh []byte, borrowed bool) (*DevicePrivateKeys, error) {
	d := &DevicePrivateKeys{sign: sign, dh: dh, borrowed: borrowed}
	copy(d.pub.Signing[:], sign[ed25519.SeedSize:])
	var err error
	if d.pub.DH, err = prim.X25519Public(dh); err != nil {
		return nil, malformed("device agreement key: %v", err)
	}
	return d, nil
}

// SigningSeed returns a copy of the Ed25519 seed, for storage by the client.
func (d *DevicePrivateKeys) SigningSeed() []byte { return append([]byte(nil), d.sign.Seed()...) }

// DHPrivate returns a copy of the X25519 private key bytes.
func (d *DevicePrivateKeys) DHPrivate() []byte { return append([]byte(nil), d.dh...) }

// DH returns the device's X25519 private key for key agreement
// (prim.DH), in place: not a copy.
func (d *DevicePrivateKeys) DH() []byte { return d.dh }

// Sign signs label || 0x00 || msg with the device signing key.
func (d *DevicePrivateKeys) Sign(label string, msg []byte) []byte {
	if d.borrowed {
		return signWithCopy(d.sign, label, msg)
	}
	return prim.Sign(d.sign, label, msg)
}

// Public returns the device's public identity keys.
func (d *DevicePrivateKeys) Public() DevicePublicKeys { return d.pub }

// Zero overwrites the keys the value owns; the keys of
// DevicePrivateKeysInPlace are dropped, not written (the caller wipes its
// memory), so Sign and DH return nil afterwards. crypto/ed25519 keeps its
// expanded copy of a signing key after signing, where it cannot be wiped
// (best effort, SECURITY.md "Known limits").
func (d *DevicePrivateKeys) Zero() {
	if d.borrowed {
		d.sign, d.dh = nil, nil
		return
	}
	prim.Zero(d.sign)
	prim.Zero(d.dh)
}
