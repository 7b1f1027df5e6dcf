package client

import (
	"fmt"
	"sync"

	"github.com/sealpost/sealpost/internal/secmem"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Layout of the guarded buffer (spec/client.md §8): the account key and
// the device signing key each as an Ed25519 private key (seed || public
// key, as crypto/ed25519 signs with it), then the device X25519 key. The
// account key is all zeros on a device without it.
const (
	seedSize    = 32
	offAccount  = 0
	offSigning  = 2 * seedSize
	offDH       = 4 * seedSize
	guardedSize = 5 * seedSize
)

// identity is this device's identity while the client is open. The
// private keys live in one frozen memguard buffer (mlocked, guard pages,
// read-only; in the browser an ordinary buffer, internal/secmem). The X25519 key is used there in place (prim.X25519): no
// copy of it is made. crypto/ed25519 can only sign with a key on the Go
// heap, so each signature copies its Ed25519 key to the heap and wipes the
// copy after (keys.DevicePrivateKeysInPlace); the account key is copied
// for the one operation that signs with it (spec/client.md §8).
type identity struct {
	handle     string
	device     keys.DeviceID
	cert       *keys.DeviceCertificate
	certBytes  []byte
	accountKey keys.AccountPublicKey
	hasAccount bool

	mu        sync.Mutex
	idle      sync.Cond // signalled when users drops to zero
	users     int       // operations using the keys; destroy waits for them
	destroyed bool
	secrets   *secmem.LockedBuffer
	dk        *keys.DevicePrivateKeys // in place over secrets
}

// newIdentity moves the stored identity's private keys into guarded memory
// (wiping the copies in s) and checks that they match the certificate.
func newIdentity(s localstore.Identity) (id *identity, err error) {
	defer secmem.WipeBytes(s.AccountSeed)
	defer secmem.WipeBytes(s.SigningSeed)
	defer secmem.WipeBytes(s.DHPrivate)
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
	id.idle.L = &id.mu
	buf := make([]byte, guardedSize)
	if s.AccountSeed != nil {
		copy(buf[offAccount:], s.AccountSeed)
		copy(buf[offAccount+seedSize:], cert.AccountKey[:])
	}
	copy(buf[offSigning:], s.SigningSeed)
	copy(buf[offSigning+seedSize:], cert.Keys.Signing[:])
	copy(buf[offDH:], s.DHPrivate)
	if err := guard(func() { id.secrets = secmem.NewBufferFromBytes(buf) }); err != nil {
		secmem.WipeBytes(buf)
		return nil, err
	}
	id.secrets.Freeze()
	b := id.secrets.Bytes()
	// The keys must be the certified ones: the X25519 key gives the
	// certified public key, and each Ed25519 seed signs under the public
	// key the certificate names (the buffer pairs them;
	// DevicePrivateKeysInPlace and AccountPrivateKeyFromKey check the pair).
	if id.dk, err = keys.DevicePrivateKeysInPlace(b[offSigning:offDH], b[offDH:guardedSize]); err != nil {
		id.destroy()
		return nil, fmt.Errorf("%w: stored device keys: %v", ErrCorrupt, err)
	}
	if id.dk.Public() != cert.Keys {
		id.destroy()
		return nil, fmt.Errorf("%w: stored device keys are not the certified ones", ErrCorrupt)
	}
	if id.hasAccount {
		ak, err := keys.AccountPrivateKeyFromKey(b[offAccount:offSigning])
		if err != nil {
			id.destroy()
			return nil, fmt.Errorf("%w: stored account key: %v", ErrCorrupt, err)
		}
		ak.Zero()
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

// acquire registers a user of the guarded keys: destroy waits until it
// calls release. After destroy it fails with ErrClosed (a token fetch may
// outlive Close).
func (id *identity) acquire() error {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.destroyed {
		return ErrClosed
	}
	id.users++
	return nil
}

func (id *identity) release() {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.users--
	if id.users == 0 {
		id.idle.Broadcast()
	}
}

// deviceKeys returns the device's private keys, which read the guarded
// buffer in place, and the function that releases them: the caller calls
// it when done and does not Zero the keys (they are shared).
func (id *identity) deviceKeys() (*keys.DevicePrivateKeys, func(), error) {
	if err := id.acquire(); err != nil {
		return nil, nil, err
	}
	return id.dk, id.release, nil
}

// accountPrivate returns a copy of the account's private key for one
// operation, and the function that wipes it.
func (id *identity) accountPrivate() (*keys.AccountPrivateKey, func(), error) {
	if !id.hasAccount {
		return nil, nil, ErrNoAccountKey
	}
	if err := id.acquire(); err != nil {
		return nil, nil, err
	}
	defer id.release()
	ak, err := keys.AccountPrivateKeyFromKey(id.secrets.Bytes()[offAccount:offSigning])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: stored account key: %v", ErrCorrupt, err)
	}
	return ak, ak.Zero, nil
}

// Sign implements token.DeviceSigner with the device signing key.
func (id *identity) Sign(label string, msg []byte) []byte {
	dk, release, err := id.deviceKeys()
	if err != nil {
		// Only after Close (the keys were checked when the identity
		// was loaded). An empty signature is refused by every verifier.
		return nil
	}
	defer release()
	return dk.Sign(label, msg)
}

// destroy waits for the keys' users to release them, then wipes and frees
// the guarded buffer.
func (id *identity) destroy() {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.destroyed {
		return
	}
	id.destroyed = true
	for id.users > 0 {
		id.idle.Wait()
	}
	if id.secrets != nil {
		id.secrets.Destroy()
	}
	if id.dk != nil {
		id.dk.Zero()
	}
}
