package token

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
)

// TestVerifyTriesEveryKeyWithTheID checks spec/token.md §3: when two
// accepted keys share a key id (a collision of the 64-bit id, which the
// vectors cannot construct), the verifier tries each, in any order, and
// the token is accepted if one of them verifies it.
func TestVerifyTriesEveryKeyWithTheID(t *testing.T) {
	rnd := testrand.New("token key id collision")
	seed := func() ed25519.PrivateKey {
		b := make([]byte, ed25519.SeedSize)
		rnd.Read(b)
		return ed25519.NewKeyFromSeed(b)
	}
	a, b := seed(), seed()
	pubA, pubB := a.Public().(ed25519.PublicKey), b.Public().(ed25519.PublicKey)
	now := time.Unix(1767225600, 0)
	tok, err := Issue(rnd, a, Claims{Handle: "alice", Device: 1, Audience: "relay:x", IssuedAt: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	enc := tok.Marshal()
	forged := bytes.Clone(enc)
	forged[len(forged)-1] ^= 1
	for _, order := range [][]ed25519.PublicKey{{pubB, pubA}, {pubA, pubB}} {
		v, err := NewVerifier("relay:x", ClockSkew, order...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v.keys {
			v.keys[i].id = tok.KeyID // B's id collides with A's
		}
		if _, err := v.VerifyBytes(enc, now); err != nil {
			t.Fatalf("order %x…: %v, want accepted by the key that signed it", order[0][:4], err)
		}
		if got, err := v.VerifyBytes(forged, now); got != nil || !errors.Is(err, ErrBadSignature) {
			t.Fatalf("altered token: %v, want ErrBadSignature", err)
		}
	}
}
