package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzPrekey parses arbitrary bytes as a signed prekey (spec/keys.md §8) and
// verifies what parses with the device signing key of the first prekey
// vector. Seeds are every prekey of spec/vectors/keys.json, valid and
// refused, of all four kinds.
//
// Checks: no panic; parsing refuses with ErrMalformed only and leaves its
// input alone; an accepted prekey has a known kind and a key of that kind's
// size (an ML-KEM key that EncapsulationKey accepts) and re-encodes to the
// same bytes; Verify refuses with ErrBadSignature only and changes nothing.
func FuzzPrekey(f *testing.F) {
	var first *vectors.KeysPrekeyCase
	for _, c := range keysVectors(f) {
		if c.Prekey == nil {
			continue
		}
		if first == nil {
			first = c.Prekey
		}
		f.Add(bytes.Clone(c.Prekey.Receive.Input))
	}
	if first == nil {
		f.Fatal("no prekey vectors")
	}
	dev := [keys.SigningKeySize]byte(first.Device.SigningPublic)

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		p, err := keys.ParsePrekey(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParsePrekey modified its input")
		}
		if err != nil {
			if !errors.Is(err, keys.ErrMalformed) {
				t.Fatalf("parse error of unknown kind: %v", err)
			}
			return
		}
		if !bytes.Equal(p.Marshal(), data) {
			t.Fatal("accepted prekey does not re-encode to the same bytes")
		}
		switch p.Kind {
		case keys.SignedPrekey, keys.OneTimePrekey:
			if len(p.Public) != keys.DHKeySize {
				t.Fatalf("X25519 prekey with a %d-byte key", len(p.Public))
			}
		case keys.LastResortKEMPrekey, keys.OneTimeKEMPrekey:
			if ek, err := p.EncapsulationKey(); err != nil || !bytes.Equal(ek.Bytes(), p.Public) {
				t.Fatalf("accepted ML-KEM prekey: %v", err)
			}
		default:
			t.Fatalf("accepted unknown kind %d", p.Kind)
		}
		if err := p.Verify(dev); err != nil && !errors.Is(err, keys.ErrBadSignature) {
			t.Fatalf("Verify error of unknown kind: %v", err)
		}
		if !bytes.Equal(p.Marshal(), data) {
			t.Fatal("Verify changed the prekey")
		}
	})
}
