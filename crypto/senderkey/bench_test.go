package senderkey

import (
	"crypto/ed25519"
	"testing"
)

const benchSize = 1024

// BenchmarkSenderKeyEncrypt measures the sender's crypto for one 1 KiB
// group message in the steady state: one chain step, one AEAD, one Ed25519
// signature. It does not depend on the group's size.
func BenchmarkSenderKeyEncrypt(b *testing.B) {
	s, _ := newPair(b, "bench encrypt")
	pt := make([]byte, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Encrypt(pt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSenderKeyDecrypt measures one member device's crypto for one
// 1 KiB group message delivered in order: signature verification, one chain
// step, one AEAD. Compare with crypto/ratchet's BenchmarkRatchet/decrypt-1KiB.
func BenchmarkSenderKeyDecrypt(b *testing.B) {
	s, r := newPair(b, "bench decrypt")
	pt := make([]byte, benchSize)
	const batch = 1024
	ms := make([][]byte, 0, batch)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(ms) == 0 {
			b.StopTimer()
			for range batch {
				m, err := s.Encrypt(pt)
				if err != nil {
					b.Fatal(err)
				}
				ms = append(ms, m)
			}
			b.StartTimer()
		}
		if _, err := r.Decrypt(ms[0]); err != nil {
			b.Fatal(err)
		}
		ms = ms[1:]
	}
}

// BenchmarkSenderKeyParts measures the two Ed25519 operations alone, on
// the bytes a 1 KiB message signs: most of Encrypt and Decrypt.
func BenchmarkSenderKeyParts(b *testing.B) {
	s, _ := newPair(b, "bench parts")
	m, err := s.Encrypt(make([]byte, benchSize))
	if err != nil {
		b.Fatal(err)
	}
	signed := signedMessage(nil, m[:len(m)-64])
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(s.priv, signed)
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(s.pub[:], signed, m[len(m)-64:]) {
				b.Fatal("verify")
			}
		}
	})
}
