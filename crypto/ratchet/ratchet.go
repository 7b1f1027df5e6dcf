// Package ratchet implements Sealpost's Double Ratchet (spec/ratchet.md),
// following Signal's specification "The Double Ratchet Algorithm"
// (revision 1, https://signal.org/docs/specifications/doubleratchet/):
// a Diffie-Hellman ratchet over X25519 (Signal §2.3, §2.4) drives an
// HKDF-SHA256 root chain, whose outputs seed HMAC-SHA256 sending and
// receiving chains (§2.2); every message key encrypts one message with
// ChaCha20-Poly1305 (§5.2). Message keys of skipped messages are kept, within
// bounds, so messages may arrive out of order (§2.6, §3.5).
//
// A session starts from the shared secret, associated data and initial
// message of a PQXDH agreement: NewInitiator on the side that ran PQXDH's
// initiator, NewResponder on the other. Until the initiator has decrypted a
// message from the responder, every message it sends carries the PQXDH
// initial message, which the responder extracts with InitialMessage before
// it has a session.
//
// Decrypt is all or nothing: a message that is refused for any reason
// (malformed, not authentic, replayed, too far ahead) leaves the State
// exactly as it was, so its Marshal bytes do not change. Encrypt likewise
// changes nothing when it fails.
//
// A State is not safe for concurrent use. The package is pure: no I/O and
// no global state; randomness is an io.Reader supplied by the caller.
package ratchet

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// Domain-separation labels, spec/ratchet.md §2.1.
const (
	LabelRoot    = "sealpost/v1/ratchet-root"
	LabelMessage = "sealpost/v1/ratchet-message"
)

// Sizes and limits, spec/ratchet.md §2.2 and §2.3.
const (
	// Version is the first byte of every message (§4.1).
	Version = 0x01
	// StateVersion is the first byte of a marshalled State (§8.1).
	// Unmarshal also reads version 0x01, whose skipped keys carry no
	// time (§8.3).
	StateVersion = 0x02

	// KeySize is the size of root, chain and message keys, ratchet private
	// and public keys, and the PQXDH shared secret.
	KeySize = 32

	// HeaderSize is the size of a header without an initial message.
	HeaderSize = 1 + 1 + KeySize + 4 + 4
	// MinMessageSize is the smallest valid message: a header without an
	// initial message and an empty plaintext's authentication tag.
	MinMessageSize = HeaderSize + prim.AEADTagSize

	// MaxSkipPerChain is the most message keys one message may make the
	// receiver skip in one receiving chain (Signal §3.5 MAX_SKIP).
	MaxSkipPerChain = 1000
	// MaxSkippedKeys is the most skipped message keys a State keeps; past
	// it the oldest are discarded first.
	MaxSkippedKeys = 2000
	// MaxSkippedKeyAge is how long ExpireSkipped keeps a skipped message
	// key: the relay's envelope lifetime (spec/relay.md §6, ttl_seconds),
	// after which the message it was kept for can no longer arrive.
	MaxSkippedKeyAge = 30 * 24 * time.Hour
	// MaxADSize bounds the session associated data.
	MaxADSize = 4096
	// MaxInitialSize bounds the PQXDH initial message carried in headers.
	MaxInitialSize = 16384
)

// Errors of spec/errors.md §3.4: each sentinel is the name there in Go
// case (ErrTooManySkipped is too_many_skipped); test with errors.Is.
var (
	// ErrMalformed reports a message that is not a canonical encoding
	// (spec/ratchet.md §4.2).
	ErrMalformed = errors.New("ratchet: malformed message")
	// ErrDecrypt reports a message that does not authenticate under any key
	// this State can derive for it.
	ErrDecrypt = errors.New("ratchet: message authentication failed")
	// ErrOldMessage reports a message whose message key is gone: it was
	// already decrypted, or its skipped key was discarded (a replay, or a
	// message delayed past MaxSkippedKeys later ones).
	ErrOldMessage = errors.New("ratchet: message key already used or discarded")
	// ErrTooManySkipped reports a message that would skip more than
	// MaxSkipPerChain message keys of one chain.
	ErrTooManySkipped = errors.New("ratchet: message skips too many message keys")
	// ErrNotReady reports Encrypt on a responder that has not yet decrypted
	// a message (spec/ratchet.md §6 step 1).
	ErrNotReady = errors.New("ratchet: cannot encrypt before the first message is received")
	// ErrExhausted reports a sending chain whose message counter would
	// overflow (spec/ratchet.md §6 step 2).
	ErrExhausted = errors.New("ratchet: sending chain exhausted")
	// ErrInvalidState reports marshalled state that Unmarshal refuses
	// (spec/ratchet.md §8.2).
	ErrInvalidState = errors.New("ratchet: invalid state encoding")
)

