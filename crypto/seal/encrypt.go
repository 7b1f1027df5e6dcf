package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Seal returns an envelope carrying message from the sender device to the
// recipient device (spec/seal.md §4). sender holds the sender device's
// private identity keys and senderCert is the certificate its account issued
// for them; only recipient.DH, the recipient device's X25519 identity key, is
// used.
//
// Seal reads exactly 32 bytes from rand, the ephemeral X25519 private key,
// and only after every check on its arguments has passed. It refuses a
// message longer than MaxMessageSize (ErrTooLarge), sender keys that are not
// the certified ones (ErrSenderMismatch), a certificate that does not parse,
// and a recipient key that is not a valid X25519 public key. It does not
// check the certificate's signature: a sender that seals with a bad
// certificate only makes its own envelopes unopenable.
func Seal(rand io.Reader, sender *keys.DevicePrivateKeys, senderCert *keys.DeviceCertificate, recipient keys.DevicePublicKeys, message []byte) ([]byte, error) {
	size, cert, err := checkSeal(sender, senderCert, recipient, len(message), BucketSize)
	if err != nil {
		return nil, err
	}
	eph, err := prim.NewX25519Key(rand)
	if err != nil {
		return nil, fmt.Errorf("seal: reading randomness: %w", err)
	}
	defer prim.Zero(eph)

	// spec/seal.md §4 step 3 (§3.1, §3.2): lay out the plaintext blocks
	// where their ciphertexts go, then encrypt both in place.
	out := make([]byte, size)
	out[0] = Version
	copy(out[offC1:], cert)
	binary.BigEndian.PutUint32(out[offC2:], uint32(len(message)))
	copy(out[offC2+LengthFieldSize:], message)
	if err := sealInPlace(out, eph, sender.DH(), recipient.DH[:]); err != nil {
		return nil, err
	}
	return out, nil
}

// checkSeal makes the checks of spec/seal.md §4 step 1, shared by both
// versions (§10.5 step 1), before any randomness is read: the message
// fits a bucket of bucket, S is the key the certificate names, the
// certificate encodes within the certificate block and parses, and R is a
// valid X25519 public key. It returns the envelope size and the
// certificate's encoding.
func checkSeal(sender *keys.DevicePrivateKeys, senderCert *keys.DeviceCertificate, recipient keys.DevicePublicKeys, messageLen int, bucket func(int) (int, error)) (int, []byte, error) {
	if sender == nil || sender.DH() == nil || senderCert == nil {
		return 0, nil, errors.New("seal: missing sender keys or certificate")
	}
	size, err := bucket(messageLen)
	if err != nil {
		return 0, nil, err
	}
	if sender.Public() != senderCert.Keys {
		return 0, nil, ErrSenderMismatch
	}
	cert := senderCert.Marshal()
	if len(cert) > CertBlockSize {
		return 0, nil, fmt.Errorf("seal: sender certificate: %w", keys.ErrMalformed)
	}
	if _, err := keys.ParseDeviceCertificate(cert); err != nil {
		return 0, nil, fmt.Errorf("seal: sender certificate: %w", err)
	}
	if err := prim.CheckX25519Public(recipient.DH[:]); err != nil {
		return 0, nil, fmt.Errorf("seal: recipient key: %w", err)
	}
	return size, cert, nil
}

// sealInPlace turns a laid-out envelope into a sealed one (spec/seal.md §4
// steps 4-9, and E of step 2). On entry out[0] is the version, the
// certificate block sits at out[offC1:offC1+CertBlockSize] and the message
// block at out[offC2:len(out)-16]; E and both tags are written here.
// It checks nothing about the blocks, so tests can seal malformed ones.
// eph and static are X25519 private keys, read in place.
func sealInPlace(out []byte, eph, static []byte, recipient []byte) error {
	pubE, err := prim.X25519Public(eph)
	if err != nil {
		return fmt.Errorf("seal: ephemeral key: %w", err)
	}
	E := pubE[:]
	copy(out[offEphemeral:offC1], E)

	eDH, err := prim.DH(eph, recipient)
	if err != nil {
		return fmt.Errorf("seal: recipient key: %w", err)
	}
	defer prim.Zero(eDH)
	okm1, chainKey, k1, n1 := ephemeralKeys(eDH, E, recipient)
	defer prim.Zero(okm1)
	// c1 = AEAD(k1, n1, certBlock, ad = version || E), written in place.
	prim.AEADSeal(out[:offC1], k1, n1, out[offC1:offC1+CertBlockSize], out[:offC1])

	sDH, err := prim.DH(static, recipient)
	if err != nil {
		return fmt.Errorf("seal: recipient key: %w", err)
	}
	defer prim.Zero(sDH)
	okm2, k2, n2 := staticKeys(chainKey, out[offC1:offC2], sDH)
	defer prim.Zero(okm2)
	// c2 = AEAD(k2, n2, msgBlock, ad = version || E || c1), written in place.
	prim.AEADSeal(out[:offC2], k2, n2, out[offC2:len(out)-prim.AEADTagSize], out[:offC2])
	return nil
}
