package seal

import (
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// BenchmarkSeal measures sealing and opening envelopes of both versions
// (spec/seal.md §10.7): a 100-byte message (a 512-byte version 1 envelope,
// a 2048-byte version 2 one) and a 1 KiB message (2048 and 4096 bytes).
//
// Version 1: Seal costs an X25519 key generation and two X25519
// agreements; Open two X25519 agreements and an Ed25519 signature
// verification; both add two HKDF calls and ChaCha20-Poly1305 over the
// envelope. Version 2 adds, to Seal, the KEM prekey's Ed25519 signature
// check and an ML-KEM-768 encapsulation; to Open, an ML-KEM-768
// decapsulation (and the key id's SHA-256 over the 1184-byte key); and to
// both a SHA-256 over the 1.2 KB transcript.
//
//	go test -run '^$' -bench . -benchtime 2s ./crypto/seal
func BenchmarkSeal(b *testing.B) {
	alice := newDevice(b, "alice", "alice")
	bob := newKEMDevice(b, "bob", "bob", 1)
	rand := testrand.New("bench")
	to, kem := bob.keys.Public(), bob.pub[0]

	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"1KiB", 1024}} {
		msg := make([]byte, size.n)
		b.Run("seal-"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Seal(rand, alice.keys, alice.cert, to, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("open-"+size.name, func(b *testing.B) {
			env := sealOK(b, rand, alice, bob.device, msg)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Open(bob.keys, env); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("seal-hybrid-"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := SealHybrid(rand, alice.keys, alice.cert, to, kem, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("open-hybrid-"+size.name, func(b *testing.B) {
			env := sealHybridOK(b, rand, alice, bob, kem, msg)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := OpenHybrid(bob.keys, bob.lookup, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