// State is one side of a Double Ratchet session (spec/ratchet.md §5.1;
// Signal §3.2). The zero State is not usable; make one with NewInitiator,
// NewResponder or Unmarshal.
type State struct {
	rk [KeySize]byte // RK

	hasDHs  bool          // DHs present
	dhsPriv [KeySize]byte // DHs, read in place by prim.DH
	dhsPub  [KeySize]byte

	dhr    [KeySize]byte // DHr
	hasDHr bool

	cks, ckr       [KeySize]byte // CKs, CKr
	hasCKs, hasCKr bool

	ns, nr, pn uint32 // Ns, Nr, PN

	ad      []byte // session associated data, never empty
	initial []byte // PQXDH initial message while attached, else nil

	skipped []skippedKey // MKSKIPPED, oldest first

	scratch []byte // AD || header for Decrypt; not part of the state
}

// skippedKey is one entry of the skipped message key store (spec/ratchet.md
// §7.3): the message key of message n of the chain of ratchet public key dh,
// and when ExpireSkipped first saw it (Unix seconds; 0 until then).
type skippedKey struct {
	dh     [KeySize]byte
	n      uint32
	mk     [KeySize]byte
	stored uint64
}

// NewInitiator starts the session of the PQXDH initiator (spec/ratchet.md
// §5.2; Signal §3.3 RatchetInitAlice). It reads 32 bytes from rand for its
// first ratchet private key. remoteRatchetKey is the responder's signed
// prekey, initial the encoded PQXDH initial message, attached to every
// message until a reply decrypts. sharedSecret, ad and initial are copied.
func NewInitiator(rand io.Reader, sharedSecret [KeySize]byte, ad []byte, remoteRatchetKey [KeySize]byte, initial []byte) (*State, error) {
	if err := checkAD(ad); err != nil {
		return nil, err
	}
	if len(initial) == 0 || len(initial) > MaxInitialSize {
		return nil, fmt.Errorf("ratchet: initial message of %d bytes, want 1 to %d", len(initial), MaxInitialSize)
	}
	if err := prim.CheckX25519Public(remoteRatchetKey[:]); err != nil {
		return nil, fmt.Errorf("ratchet: remote ratchet key: %w", err)
	}
	s := &State{
		rk:      sharedSecret,
		dhr:     remoteRatchetKey,
		hasDHr:  true,
		ad:      append([]byte(nil), ad...),
		initial: append([]byte(nil), initial...),
	}
	// The first sending chain is started as Encrypt starts every sending
	// chain (§6 step 1), only eagerly.
	if err := s.startSendingChain(rand); err != nil {
		s.Destroy()
		return nil, err
	}
	return s, nil
}

// NewResponder starts the session of the PQXDH responder (spec/ratchet.md
// §5.3; Signal §3.3 RatchetInitBob). ownRatchetPrivate is the private key of
// the signed prekey the initiator used. The State cannot encrypt until it
// has decrypted the initiator's first message. Inputs are copied.
func NewResponder(sharedSecret [KeySize]byte, ad []byte, ownRatchetPrivate [KeySize]byte) (*State, error) {
	if err := checkAD(ad); err != nil {
		return nil, err
	}
	s := &State{rk: sharedSecret, ad: append([]byte(nil), ad...)}
	if err := s.setDHs(ownRatchetPrivate[:]); err != nil {
		s.Destroy()
		return nil, err
	}
	return s, nil
}

func checkAD(ad []byte) error {
	if len(ad) == 0 || len(ad) > MaxADSize {
		return fmt.Errorf("ratchet: associated data of %d bytes, want 1 to %d", len(ad), MaxADSize)
	}
	return nil
}

// setDHs makes priv the ratchet private key DHs.
func (s *State) setDHs(priv []byte) error {
	pub, err := prim.X25519Public(priv)
	if err != nil {
		return fmt.Errorf("ratchet: ratchet private key: %w", err)
	}
	s.hasDHs = true
	copy(s.dhsPriv[:], priv)
	s.dhsPub = pub
	return nil
}

// AD returns a copy of the session associated data.
func (s *State) AD() []byte { return append([]byte(nil), s.ad...) }

// AttachesInitial reports whether Encrypt still attaches the PQXDH initial
// message: true for an initiator until it decrypts a first message.
func (s *State) AttachesInitial() bool { return s.initial != nil }

// Destroy overwrites the State's secrets and leaves it unusable. Erasure is
// best effort: the runtime may have copied the values (SECURITY.md,
// "Known limits").
func (s *State) Destroy() {
	for i := range s.skipped {
		prim.Zero(s.skipped[i].mk[:])
	}
	prim.Zero(s.ad)
	prim.Zero(s.initial)
	prim.Zero(s.scratch)
	prim.Zero(s.rk[:])
	prim.Zero(s.dhsPriv[:])
	prim.Zero(s.cks[:])
	prim.Zero(s.ckr[:])
	*s = State{}
}
