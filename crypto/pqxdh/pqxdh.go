// Package pqxdh implements Sealpost's session agreement (spec/pqxdh.md):
// the structure of Signal's PQXDH (revision 3), with X25519 and ML-KEM-768,
// SHA-256, and Sealpost's own domain-separation strings.
//
// The initiator claims a bundle for the responder's device (crypto/keys),
// verifies it, and calls Initiate; it gets the shared secret, the associated
// data binding both parties, and the initial message, which travels with its
// first ratchet messages. The responder parses the initial message, looks up
// the prekeys it names, and calls Respond to derive the same secret.
//
// The package is pure: no I/O, no global state.
package pqxdh

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Labels, spec/pqxdh.md §2.
const (
	// LabelKDF is the HKDF info of the shared-secret derivation.
	LabelKDF = "sealpost/v1/pqxdh X25519 SHA-256 ML-KEM-768"
	// LabelTranscript prefixes the transcript hash used as HKDF salt.
	LabelTranscript = "sealpost/v1/pqxdh-transcript"
)

// SharedSecretSize is the size of SK (spec/pqxdh.md §5).
const SharedSecretSize = 32

// ADSize is the size of the associated data (spec/pqxdh.md §6).
const ADSize = 4 * 32

// Errors of spec/errors.md §3.3: each sentinel is the name there in Go
// case (ErrIdentityMismatch is identity_mismatch); test with errors.Is.
var (
	// ErrMalformed reports an initial message that is not canonical.
	ErrMalformed = errors.New("pqxdh: malformed initial message")
	// ErrIdentityMismatch reports an initial message whose identity key is
	// not the one in the initiator's certificate, or own keys that do not
	// match own certificate.
	ErrIdentityMismatch = errors.New("pqxdh: identity key does not match certificate")
	// ErrPrekeyMismatch reports private prekeys that are not the ones the
	// initial message names.
	ErrPrekeyMismatch = errors.New("pqxdh: prekeys do not match initial message")
	// ErrAgreement reports a Diffie-Hellman output refused by spec/keys.md
	// §2.1 (low-order or non-canonical input, all-zero output).
	ErrAgreement = errors.New("pqxdh: key agreement refused")
)

// Session is the outcome of PQXDH on either side.
type Session struct {
	// SharedSecret is SK, the Double Ratchet's initial root key.
	SharedSecret [SharedSecretSize]byte
	// AD binds both parties (spec/pqxdh.md §6); every ratchet message
	// authenticates it.
	AD []byte
	// Initial is the encoded initial message (initiator only).
	Initial []byte
	// PeerRatchetKey is the responder's signed prekey, the initiator's
	// first remote ratchet key (initiator only).
	PeerRatchetKey [keys.DHKeySize]byte
}

// Zero overwrites the shared secret (best effort).
func (s *Session) Zero() { prim.Zero(s.SharedSecret[:]) }

// Initiate runs the initiator's side (spec/pqxdh.md §3.1). self and selfCert
// are the initiator device's keys and certificate; peerHandle and peerAIK
// are the responder's account as the caller verified it in the transparency
// log; b is the claimed bundle. Initiate verifies the bundle's whole chain
// first and refuses any failure with a *keys.BundleError.
//
// It reads 32 bytes from rand for the ephemeral key and 32 bytes for the
// ML-KEM encapsulation. When rand is crypto/rand.Reader, the encapsulation
// draws its 32 bytes from the same system source inside crypto/mlkem.
func Initiate(rnd io.Reader, self *keys.DevicePrivateKeys, selfCert *keys.DeviceCertificate, peerHandle string, peerAIK keys.AccountPublicKey, b *keys.Bundle) (*Session, error) {
	if selfCert.Keys != self.Public() {
		return nil, ErrIdentityMismatch
	}
	if err := keys.VerifyBundle(peerHandle, peerAIK, b); err != nil {
		return nil, fmt.Errorf("pqxdh: %w", err)
	}
	ek, err := b.KEMPrekey.EncapsulationKey()
	if err != nil {
		return nil, fmt.Errorf("pqxdh: %w", err)
	}
	eph, err := prim.NewX25519Key(rnd)
	if err != nil {
		return nil, err
	}
	defer prim.Zero(eph)
	ephPub, err := prim.X25519Public(eph)
	if err != nil {
		return nil, err
	}
	ss, ct, err := prim.Encapsulate768(rnd, ek)
	if err != nil {
		return nil, err
	}
	defer prim.Zero(ss)

	m := &InitialMessage{
		SignedPrekeyID: b.SignedPrekey.ID,
		KEMKind:        b.KEMPrekey.Kind,
		KEMPrekeyID:    b.KEMPrekey.ID,
	}
	copy(m.IdentityKey[:], selfCert.Keys.DH[:])
	m.EphemeralKey = ephPub
	copy(m.KEMCiphertext[:], ct)
	var opk []byte
	if b.OneTimePrekey != nil {
		m.HasOneTime, m.OneTimePrekeyID = true, b.OneTimePrekey.ID
		opk = b.OneTimePrekey.Public
	}

	peer := b.Certificate
	// DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
	// DH4 = DH(EK_A, OPK_B): spec/pqxdh.md §3.1 step 4.
	dhs, err := agree([]dhPair{
		{self.DH(), b.SignedPrekey.Public},
		{eph, peer.Keys.DH[:]},
		{eph, b.SignedPrekey.Public},
		{eph, opk},
	})
	if err != nil {
		return nil, err
	}
	defer prim.Zero(dhs)

	s := &Session{
		AD:      associatedData(selfCert, peer),
		Initial: m.Marshal(),
	}
	copy(s.PeerRatchetKey[:], b.SignedPrekey.Public)
	deriveSecret(s.SharedSecret[:], dhs, ss, s.AD, s.Initial)
	return s, nil
}

