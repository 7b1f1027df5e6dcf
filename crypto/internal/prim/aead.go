package prim

import (
	"errors"

	"golang.org/x/crypto/chacha20poly1305"
)

// AEAD parameters: ChaCha20-Poly1305 (RFC 8439), spec/keys.md §2.4.
const (
	AEADKeySize   = chacha20poly1305.KeySize
	AEADNonceSize = chacha20poly1305.NonceSize
	AEADTagSize   = chacha20poly1305.Overhead
)

// ErrDecrypt reports a ciphertext that does not authenticate. It says nothing
// about which part was wrong.
var ErrDecrypt = errors.New("prim: message authentication failed")

// AEADSeal encrypts plaintext with ChaCha20-Poly1305 under key and nonce,
// authenticating ad, and appends the result to dst.
func AEADSeal(dst, key, nonce, plaintext, ad []byte) []byte {
	a, err := chacha20poly1305.New(key)
	if err != nil || len(nonce) != AEADNonceSize {
		panic("prim: AEADSeal called with a wrong key or nonce length")
	}
	return a.Seal(dst, nonce, plaintext, ad)
}

// AEADOpen decrypts and authenticates ciphertext, appending the plaintext to
// dst. It returns ErrDecrypt on any failure.
func AEADOpen(dst, key, nonce, ciphertext, ad []byte) ([]byte, error) {
	a, err := chacha20poly1305.New(key)
	if err != nil || len(nonce) != AEADNonceSize {
		return nil, ErrDecrypt
	}
	out, err := a.Open(dst, nonce, ciphertext, ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}
