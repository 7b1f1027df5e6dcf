// Package senderkey implements Sealpost's sender keys (spec/senderkey.md):
// the symmetric chains that encrypt group messages, as Signal's sender keys
// and Matrix's Megolm do. Each member device has, per group, one sending
// chain: a random chain id, an HMAC-SHA256 chain key ratcheted once per
// message, and an Ed25519 signing key pair. The chain's current iteration,
// chain key and public signing key travel to every other member device in a
// Distribution, over the pairwise sessions (the client's job); each of those
// devices keeps a ReceivingChain for it.
//
// A group message is encrypted once with ChaCha20-Poly1305 under the
// message key of its iteration and signed once with the sending chain's
// signing key, whatever the size of the group.
//
// ReceivingChain.Decrypt is all or nothing: the signature is checked before
// anything else that costs, and a message refused for any reason leaves the
// chain exactly as it was (its Marshal bytes do not change).
//
// Chains are not safe for concurrent use. The package is pure: no I/O, no
// global state; randomness is an io.Reader supplied by the caller.
package senderkey

import (
	"errors"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// Domain-separation labels, spec/senderkey.md §2.1.
const (
	// LabelMessage is the HKDF info that expands a message key (§3.2).
	LabelMessage = "sealpost/v1/senderkey-message"
	// LabelSignature is the label of a group message's Ed25519 signature
	// (§4.3; spec/keys.md §2.3).
	LabelSignature = "sealpost/v1/senderkey-signature"
)

// Sizes and limits, spec/senderkey.md §2.2 and §2.3.
const (
	// Version is the first byte of a group message and of a distribution.
	Version = 0x01
	// StateVersion is the first byte of a marshalled chain (§7).
	StateVersion = 0x01

	GroupIDSize = 32
	ChainIDSize = 16
	KeySize     = 32 // chain keys, message keys, signing seeds and public keys

	// HeaderSize is the size of a group message's header (§4.1).
	HeaderSize = 1 + GroupIDSize + ChainIDSize + 4
	// Overhead is what a group message adds to its plaintext: header, AEAD
	// tag, signature.
	Overhead = HeaderSize + prim.AEADTagSize + prim.SignatureSize
	// MinMessageSize is the size of a group message of an empty plaintext.
	MinMessageSize = Overhead
	// DistributionSize is the size of an encoded Distribution (§5).
	DistributionSize = 1 + GroupIDSize + ChainIDSize + 4 + KeySize + KeySize

	// MaxSkip is the most message keys one message may make a receiving
	// chain skip (§6.1).
	MaxSkip = 2000
	// MaxSkippedKeys is the most skipped message keys a receiving chain
	// keeps; past it the oldest are discarded.
	MaxSkippedKeys = 2000
	// MaxSkippedKeyAge is how long ExpireSkipped keeps a skipped message
	// key: the relay's envelope lifetime, as in spec/ratchet.md §2.3.
	MaxSkippedKeyAge = 30 * 24 * time.Hour
	// MaxIteration is the last iteration a message may carry; a sending
	// chain at MaxIteration+1 = 2^32 − 1 is exhausted.
	MaxIteration = 1<<32 - 2
)

// Errors of spec/errors.md §3.19: each sentinel is the name there in Go case
// (ErrTooManySkipped is too_many_skipped); test with errors.Is.
var (
	// ErrMalformed reports a message or distribution that is not a
	// canonical encoding (spec/senderkey.md §4.2, §5).
	ErrMalformed = errors.New("senderkey: malformed input")
	// ErrUnknownChain reports a message whose group id and chain id are not
	// the receiving chain's (§6.1 step 2).
	ErrUnknownChain = errors.New("senderkey: message of another chain")
	// ErrBadSignature reports a message whose signature does not verify
	// under the chain's signing key (§6.1 step 3).
	ErrBadSignature = errors.New("senderkey: bad signature")
	// ErrDecrypt reports a correctly signed message that does not
	// authenticate under its message key (§6.1 steps 4, 6).
	ErrDecrypt = errors.New("senderkey: message authentication failed")
	// ErrOldMessage reports a message whose key is gone: already used,
	// discarded, or before the distribution's iteration (§6.1 step 4).
	ErrOldMessage = errors.New("senderkey: message key already used or discarded")
	// ErrTooManySkipped reports a message more than MaxSkip iterations
	// ahead of the chain (§6.1 step 5).
	ErrTooManySkipped = errors.New("senderkey: message skips too many message keys")
	// ErrExhausted reports a sending chain at iteration 2^32 − 1 (§4.4).
	ErrExhausted = errors.New("senderkey: sending chain exhausted")
	// ErrInvalidState reports a marshalled chain Unmarshal refuses (§7.3).
	ErrInvalidState = errors.New("senderkey: invalid state encoding")
)

// GroupID names a group (spec/groups.md); opaque here.
type GroupID [GroupIDSize]byte

// ChainID names one sending chain within a group: 16 random bytes.
type ChainID [ChainIDSize]byte

// kdfCK is the chain step (spec/senderkey.md §3.1, as Signal's sender keys
// and spec/ratchet.md §3.2): the message key is HMAC-SHA256(ck, 0x01) and
// the next chain key HMAC-SHA256(ck, 0x02).
func kdfCK(ck *[KeySize]byte) (mk, next [KeySize]byte) {
	in := [2]byte{0x01, 0x02}
	return prim.HMAC(ck[:], in[:1]), prim.HMAC(ck[:], in[1:])
}

const messageCipherSize = prim.AEADKeySize + prim.AEADNonceSize

// messageCipher expands a message key into its AEAD key and nonce
// (spec/senderkey.md §3.2): HKDF-SHA256, 32 zero bytes of salt, 44 bytes.
func messageCipher(mk *[KeySize]byte) (key [prim.AEADKeySize]byte, nonce [prim.AEADNonceSize]byte) {
	out := prim.HKDF(nil, mk[:], LabelMessage, messageCipherSize)
	copy(key[:], out[:prim.AEADKeySize])
	copy(nonce[:], out[prim.AEADKeySize:])
	prim.Zero(out)
	return key, nonce
}
