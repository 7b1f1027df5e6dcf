package seal

import (
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// KeyID names the recipient's ML-KEM-768 prekey in a version 2 envelope:
// the first 8 bytes of SHA-256 of its encapsulation key (spec/seal.md
// §10.1).
type KeyID [KeyIDSize]byte

// KEMKeyID returns the key id of a last-resort ML-KEM-768 prekey (kind 3):
// the id a version 2 envelope sealed to it carries. A recipient computes it
// for each last-resort prekey it holds to answer a KEMKeys lookup. It
// refuses any other kind with ErrBadKEMPrekey (wrapping keys.ErrWrongKind).
func KEMKeyID(p *keys.Prekey) (KeyID, error) {
	if p == nil || p.Kind != keys.LastResortKEMPrekey {
		return KeyID{}, fmt.Errorf("%w: %w", ErrBadKEMPrekey, keys.ErrWrongKind)
	}
	K := kemKeyHash(p.Public)
	return KeyID(K[:KeyIDSize]), nil
}

// KEMKeys looks up the recipient device's last-resort ML-KEM-768 prekey
// whose key id (KEMKeyID) is id, among the current one and those replaced
// but still kept (spec/client.md §7.2). It returns false if it holds none.
// OpenHybrid calls it at most once per envelope.
type KEMKeys func(id KeyID) (*keys.PrekeyPrivate, bool)

// lookupKEM asks kemKeys for the prekey named id and checks the answer: a
// last-resort KEM prekey whose encapsulation key has that id. It returns
// the decapsulation key and K = SHA-256(ek) (spec/seal.md §10.6 step 4).
func lookupKEM(kemKeys KEMKeys, id KeyID) (*mlkem.DecapsulationKey768, [sha256.Size]byte, bool) {
	p, ok := kemKeys(id)
	if !ok || p == nil || p.Kind != keys.LastResortKEMPrekey {
		return nil, [sha256.Size]byte{}, false
	}
	dk, err := p.KEM()
	if err != nil {
		return nil, [sha256.Size]byte{}, false
	}
	K := kemKeyHash(dk.EncapsulationKey().Bytes())
	if KeyID(K[:KeyIDSize]) != id {
		return nil, [sha256.Size]byte{}, false
	}
	return dk, K, true
}

// SealHybrid returns a version 2 (hybrid post-quantum) envelope carrying
// message from the sender device to the recipient device (spec/seal.md
// §10.5). Its arguments are Seal's, plus kemPrekey: the recipient device's
// last-resort ML-KEM-768 prekey (kind 3), which must be signed by
// recipient.Signing. The recipient needs the prekey's private half to open
// the envelope, so the caller seals to the newest last-resort prekey it
// has seen for that device.
//
// SealHybrid reads exactly 64 bytes from rand, only after every check on
// its arguments has passed: 32 bytes of ephemeral X25519 private key, then
// the 32-byte ML-KEM encapsulation randomness m. When rand is
// crypto/rand.Reader it reads the first 32 only, and crypto/mlkem draws m
// from the same system source. It refuses what Seal refuses (with
// MaxHybridMessageSize for ErrTooLarge), and a KEM prekey that is not of
// kind 3, has an invalid key, or is not signed by recipient.Signing
// (ErrBadKEMPrekey, wrapping the keys error).
func SealHybrid(rnd io.Reader, sender *keys.DevicePrivateKeys, senderCert *keys.DeviceCertificate, recipient keys.DevicePublicKeys, kemPrekey *keys.Prekey, message []byte) ([]byte, error) {
	// spec/seal.md §10.5 step 1: Seal's checks (§4 step 1), then the KEM
	// prekey's.
	size, cert, err := checkSeal(sender, senderCert, recipient, len(message), BucketSizeHybrid)
	if err != nil {
		return nil, err
	}
	if kemPrekey == nil {
		return nil, fmt.Errorf("%w: none given", ErrBadKEMPrekey)
	}
	if kemPrekey.Kind != keys.LastResortKEMPrekey {
		return nil, fmt.Errorf("%w: %v: %w", ErrBadKEMPrekey, kemPrekey.Kind, keys.ErrWrongKind)
	}
	if err := kemPrekey.Verify(recipient.Signing); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKEMPrekey, err)
	}
	ek, err := kemPrekey.EncapsulationKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKEMPrekey, err)
	}

	// Step 2: the ephemeral X25519 key, then step 3: the encapsulation.
	eph, err := prim.NewX25519Key(rnd)
	if err != nil {
		return nil, fmt.Errorf("seal: reading randomness: %w", err)
	}
	defer prim.Zero(eph)
	ss, ct, err := prim.Encapsulate768(rnd, ek)
	if err != nil {
		return nil, fmt.Errorf("seal: reading randomness: %w", err)
	}
	defer prim.Zero(ss)

	// Step 4 (§10.2): lay out the header and both plaintext blocks where
	// their ciphertexts go, then encrypt both in place.
	K := kemKeyHash(kemPrekey.Public)
	out := make([]byte, size)
	out[0] = VersionHybrid
	copy(out[offKeyID2:offCT2], K[:KeyIDSize])
	copy(out[offCT2:offC1v2], ct)
	copy(out[offC1v2:], cert)
	binary.BigEndian.PutUint32(out[offC2v2:], uint32(len(message)))
	copy(out[offC2v2+LengthFieldSize:], message)
	if err := sealHybridInPlace(out, eph, sender.DH(), recipient.DH[:], ss, K); err != nil {
		return nil, err
	}
	return out, nil
}

