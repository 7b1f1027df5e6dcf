package ratchet

import "github.com/sealpost/sealpost/crypto/internal/prim"

// kdfRK is KDF_RK (spec/ratchet.md §3.1; Signal §3.1, §5.2): HKDF-SHA256
// with the root key as salt and the DH output as input key material,
// 64 bytes split into the next root key and a chain key.
func kdfRK(rk *[KeySize]byte, dh []byte) (nextRK, ck [KeySize]byte) {
	out := prim.HKDF(rk[:], dh, LabelRoot, 2*KeySize)
	copy(nextRK[:], out[:KeySize])
	copy(ck[:], out[KeySize:])
	prim.Zero(out)
	return nextRK, ck
}

// kdfCK is KDF_CK (spec/ratchet.md §3.2; Signal §2.2, §5.2): the message
// key is HMAC-SHA256(ck, 0x01) and the next chain key HMAC-SHA256(ck, 0x02).
func kdfCK(ck *[KeySize]byte) (mk, next [KeySize]byte) {
	in := [2]byte{0x01, 0x02}
	return prim.HMAC(ck[:], in[:1]), prim.HMAC(ck[:], in[1:])
}

// messageCipherSize is the HKDF output a message key expands to.
const messageCipherSize = prim.AEADKeySize + prim.AEADNonceSize

// messageCipher expands a message key into the ChaCha20-Poly1305 key and
// nonce of its one message (spec/ratchet.md §3.3; Signal §5.2):
// HKDF-SHA256 with 32 zero bytes of salt, 44 bytes.
func messageCipher(mk *[KeySize]byte) (key [prim.AEADKeySize]byte, nonce [prim.AEADNonceSize]byte) {
	// A nil salt is HashLen (32) zero bytes (RFC 5869 §2.2).
	out := prim.HKDF(nil, mk[:], LabelMessage, messageCipherSize)
	copy(key[:], out[:prim.AEADKeySize])
	copy(nonce[:], out[prim.AEADKeySize:])
	prim.Zero(out)
	return key, nonce
}

// seal encrypts plaintext under the message key mk with associated data
// adHeader (the session AD followed by the header, §3.4), appending to dst.
func seal(dst []byte, mk *[KeySize]byte, plaintext, adHeader []byte) []byte {
	key, nonce := messageCipher(mk)
	out := prim.AEADSeal(dst, key[:], nonce[:], plaintext, adHeader)
	prim.Zero(key[:])
	return out
}

// open decrypts ciphertext under the message key mk (§3.4).
func open(mk *[KeySize]byte, ciphertext, adHeader []byte) ([]byte, error) {
	key, nonce := messageCipher(mk)
	out, err := prim.AEADOpen(nil, key[:], nonce[:], ciphertext, adHeader)
	prim.Zero(key[:])
	return out, err
}
