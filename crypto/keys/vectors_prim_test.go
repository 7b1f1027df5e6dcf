package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/internal/vectors"
)

// primKeyError maps the public-key error names of the ed25519 and x25519
// cases of keys.json to prim's errors.
var primKeyError = map[string]error{
	"non_canonical": prim.ErrNonCanonical,
	"low_order":     prim.ErrLowOrder,
}

// testEd25519Vector checks the verification rule of spec/keys.md §2.2: the
// public key check (error by name), then prim.Verify, which every Sealpost
// signature goes through.
func testEd25519Vector(t *testing.T, c *vectors.KeysEd25519Case) {
	keyErr := prim.CheckEd25519Public(c.Public)
	ok := prim.Verify(c.Public, c.Message, c.Signature)
	switch want, isKeyErr := primKeyError[c.Error]; {
	case c.Error == "":
		if keyErr != nil || !ok {
			t.Fatalf("refused (key check %v), want accepted", keyErr)
		}
	case isKeyErr:
		if !errors.Is(keyErr, want) || ok {
			t.Fatalf("key check %v, verified %v; want %v", keyErr, ok, want)
		}
		// crypto/ed25519 alone accepts these: only the key check refuses.
		if !ed25519.Verify(ed25519.PublicKey(c.Public), c.Message, c.Signature) {
			t.Fatalf("crypto/ed25519 refuses the signature too: the case does not isolate the key check")
		}
	case c.Error == "bad_signature":
		if keyErr != nil || ok {
			t.Fatalf("key check %v, verified %v; want a valid key and a refused signature", keyErr, ok)
		}
	default:
		t.Fatalf("unknown error %q", c.Error)
	}
	if !c.ZIP215 && c.Error == "" {
		t.Fatalf("accepted by Sealpost but not by ZIP 215: the strict rule must be the narrower one")
	}
}

// testX25519Vector checks DH of spec/keys.md §2.1 and the raw X25519
// function value.
func testX25519Vector(t *testing.T, c *vectors.KeysX25519Case) {
	out := make([]byte, prim.X25519Size)
	prim.X25519(out, c.Private, c.Public)
	if !bytes.Equal(out, c.Output) {
		t.Fatalf("X25519 = %x, want %x", out, c.Output)
	}
	shared, err := prim.DH(c.Private, c.Public)
	if c.Error == "" {
		if err != nil || !bytes.Equal(shared, c.Shared) {
			t.Fatalf("DH = %x, %v; want %x", shared, err, c.Shared)
		}
		return
	}
	want, ok := primKeyError[c.Error]
	if !ok {
		t.Fatalf("unknown error %q", c.Error)
	}
	if !errors.Is(err, want) || shared != nil || len(c.Shared) != 0 {
		t.Fatalf("DH = %x, %v; want %v", shared, err, want)
	}
}