// Prekeys are the responder's private prekeys an initial message names,
// looked up by the caller (spec/pqxdh.md §3.2 step 2).
type Prekeys struct {
	Signed  *keys.PrekeyPrivate
	OneTime *keys.PrekeyPrivate // nil if the message names none
	KEM     *keys.PrekeyPrivate
}

// Respond runs the responder's side (spec/pqxdh.md §3.2). self and selfCert
// are the responder device's keys and certificate; peerCert is the
// initiator's certificate, which the caller learned from the sealed envelope
// and checked against the transparency log; m is the parsed initial message
// and pk the private prekeys it names. The caller deletes a one-time prekey
// only after the first ratchet message decrypts.
func Respond(self *keys.DevicePrivateKeys, selfCert, peerCert *keys.DeviceCertificate, m *InitialMessage, pk Prekeys) (*Session, error) {
	if selfCert.Keys != self.Public() || peerCert.Keys.DH != m.IdentityKey {
		return nil, ErrIdentityMismatch
	}
	if !pk.matches(m) {
		return nil, ErrPrekeyMismatch
	}
	spk, err := pk.Signed.X25519()
	if err != nil {
		return nil, ErrPrekeyMismatch
	}
	var opk []byte
	if m.HasOneTime {
		if opk, err = pk.OneTime.X25519(); err != nil {
			return nil, ErrPrekeyMismatch
		}
	}
	dk, err := pk.KEM.KEM()
	if err != nil {
		return nil, ErrPrekeyMismatch
	}
	// ML-KEM decapsulation never fails on a well-sized ciphertext: a
	// tampered one yields an unrelated key (implicit rejection, FIPS 203
	// §6.3), so the first ratchet message fails to authenticate instead.
	ss, err := dk.Decapsulate(m.KEMCiphertext[:])
	if err != nil {
		return nil, ErrMalformed
	}
	defer prim.Zero(ss)

	pairs := []dhPair{
		{spk, m.IdentityKey[:]},
		{self.DH(), m.EphemeralKey[:]},
		{spk, m.EphemeralKey[:]},
		{opk, m.EphemeralKey[:]},
	}
	if opk == nil {
		pairs[3] = dhPair{}
	}
	dhs, err := agree(pairs)
	if err != nil {
		return nil, err
	}
	defer prim.Zero(dhs)

	s := &Session{AD: associatedData(peerCert, selfCert)}
	deriveSecret(s.SharedSecret[:], dhs, ss, s.AD, m.Marshal())
	return s, nil
}

// matches reports whether pk are the prekeys m names, of the right kinds.
func (pk Prekeys) matches(m *InitialMessage) bool {
	if pk.Signed == nil || pk.Signed.Kind != keys.SignedPrekey || pk.Signed.ID != m.SignedPrekeyID {
		return false
	}
	if m.HasOneTime != (pk.OneTime != nil) {
		return false
	}
	if m.HasOneTime && (pk.OneTime.Kind != keys.OneTimePrekey || pk.OneTime.ID != m.OneTimePrekeyID) {
		return false
	}
	return pk.KEM != nil && pk.KEM.Kind == m.KEMKind && pk.KEM.ID == m.KEMPrekeyID
}

// dhPair is one X25519 agreement; a pair with a nil key is skipped (the
// optional DH4). priv is read in place (prim.X25519).
type dhPair struct {
	priv []byte
	pub  []byte
}

// agree computes the DH outputs in order and concatenates them.
func agree(pairs []dhPair) ([]byte, error) {
	out := make([]byte, 0, 4*prim.X25519Size)
	for _, p := range pairs {
		if p.priv == nil || p.pub == nil {
			continue
		}
		dh, err := prim.DH(p.priv, p.pub)
		if err != nil {
			prim.Zero(out)
			return nil, fmt.Errorf("%w: %w", ErrAgreement, err)
		}
		out = append(out, dh...)
		prim.Zero(dh)
	}
	return out, nil
}

// associatedData is AD = IK_A || IK_B || AIK_A || AIK_B (spec/pqxdh.md §6).
func associatedData(initiator, responder *keys.DeviceCertificate) []byte {
	ad := make([]byte, 0, ADSize)
	ad = append(ad, initiator.Keys.DH[:]...)
	ad = append(ad, responder.Keys.DH[:]...)
	ad = append(ad, initiator.AccountKey[:]...)
	return append(ad, responder.AccountKey[:]...)
}

// deriveSecret computes SK (spec/pqxdh.md §5):
//
//	salt = SHA-256(LabelTranscript || 0x00 || AD || initial message)
//	IKM  = 32 × 0xFF || DH1 || DH2 || DH3 [|| DH4] || SS
//	SK   = HKDF-SHA256(salt, IKM, LabelKDF, 32)
func deriveSecret(dst, dhs, ss, ad, initial []byte) {
	salt := transcriptSalt(ad, initial)

	ikm := make([]byte, 0, 32+len(dhs)+len(ss))
	for range 32 {
		ikm = append(ikm, 0xFF)
	}
	ikm = append(ikm, dhs...)
	ikm = append(ikm, ss...)
	sk := prim.HKDF(salt, ikm, LabelKDF, SharedSecretSize)
	copy(dst, sk)
	prim.Zero(ikm)
	prim.Zero(sk)
}

// transcriptSalt is SHA-256(LabelTranscript || 0x00 || AD || initial message).
func transcriptSalt(ad, initial []byte) []byte {
	h := sha256.New()
	h.Write(prim.SignedMessage(LabelTranscript, nil))
	h.Write(ad)
	h.Write(initial)
	return h.Sum(nil)
}
