package seal

import (
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// BenchmarkSeal measures sealing and opening an envelope carrying a 1 KiB
// message (a 2048-byte envelope). Seal costs an X25519 key generation and
// two X25519 agreements; Open two X25519 agreements and an Ed25519
// signature verification; both add two HKDF calls and ChaCha20-Poly1305
// over the envelope.
func BenchmarkSeal(b *testing.B) {
	alice, bob := newDevice(b, "alice", "alice"), newDevice(b, "bob", "bob")
	msg := make([]byte, 1024)
	rand := testrand.New("bench")
	to := bob.keys.Public()

	b.Run("seal-1KiB", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Seal(rand, alice.keys, alice.cert, to, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open-1KiB", func(b *testing.B) {
		env := sealOK(b, rand, alice, bob, msg)
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Open(bob.keys, env); err != nil {
				b.Fatal(err)
			}
		}
	})
}
