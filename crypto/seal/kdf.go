package seal

import "github.com/sealpost/sealpost/crypto/internal/prim"

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
	salt := make([]byte, 0, len(chainKey)+len(c1))
	salt = append(salt, chainKey...)
	salt = append(salt, c1...)
	okm2 = prim.HKDF(salt, sDH, LabelStatic, okm2Size)
	prim.Zero(salt[:len(chainKey)])
	return okm2, okm2[:prim.AEADKeySize], okm2[prim.AEADKeySize:]
}