// sealHybridInPlace turns a laid-out version 2 envelope into a sealed one
// (spec/seal.md §10.5 steps 5-11, and E of step 2). On entry out[0] is the
// version, the key id and the KEM ciphertext are in place, the certificate
// block sits at out[offC1v2:offC1v2+CertBlockSize] and the message block at
// out[offC2v2:len(out)-16]; E and both tags are written here. ss is the KEM
// shared secret and K the hash of the encapsulation key. It checks nothing
// about the blocks, so tests can seal malformed ones.
func sealHybridInPlace(out []byte, eph, static, recipient, ss []byte, K [sha256.Size]byte) error {
	pubE, err := prim.X25519Public(eph)
	if err != nil {
		return fmt.Errorf("seal: ephemeral key: %w", err)
	}
	copy(out[offEphemeral:offC1], pubE[:])

	eDH, err := prim.DH(eph, recipient)
	if err != nil {
		return fmt.Errorf("seal: recipient key: %w", err)
	}
	defer prim.Zero(eDH)
	salt := hybridSalt(out[:offC1v2], recipient, K)
	okm1, chainKey, k1, n1 := ephemeralKeysHybrid(eDH, ss, salt)
	defer prim.Zero(okm1)
	// c1 = AEAD(k1, n1, certBlock, ad = 0x02 || E || kid || ct).
	prim.AEADSeal(out[:offC1v2], k1, n1, out[offC1v2:offC1v2+CertBlockSize], out[:offC1v2])

	sDH, err := prim.DH(static, recipient)
	if err != nil {
		return fmt.Errorf("seal: recipient key: %w", err)
	}
	defer prim.Zero(sDH)
	okm2, k2, n2 := staticKeysLabel(chainKey, out[offC1v2:offC2v2], sDH, LabelStaticHybrid)
	defer prim.Zero(okm2)
	// c2 = AEAD(k2, n2, msgBlock, ad = 0x02 || E || kid || ct || c1).
	prim.AEADSeal(out[:offC2v2], k2, n2, out[offC2v2:len(out)-prim.AEADTagSize], out[:offC2v2])
	return nil
}

// openHybrid runs spec/seal.md §10.6 steps 5-13 on a version 2 envelope of
// a valid size whose KEM key was found, returning the reason it refused.
func openHybrid(recipient *keys.DevicePrivateKeys, dk *mlkem.DecapsulationKey768, K [sha256.Size]byte, envelope []byte) (*Opened, error) {
	pub := recipient.Public()
	R := pub.DH[:]
	E := envelope[offEphemeral:offC1]

	// Step 5: eDH; prim.DH refuses a non-canonical or low-order E.
	eDH, err := prim.DH(recipient.DH(), E)
	if err != nil {
		return nil, errEphemeralKey
	}
	defer prim.Zero(eDH)
	// Step 6: ss; decapsulation of a ciphertext of the right length does
	// not fail (implicit rejection gives an unrelated secret).
	ss, err := dk.Decapsulate(envelope[offCT2:offC1v2])
	if err != nil {
		return nil, errKEMCiphertext
	}
	defer prim.Zero(ss)
	okm1, chainKey, k1, n1 := ephemeralKeysHybrid(eDH, ss, hybridSalt(envelope[:offC1v2], R, K))
	defer prim.Zero(okm1)
	return openLayers(recipient, envelope, offC1v2, offC2v2, chainKey, k1, n1, LabelStaticHybrid)
}
