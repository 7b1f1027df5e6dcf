package ratchet

import (
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

const benchSize = 1024

// BenchmarkRatchet measures one message per iteration. encrypt and decrypt
// stay on one chain (the steady state); pingpong alternates directions, so
// every message is the first of a new chain: one DH ratchet step when it is
// encrypted and one when it is decrypted.
func BenchmarkRatchet(b *testing.B) {
	pt := make([]byte, benchSize)

	b.Run("encrypt-1KiB", func(b *testing.B) {
		p := newSteadyPair(b, "bench encrypt")
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.a.Encrypt(p.rand, pt); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("decrypt-1KiB", func(b *testing.B) {
		p := newSteadyPair(b, "bench decrypt")
		// Messages are made in batches outside the timer, then decrypted
		// in order.
		const batch = 1024
		ms := make([][]byte, 0, batch)
		b.SetBytes(benchSize)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if len(ms) == 0 {
				b.StopTimer()
				for range batch {
					m, err := p.a.Encrypt(p.rand, pt)
					if err != nil {
						b.Fatal(err)
					}
					ms = append(ms, m)
				}
				b.StartTimer()
			}
			if _, err := p.b.Decrypt(ms[0]); err != nil {
				b.Fatal(err)
			}
			ms = ms[1:]
		}
	})

	b.Run("pingpong-1KiB", func(b *testing.B) {
		p := newPair(b, "bench pingpong")
		recv(b, p.b, p.send(b, p.a, "first"), "first")
		from, to := p.b, p.a
		b.SetBytes(benchSize)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m, err := from.Encrypt(p.rand, pt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := to.Decrypt(m); err != nil {
				b.Fatal(err)
			}
			from, to = to, from
		}
	})
}

// newSteadyPair returns a session past its first round trip: the initiator
// no longer attaches the initial message.
func newSteadyPair(b *testing.B, label string) *pair {
	p := newPair(b, label)
	recv(b, p.b, p.send(b, p.a, "first"), "first")
	recv(b, p.a, p.send(b, p.b, "reply"), "reply")
	return p
}

// BenchmarkPrimitives measures the floor of one steady-state message on
// each side: the primitive calls that spec/ratchet.md §3.2-§3.4 require
// (two chain-key HMACs, the message-key HKDF, the AEAD of 1 KiB) with
// nothing around them. The goal for BenchmarkRatchet's encrypt-1KiB plus
// decrypt-1KiB is at most 1.5 times seal-1KiB plus open-1KiB.
func BenchmarkPrimitives(b *testing.B) {
	pt := make([]byte, benchSize)
	ad := make([]byte, 128+HeaderSize)
	var ck [KeySize]byte
	var salt [32]byte
	one, two := []byte{1}, []byte{2}

	step := func() (key, nonce []byte) {
		mk := prim.HMAC(ck[:], one)
		ck = prim.HMAC(ck[:], two)
		out := prim.HKDF(salt[:], mk[:], LabelMessage, messageCipherSize)
		return out[:prim.AEADKeySize], out[prim.AEADKeySize:]
	}

	b.Run("seal-1KiB", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			key, nonce := step()
			prim.AEADSeal(nil, key, nonce, pt, ad)
		}
	})

	b.Run("open-1KiB", func(b *testing.B) {
		key, nonce := step()
		ct := prim.AEADSeal(nil, key, nonce, pt, ad)
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			step()
			// Every iteration opens the same ciphertext: the AEAD work is
			// the same whatever the key.
			if _, err := prim.AEADOpen(nil, key, nonce, ct, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}
