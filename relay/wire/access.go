package wire

import "crypto/sha256"

// Recipient access control (spec/relay.md §15.8).
const (
	// AccessKeySize is the size of an access key, Item.access_key.
	AccessKeySize = 32
	// AccessVerifierSize is the size of a verifier, SetAccess.verifier.
	AccessVerifierSize = sha256.Size
	// MaxPreviousValid is the largest SetAccess.previous_valid_seconds
	// (7 days).
	MaxPreviousValid = 7 * 24 * 3600
	// AccessKeyLabel prefixes the hash input of a verifier.
	AccessKeyLabel = "sealpost/v1/access-key"
)

// AccessVerifier is the verifier of access key k, what the relay stores
// and compares: SHA-256("sealpost/v1/access-key" || k) (spec/relay.md
// §15.8). The device sets it with SetAccess; the relay computes it from
// the access key of each anonymous item.
func AccessVerifier(k *[AccessKeySize]byte) [AccessVerifierSize]byte {
	var in [len(AccessKeyLabel) + AccessKeySize]byte
	copy(in[:], AccessKeyLabel)
	copy(in[len(AccessKeyLabel):], k[:])
	return sha256.Sum256(in[:])
}
