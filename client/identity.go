package client

import (
	"fmt"
	"sync"

	"github.com/awnumar/memguard"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
)

// seedSize is the size of each private key held in guarded memory: the
// account key's Ed25519 seed, the device's Ed25519 seed and X25519 key.
const seedSize = 32

// identity is this device's identity while the client is open. The
// private keys live in one frozen memguard buffer (mlocked, guard pages,
// read-only), laid out as account seed (zeros on a device without it) ||
// device signing seed || device X25519 key, and are turned into key
// objects only for the operation that needs them (spec/client.md §8).
type identity struct {
	handle     string
	device     keys.DeviceID
	cert       *keys.DeviceCertificate
	certBytes  []byte
	accountKey keys.AccountPublicKey
	hasAccount bool

	mu        sync.RWMutex // read-held while the keys are read, write-held by destroy
	destroyed bool
	secrets   *memguard.LockedBuffer
}

// newIdentity moves the stored identity's private keys into guarded memory
// (wiping the copies in s) and checks that they match the certificate.
func newIdentity(s localstore.Identity) (id *identity, err error) {
	defer memguard.WipeBytes(s.AccountSeed)
	defer memguard.WipeBytes(s.SigningSeed)
	defer memguard.WipeBytes(s.DHPrivate)
	cert, err := keys.ParseDeviceCertificate(s.Certificate)
	if err != nil {
		return nil, fmt.Errorf("%w: stored device certificate: %v", ErrCorrupt, err)
	}
	if cert.Handle != s.Handle || uint32(cert.Device) != s.DeviceID || len(s.SigningSeed) != seedSize || len(s.DHPrivate) != seedSize ||
		(s.AccountSeed != nil && len(s.AccountSeed) != seedSize) {
		return nil, fmt.Errorf("%w: stored identity does not match its certificate", ErrCorrupt)
	}
	id = &identity{
		handle:     s.Handle,
		device:     cert.Device,
		cert:       cert,
		certBytes:  s.Certificate,
		accountKey: cert.AccountKey,
		hasAccount: s.AccountSeed != nil,
	}
	buf := make([]byte, 3*seedSize)
	if s.AccountSeed != nil {
		copy(buf, s.AccountSeed)
	}
	copy(buf[seedSize:], s.SigningSeed)
	copy(buf[2*seedSize:], s.DHPrivate)
	if err := guard(func() { id.secrets = memguard.NewBufferFromBytes(buf) }); err != nil {
		memguard.WipeBytes(buf)
		return nil, err
	}
	id.secrets.Freeze()
	// The keys must be the certified ones.
	dk, err := id.deviceKeys()
	if err != nil {
		id.destroy()
		return nil, fmt.Errorf("%w: stored device keys: %v", ErrCorrupt, err)
	}
	defer dk.Zero()
	if dk.Public() != cert.Keys {
		id.destroy()
		return nil, fmt.Errorf("%w: stored device keys are not the certified ones", ErrCorrupt)
	}
	if id.hasAccount {
		ak, err := id.accountPrivate()
		if err != nil {
			id.destroy()
			return nil, fmt.Errorf("%w: stored account key: %v", ErrCorrupt, err)
		}
		defer ak.Zero()
		if ak.Public() != cert.AccountKey {
			id.destroy()
			return nil, fmt.Errorf("%w: stored account key is not the certificate's", ErrCorrupt)
		}
	}
	return id, nil
}

// guard runs fn, turning memguard's panic when it cannot lock memory (a
// low RLIMIT_MEMLOCK) into an error.
func guard(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("client: memguard: %v", r)
		}
	}()
	fn()
	return nil
}

// deviceKeys returns the device's private keys; the caller zeroes them.
// After destroy it fails with ErrClosed (a token fetch may outlive Close).
func (id *identity) deviceKeys() (*keys.DevicePrivateKeys, error) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.destroyed {
		return nil, ErrClosed
	}
	b := id.secrets.Bytes()
	return keys.NewDevicePrivateKeys(b[seedSize:2*seedSize], b[2*seedSize:3*seedSize])
}

// accountPrivate returns the account's private key; the caller zeroes it.
func (id *identity) accountPrivate() (*keys.AccountPrivateKey, error) {
	if !id.hasAccount {
		return nil, ErrNoAccountKey
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.destroyed {
		return nil, ErrClosed
	}
	return keys.NewAccountPrivateKey(id.secrets.Bytes()[:seedSize])
}

// Sign implements token.DeviceSigner with the device signing key.
func (id *identity) Sign(label string, msg []byte) []byte {
	dk, err := id.deviceKeys()
	if err != nil {
		// Only after Close (the keys were checked when the identity
		// was loaded). An empty signature is refused by every verifier.
		return nil
	}
	defer dk.Zero()
	return dk.Sign(label, msg)
}

// destroy wipes and frees the guarded keys.
func (id *identity) destroy() {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.secrets != nil && !id.destroyed {
		id.secrets.Destroy()
	}
	id.destroyed = true
}
