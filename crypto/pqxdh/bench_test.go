package pqxdh

import (
	"crypto/rand"
	"testing"
)

// BenchmarkPQXDH measures both sides of the agreement with a one-time
// prekey, including the initiator's verification of the bundle's chain.
// BenchmarkPQXDHFloor measures the public-key operations they must do.
func BenchmarkPQXDH(b *testing.B) {
	a, bob := newParty(b, rand.Reader, "alice", true), newParty(b, rand.Reader, "bob", true)
	b.Run("initiate", func(b *testing.B) {
		for b.Loop() {
			if _, err := Initiate(rand.Reader, a.device, a.cert, "bob", bob.account.Public(), bob.bundle); err != nil {
				b.Fatal(err)
			}
		}
	})
	s, err := Initiate(rand.Reader, a.device, a.cert, "bob", bob.account.Public(), bob.bundle)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("respond", func(b *testing.B) {
		for b.Loop() {
			m, err := ParseInitialMessage(s.Initial)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Respond(bob.device, bob.cert, a.cert, m, bob.prekeys()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
