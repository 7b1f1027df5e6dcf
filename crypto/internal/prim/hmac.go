package prim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
)

// HMACSize is the output size of HMAC-SHA256.
const HMACSize = sha256.Size

// hmacSmallMax is the longest message HMAC hashes from a buffer on the
// stack; longer ones go through crypto/hmac.
const hmacSmallMax = 128

// HMAC returns HMAC-SHA256(key, msg) (RFC 2104). Keys of at most 64 bytes
// with messages of at most 128 bytes, the chain-key steps of the Double
// Ratchet among them, are computed without allocating:
//
//	HMAC(K, m) = SHA-256((K0 ⊕ opad) || SHA-256((K0 ⊕ ipad) || m))
//
// where K0 is K padded with zeros to the 64-byte block. Other inputs use
// crypto/hmac; TestHMACMatchesStdlib checks both paths against it.
func HMAC(key, msg []byte) [HMACSize]byte {
	if len(key) > sha256.BlockSize || len(msg) > hmacSmallMax {
		// The copies keep key and msg from escaping to the heap through
		// the hash.Hash interface, so callers' arrays stay on the stack.
		m := hmac.New(sha256.New, bytes.Clone(key))
		m.Write(bytes.Clone(msg))
		var out [HMACSize]byte
		m.Sum(out[:0])
		return out
	}
	var inner [sha256.BlockSize + hmacSmallMax]byte
	var outer [sha256.BlockSize + HMACSize]byte
	for i := range sha256.BlockSize {
		inner[i], outer[i] = 0x36, 0x5c
	}
	for i, k := range key {
		inner[i] ^= k
		outer[i] ^= k
	}
	n := copy(inner[sha256.BlockSize:], msg)
	ih := sha256.Sum256(inner[:sha256.BlockSize+n])
	copy(outer[sha256.BlockSize:], ih[:])
	out := sha256.Sum256(outer[:])
	clear(inner[:sha256.BlockSize])
	clear(outer[:])
	return out
}
