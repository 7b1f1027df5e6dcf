package vrf

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

// The group order L, little-endian.
const orderHex = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"

// smallOrder lists canonical encodings of points of small order: the
// identity (order 1), (0, -1) (order 2), (±sqrt(-1), 0) (order 4) and a
// point of order 8.
var smallOrder = []string{
	"0100000000000000000000000000000000000000000000000000000000000000",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
}

// nonCanonicalPoint returns an encoding with y ≥ p of a point of large
// order that filippo.io/edwards25519 decodes, and that point's canonical
// encoding.
func nonCanonicalPoint(t *testing.T) (nonCanon, canon []byte) {
	t.Helper()
	for y := byte(2); y < 19; y++ {
		b := make([]byte, 32)
		for i := range b {
			b[i] = 0xff
		}
		b[0] = 0xed + y // p + y
		b[31] = 0x7f
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil || isSmallOrder(p) {
			continue
		}
		return b, p.Bytes()
	}
	t.Fatal("no non-canonical encoding of a large-order point")
	return nil, nil
}

func testKey(t testing.TB, label string) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(testrand.New(label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustProve(t testing.TB, k *PrivateKey, alpha []byte) ([OutputSize]byte, []byte) {
	t.Helper()
	beta, pi, err := k.Prove(alpha)
	if err != nil {
		t.Fatal(err)
	}
	return beta, pi
}

// verifyRefused checks that Verify refuses pi with want, returns a zero
// output, and leaves pi and the key unchanged.
func verifyRefused(t *testing.T, pk *PublicKey, alpha, pi []byte, want error) {
	t.Helper()
	piCopy, alphaCopy, keyCopy := bytes.Clone(pi), bytes.Clone(alpha), pk.Bytes()
	beta, err := pk.Verify(alpha, pi)
	if !errors.Is(err, want) {
		t.Errorf("Verify = %v, want %v", err, want)
	}
	if beta != ([OutputSize]byte{}) {
		t.Errorf("Verify refused with %v but returned output %x", err, beta)
	}
	if !bytes.Equal(pi, piCopy) || !bytes.Equal(alpha, alphaCopy) || !bytes.Equal(pk.Bytes(), keyCopy) {
		t.Error("Verify changed its inputs")
	}
}

func TestProveVerifyRoundTrip(t *testing.T) {
	k := testKey(t, "vrf round trip")
	pk, err := ParsePublicKey(k.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, alpha := range [][]byte{nil, {}, []byte("alice"), bytes.Repeat([]byte{0xa5}, 1000)} {
		beta, pi := mustProve(t, k, alpha)
		if len(pi) != ProofSize {
			t.Fatalf("proof is %d bytes", len(pi))
		}
		got, err := pk.Verify(alpha, pi)
		if err != nil || got != beta {
			t.Fatalf("Verify(%q) = %x, %v; want %x", alpha, got, err, beta)
		}
		beta2, pi2 := mustProve(t, k, alpha)
		if beta2 != beta || !bytes.Equal(pi2, pi) {
			t.Error("Prove is not deterministic")
		}
		h, err := ProofToHash(pi)
		if err != nil || h != beta {
			t.Errorf("ProofToHash = %x, %v; want %x", h, err, beta)
		}
	}
}

// TestFlippedBits flips every bit of a valid proof: each is refused with a
// named error. A flip in c is always ErrInvalidProof; a flip in Gamma or s
// is ErrMalformedProof when it breaks the encoding, else ErrInvalidProof.
func TestFlippedBits(t *testing.T) {
	k := testKey(t, "vrf flipped bits")
	pk := k.Public()
	alpha := []byte("alice")
	_, pi := mustProve(t, k, alpha)
	counts := map[string]map[error]int{}
	for i := 0; i < ProofSize*8; i++ {
		bad := bytes.Clone(pi)
		bad[i/8] ^= 1 << (i % 8)
		part := "gamma"
		switch {
		case i/8 >= pointSize+challengeSize:
			part = "s"
		case i/8 >= pointSize:
			part = "c"
		}
		_, err := pk.Verify(alpha, bad)
		switch {
		case errors.Is(err, ErrInvalidProof):
		case errors.Is(err, ErrMalformedProof) && part != "c":
		default:
			t.Fatalf("bit %d (%s) flipped: Verify = %v", i, part, err)
		}
		if counts[part] == nil {
			counts[part] = map[error]int{}
		}
		counts[part][err]++
		verifyRefused(t, pk, alpha, bad, err)
	}
	// Flipping a high bit of s makes s ≥ L; flipping bits of Gamma hits
	// both encodings that do not decode and points that do.
	if counts["s"][ErrMalformedProof] == 0 || counts["s"][ErrInvalidProof] == 0 {
		t.Errorf("s flips: %v, want both kinds", counts["s"])
	}
	if counts["gamma"][ErrMalformedProof] == 0 || counts["gamma"][ErrInvalidProof] == 0 {
		t.Errorf("gamma flips: %v, want both kinds", counts["gamma"])
	}
}

func TestWrongKeyWrongAlpha(t *testing.T) {
	k := testKey(t, "vrf key 1")
	other := testKey(t, "vrf key 2")
	_, pi := mustProve(t, k, []byte("alice"))
	verifyRefused(t, other.Public(), []byte("alice"), pi, ErrInvalidProof)
	verifyRefused(t, k.Public(), []byte("alicf"), pi, ErrInvalidProof)
	verifyRefused(t, k.Public(), nil, pi, ErrInvalidProof)
	verifyRefused(t, k.Public(), []byte("alice\x00"), pi, ErrInvalidProof)
}

func TestNonCanonicalScalar(t *testing.T) {
	k := testKey(t, "vrf s >= L")
	alpha := []byte("bob")
	_, pi := mustProve(t, k, alpha)
	order, _ := hex.DecodeString(orderHex)

	// s + L: the same residue, so only the range check refuses it.
	var s, l, sum [32]byte
	copy(s[:], pi[48:])
	copy(l[:], order)
	carry := 0
	for i := range sum {
		v := int(s[i]) + int(l[i]) + carry
		sum[i], carry = byte(v), v>>8
	}
	if carry != 0 {
		t.Fatal("s + L overflows")
	}
	bad := append(bytes.Clone(pi[:48]), sum[:]...)
	verifyRefused(t, k.Public(), alpha, bad, ErrMalformedProof)
	if _, err := ProofToHash(bad); !errors.Is(err, ErrMalformedProof) {
		t.Errorf("ProofToHash(s + L) = %v", err)
	}

	for _, sv := range []string{orderHex, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"} {
		b, _ := hex.DecodeString(sv)
		bad := append(bytes.Clone(pi[:48]), b...)
		verifyRefused(t, k.Public(), alpha, bad, ErrMalformedProof)
	}
}

func TestBadGamma(t *testing.T) {
	k := testKey(t, "vrf bad gamma")
	alpha := []byte("carol")
	_, pi := mustProve(t, k, alpha)
	nonCanon, _ := nonCanonicalPoint(t)
	cases := map[string][]byte{"non-canonical y ≥ p": nonCanon}
	for i, s := range smallOrder {
		b, _ := hex.DecodeString(s)
		cases[fmt.Sprintf("small order %d", i)] = b
	}
	// y = 2 is not on the curve: x² = 3/(4d+1) is not a square.
	notOnCurve := make([]byte, 32)
	notOnCurve[0] = 2
	if _, err := new(edwards25519.Point).SetBytes(notOnCurve); err == nil {
		t.Fatal("y = 2 decodes; pick another off-curve encoding")
	}
	cases["not on the curve"] = notOnCurve
	for name, g := range cases {
		t.Run(name, func(t *testing.T) {
			bad := append(bytes.Clone(g), pi[32:]...)
			verifyRefused(t, k.Public(), alpha, bad, ErrMalformedProof)
			if _, err := ProofToHash(bad); !errors.Is(err, ErrMalformedProof) {
				t.Errorf("ProofToHash = %v, want ErrMalformedProof", err)
			}
		})
	}
}

func TestWrongLength(t *testing.T) {
	k := testKey(t, "vrf length")
	alpha := []byte("dave")
	_, pi := mustProve(t, k, alpha)
	for _, bad := range [][]byte{nil, {}, pi[:1], pi[:ProofSize-1], append(bytes.Clone(pi), 0), append(bytes.Clone(pi), pi...)} {
		verifyRefused(t, k.Public(), alpha, bad, ErrMalformedProof)
		if _, err := ProofToHash(bad); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("ProofToHash(%d bytes) = %v", len(bad), err)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	k := testKey(t, "vrf parse key")
	good := k.Public().Bytes()
	pk, err := ParsePublicKey(good)
	if err != nil || !pk.Equal(k.Public()) || !bytes.Equal(pk.Bytes(), good) {
		t.Fatalf("ParsePublicKey(valid) = %v", err)
	}
	nonCanon, canon := nonCanonicalPoint(t)
	if _, err := ParsePublicKey(canon); err != nil {
		t.Fatalf("canonical form of the non-canonical test point refused: %v", err)
	}
	bad := map[string][]byte{
		"nil":              nil,
		"31 bytes":         good[:31],
		"33 bytes":         append(bytes.Clone(good), 0),
		"non-canonical":    nonCanon,
		"not on the curve": append([]byte{2}, make([]byte, 31)...),
	}
	for i, s := range smallOrder {
		b, _ := hex.DecodeString(s)
		bad[fmt.Sprintf("small order %d", i)] = b
	}
	for name, b := range bad {
		in := bytes.Clone(b)
		if pk, err := ParsePublicKey(b); !errors.Is(err, ErrInvalidKey) || pk != nil {
			t.Errorf("%s: ParsePublicKey = %v, %v; want nil, ErrInvalidKey", name, pk, err)
		}
		if !bytes.Equal(in, b) {
			t.Errorf("%s: input changed", name)
		}
	}
}

func TestPrivateKey(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if k, err := NewPrivateKey(make([]byte, n)); !errors.Is(err, ErrInvalidKey) || k != nil {
			t.Errorf("NewPrivateKey(%d bytes) = %v, %v", n, k, err)
		}
	}
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("GenerateKey accepted a short random source")
	}
	k := testKey(t, "vrf seed")
	k2, err := NewPrivateKey(k.Seed())
	if err != nil || !k2.Public().Equal(k.Public()) {
		t.Fatalf("NewPrivateKey(Seed()) = %v", err)
	}
	seed := k.Seed()
	seed[0] ^= 1
	if bytes.Equal(seed, k.Seed()) {
		t.Error("Seed returns the key's own buffer")
	}
	k2.Zero()
	if k2.seed != ([SeedSize]byte{}) || k2.prefix != ([32]byte{}) || k2.x.Equal(edwards25519.NewScalar()) != 1 {
		t.Error("Zero left secrets behind")
	}
}

func TestHandleInputAndIndex(t *testing.T) {
	a, err := HandleInput("alice")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("sealpost/v2/kt-vrf-handle\x00\x05"), "alice"...)
	if !bytes.Equal(a, want) {
		t.Errorf("HandleInput = %q, want %q", a, want)
	}
	for _, h := range []string{"", "al", "Alice", "alice!", string(make([]byte, 33))} {
		if a, err := HandleInput(h); !errors.Is(err, keys.ErrInvalidHandle) || a != nil {
			t.Errorf("HandleInput(%q) = %q, %v", h, a, err)
		}
	}
	var beta [OutputSize]byte
	for i := range beta {
		beta[i] = byte(i)
	}
	idx := Index(&beta)
	if !bytes.Equal(idx[:], beta[:32]) {
		t.Errorf("Index = %x", idx)
	}
}

// BenchmarkVRF measures proving and verifying one handle's VRF
// (issue 12 names these benchmarks).
func BenchmarkVRF(b *testing.B) {
	k := testKey(b, "vrf bench")
	alpha, err := HandleInput("alice.example")
	if err != nil {
		b.Fatal(err)
	}
	_, pi := mustProve(b, k, alpha)
	pk := k.Public()
	b.Run("prove", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := k.Prove(alpha); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pk.Verify(alpha, pi); err != nil {
				b.Fatal(err)
			}
		}
	})
}
