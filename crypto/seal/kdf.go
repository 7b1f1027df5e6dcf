package seal

import (
	"crypto/sha256"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// ephemeralKeys derives the first layer's keys (spec/seal.md §4.1):
//
//	okm1 = HKDF-SHA256(salt = E || R, ikm = X25519(e, R),
//	                   info = "sealpost/v1/seal-ephemeral", L = 76)
//	chainKey = okm1[0:32], k1 = okm1[32:64], n1 = okm1[64:76]
//
// The caller zeroes okm1.
func ephemeralKeys(eDH, ephemeral, recipient []byte) (okm1, chainKey, k1, n1 []byte) {
	salt := make([]byte, 0, 2*prim.X25519Size)
	salt = append(salt, ephemeral...)
	salt = append(salt, recipient...)
	okm1 = prim.HKDF(salt, eDH, LabelEphemeral, okm1Size)
	return okm1, okm1[:32], okm1[32 : 32+prim.AEADKeySize], okm1[32+prim.AEADKeySize:]
}

// staticKeys derives the second layer's keys (spec/seal.md §4.2):
//
//	okm2 = HKDF-SHA256(salt = chainKey || c1, ikm = X25519(S, R),
//	                   info = "sealpost/v1/seal-static", L = 44)
//	k2 = okm2[0:32], n2 = okm2[32:44]
//
// The caller zeroes okm2.
func staticKeys(chainKey, c1, sDH []byte) (okm2, k2, n2 []byte) {
	return staticKeysLabel(chainKey, c1, sDH, LabelStatic)
}

// staticKeysLabel is staticKeys with the label of the envelope's version:
// LabelStatic (spec/seal.md §4.2) or LabelStaticHybrid (§10.4.2).
func staticKeysLabel(chainKey, c1, sDH []byte, label string) (okm2, k2, n2 []byte) {
	salt := make([]byte, 0, len(chainKey)+len(c1))
	salt = append(salt, chainKey...)
	salt = append(salt, c1...)
	okm2 = prim.HKDF(salt, sDH, label, okm2Size)
	prim.Zero(salt[:len(chainKey)])
	return okm2, okm2[:prim.AEADKeySize], okm2[prim.AEADKeySize:]
}

// kemKeyHash is K = SHA-256(ek), the hash of an ML-KEM-768 encapsulation
// key (spec/seal.md §10.1); its first KeyIDSize bytes are the key id.
func kemKeyHash(ek []byte) [sha256.Size]byte { return sha256.Sum256(ek) }

// hybridSalt is the version 2 ephemeral layer's salt (spec/seal.md §10.4.1):
//
//	salt = SHA-256("sealpost/v2/seal-transcript" || 0x00 || T)
//	T    = 0x02 || E || kid || ct || R || K
//
// prefix is the envelope's first 1129 bytes, 0x02 || E || kid || ct.
func hybridSalt(prefix, recipient []byte, K [sha256.Size]byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(LabelTranscriptHybrid))
	h.Write([]byte{0})
	h.Write(prefix)
	h.Write(recipient)
	h.Write(K[:])
	var salt [sha256.Size]byte
	h.Sum(salt[:0])
	return salt
}

// ephemeralKeysHybrid derives the version 2 ephemeral layer's keys
// (spec/seal.md §10.4.1):
//
//	okm1 = HKDF-SHA256(salt = hybridSalt, ikm = eDH || ss,
//	                   info = "sealpost/v2/seal-ephemeral", L = 76)
//	chainKey = okm1[0:32], k1 = okm1[32:64], n1 = okm1[64:76]
//
// The caller zeroes okm1.
func ephemeralKeysHybrid(eDH, ss []byte, salt [sha256.Size]byte) (okm1, chainKey, k1, n1 []byte) {
	ikm := make([]byte, 0, len(eDH)+len(ss))
	ikm = append(ikm, eDH...)
	ikm = append(ikm, ss...)
	okm1 = prim.HKDF(salt[:], ikm, LabelEphemeralHybrid, okm1Size)
	prim.Zero(ikm)
	return okm1, okm1[:32], okm1[32 : 32+prim.AEADKeySize], okm1[32+prim.AEADKeySize:]
}
