package senderkey

import (
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// SendingChain is a member device's own sender key for one group
// (spec/senderkey.md §4): it encrypts and signs that device's group
// messages. The zero SendingChain is not usable; make one with
// NewSendingChain or UnmarshalSendingChain.
type SendingChain struct {
	group     GroupID
	chain     ChainID
	iteration uint32        // of the next message
	ck        [KeySize]byte // chain key of iteration
	priv      ed25519.PrivateKey
	pub       [KeySize]byte
	buf       []byte // signed bytes for Encrypt; not part of the state
}

// NewSendingChain starts a new sender key for group (spec/senderkey.md
// §4.4 NewSendingChain): it reads from rand, in this order, 16 bytes of
// chain id, 32 bytes of chain key and the 32-byte Ed25519 seed of the
// signing key; the iteration starts at 0. Rotation is a new SendingChain.
func NewSendingChain(rand io.Reader, group GroupID) (*SendingChain, error) {
	var r [ChainIDSize + 2*KeySize]byte
	defer prim.Zero(r[:])
	if _, err := io.ReadFull(rand, r[:]); err != nil {
		return nil, fmt.Errorf("senderkey: reading randomness: %w", err)
	}
	s := &SendingChain{group: group}
	copy(s.chain[:], r[:ChainIDSize])
	copy(s.ck[:], r[ChainIDSize:])
	s.setSigningSeed(r[ChainIDSize+KeySize:])
	return s, nil
}

func (s *SendingChain) setSigningSeed(seed []byte) {
	s.priv = ed25519.NewKeyFromSeed(seed)
	copy(s.pub[:], s.priv[ed25519.SeedSize:])
}

// GroupID returns the chain's group.
func (s *SendingChain) GroupID() GroupID { return s.group }

// ChainID returns the chain's id.
func (s *SendingChain) ChainID() ChainID { return s.chain }

// Iteration returns the iteration of the next message Encrypt makes.
func (s *SendingChain) Iteration() uint32 { return s.iteration }

// SigningKey returns the chain's public signing key.
func (s *SendingChain) SigningKey() [KeySize]byte { return s.pub }

// Distribution returns the distribution of the chain at its current
// iteration (spec/senderkey.md §5): a receiver made from it reads every
// message Encrypt makes from now on, and none made before. The caller
// sends it to every other member device over the pairwise sessions and
// destroys it after.
func (s *SendingChain) Distribution() *Distribution {
	return &Distribution{GroupID: s.group, ChainID: s.chain, Iteration: s.iteration, ChainKey: s.ck, SigningKey: s.pub}
}

// Encrypt encrypts and signs one group message (spec/senderkey.md §4.4
// Encrypt) and advances the chain. It reads no randomness. The caller
// stores the chain (Marshal) before it sends the message, so that a crash
// never reuses an iteration. It refuses with ErrExhausted, changing
// nothing, once 2^32 − 1 messages have been sent.
func (s *SendingChain) Encrypt(plaintext []byte) ([]byte, error) {
	if s.iteration > MaxIteration {
		return nil, ErrExhausted
	}
	if len(s.priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("senderkey: Encrypt on a destroyed chain")
	}
	mk, next := kdfCK(&s.ck)
	key, nonce := messageCipher(&mk)
	prim.Zero(mk[:])

	h := Header{GroupID: s.group, ChainID: s.chain, Iteration: s.iteration}
	out := make([]byte, 0, Overhead+len(plaintext))
	out = appendHeader(out, &h)
	// AD = header || signing key (§3.3), in the scratch buffer.
	s.buf = messageAD(s.buf[:0], out, &s.pub)
	out = prim.AEADSeal(out, key[:], nonce[:], plaintext, s.buf)
	prim.Zero(key[:])
	s.buf = signedMessage(s.buf, out)
	out = append(out, ed25519.Sign(s.priv, s.buf)...)

	// Commit.
	s.ck = next
	prim.Zero(next[:])
	s.iteration++
	return out, nil
}

// Destroy overwrites the chain's secrets and leaves it unusable. Erasure
// is best effort under a garbage collector (SECURITY.md, "Known limits").
func (s *SendingChain) Destroy() {
	prim.Zero(s.ck[:])
	prim.Zero(s.priv)
	prim.Zero(s.buf)
	*s = SendingChain{}
}
