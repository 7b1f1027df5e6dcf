package pqxdh

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"testing"
)

// BenchmarkFloor measures, one by one, the public-key operations PQXDH
// cannot avoid, so BenchmarkPQXDH can be compared with their sum
// (the goal is at most 1.2×):
//
//	initiate = 4 × ed25519-verify (certificate, SPK, OPK, KEM prekey)
//	         + x25519-keygen + 4 × x25519 + mlkem-encapsulate
//	respond  = 4 × x25519 + mlkem-decapsulate
func BenchmarkFloor(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	b.Run("ed25519-verify", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("verify")
			}
		}
	})
	k1, _ := ecdh.X25519().GenerateKey(rand.Reader)
	k2, _ := ecdh.X25519().GenerateKey(rand.Reader)
	seed := k1.Bytes()
	b.Run("x25519-keygen", func(b *testing.B) {
		for b.Loop() {
			if _, err := ecdh.X25519().NewPrivateKey(seed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("x25519", func(b *testing.B) {
		for b.Loop() {
			if _, err := k1.ECDH(k2.PublicKey()); err != nil {
				b.Fatal(err)
			}
		}
	})
	dk, _ := mlkem.GenerateKey768()
	ek := dk.EncapsulationKey()
	_, ct := ek.Encapsulate()
	b.Run("mlkem-encapsulate", func(b *testing.B) {
		for b.Loop() {
			ek.Encapsulate()
		}
	})
	b.Run("mlkem-decapsulate", func(b *testing.B) {
		for b.Loop() {
			if _, err := dk.Decapsulate(ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	dkSeed := dk.Bytes()
	b.Run("mlkem-expand-decapsulation-key", func(b *testing.B) {
		for b.Loop() {
			if _, err := mlkem.NewDecapsulationKey768(dkSeed); err != nil {
				b.Fatal(err)
			}
		}
	})
	ekBytes := ek.Bytes()
	b.Run("mlkem-parse-encapsulation-key", func(b *testing.B) {
		for b.Loop() {
			if _, err := mlkem.NewEncapsulationKey768(ekBytes); err != nil {
				b.Fatal(err)
			}
		}
	})
}
