// Package testrand provides the deterministic randomness used by tests,
// benchmarks and the vector generator. It must never be used for real keys.
//
// A Reader is the ChaCha20 keystream (RFC 8439, zero nonce, counter from 0)
// under the key SHA-256(label). Vectors record every random value they
// consume, so an implementation in another language does not need to
// reproduce this stream.
package testrand

import (
	"crypto/sha256"
	"io"

	"golang.org/x/crypto/chacha20"
)

type reader struct{ c *chacha20.Cipher }

// New returns a deterministic reader seeded by label.
func New(label string) io.Reader {
	key := sha256.Sum256([]byte("sealpost testrand " + label))
	c, err := chacha20.NewUnauthenticatedCipher(key[:], make([]byte, chacha20.NonceSize))
	if err != nil {
		panic(err)
	}
	return &reader{c}
}

func (r *reader) Read(p []byte) (int, error) {
	clear(p)
	r.c.XORKeyStream(p, p)
	return len(p), nil
}
