package pqxdh

import (
	"crypto/mlkem"
	"encoding/binary"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// Version is the first byte of an initial message (spec/pqxdh.md §4).
const Version = 0x01

// Sizes of spec/pqxdh.md §4.
const (
	KEMCiphertextSize = mlkem.CiphertextSize768 // 1088
	// MinInitialMessageSize is an initial message without a one-time prekey.
	MinInitialMessageSize = 1 + 32 + 32 + 4 + 1 + 1 + 4 + KEMCiphertextSize
	// MaxInitialMessageSize is an initial message with a one-time prekey.
	MaxInitialMessageSize = MinInitialMessageSize + 4
)

// InitialMessage is what the initiator sends the responder so it can derive
// the same shared secret (spec/pqxdh.md §4): the initiator's device identity
// key, its ephemeral key, which of the responder's prekeys were used, and the
// ML-KEM-768 ciphertext.
type InitialMessage struct {
	IdentityKey     [keys.DHKeySize]byte // IK_A, the initiator device's X25519 identity key
	EphemeralKey    [keys.DHKeySize]byte // EK_A
	SignedPrekeyID  uint32
	HasOneTime      bool
	OneTimePrekeyID uint32 // meaningful only if HasOneTime
	KEMKind         keys.PrekeyKind
	KEMPrekeyID     uint32
	KEMCiphertext   [KEMCiphertextSize]byte
}

// Marshal returns the canonical encoding of m (spec/pqxdh.md §4).
func (m *InitialMessage) Marshal() []byte {
	b := make([]byte, 0, MaxInitialMessageSize)
	b = append(b, Version)
	b = append(b, m.IdentityKey[:]...)
	b = append(b, m.EphemeralKey[:]...)
	b = binary.BigEndian.AppendUint32(b, m.SignedPrekeyID)
	if m.HasOneTime {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, m.OneTimePrekeyID)
	} else {
		b = append(b, 0)
	}
	b = append(b, byte(m.KEMKind))
	b = binary.BigEndian.AppendUint32(b, m.KEMPrekeyID)
	return append(b, m.KEMCiphertext[:]...)
}

// ParseInitialMessage parses exactly one initial message, refusing any other
// encoding: wrong version, bad presence byte, a KEM prekey kind that is not
// an ML-KEM kind, non-canonical or low-order X25519 keys, wrong length
// (spec/pqxdh.md §4).
func ParseInitialMessage(b []byte) (*InitialMessage, error) {
	s := cryptobyte.String(b)
	var (
		m                     InitialMessage
		version, has, kemKind uint8
	)
	if !s.ReadUint8(&version) || !s.CopyBytes(m.IdentityKey[:]) || !s.CopyBytes(m.EphemeralKey[:]) ||
		!s.ReadUint32(&m.SignedPrekeyID) || !s.ReadUint8(&has) {
		return nil, ErrMalformed
	}
	if version != Version || has > 1 {
		return nil, ErrMalformed
	}
	if m.HasOneTime = has == 1; m.HasOneTime && !s.ReadUint32(&m.OneTimePrekeyID) {
		return nil, ErrMalformed
	}
	if !s.ReadUint8(&kemKind) || !s.ReadUint32(&m.KEMPrekeyID) || !s.CopyBytes(m.KEMCiphertext[:]) || !s.Empty() {
		return nil, ErrMalformed
	}
	m.KEMKind = keys.PrekeyKind(kemKind)
	if !m.KEMKind.IsKEM() {
		return nil, ErrMalformed
	}
	if prim.CheckX25519Public(m.IdentityKey[:]) != nil || prim.CheckX25519Public(m.EphemeralKey[:]) != nil {
		return nil, ErrMalformed
	}
	return &m, nil
}
