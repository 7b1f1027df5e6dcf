package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"io"
	"math/big"

	"filippo.io/edwards25519"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

// This file writes the "ed25519" and "x25519" cases of keys.json: the edge
// cases of spec/keys.md §2.1 and §2.2. Each outcome is computed here by an
// independent restatement of the rule (and, for Ed25519, of ZIP 215), and
// checked against what the script says.

// ed25519Identity and ed25519IdentityP1 are the canonical encoding of the
// identity point and the non-canonical one with y = p + 1.
const (
	ed25519Identity   = "0100000000000000000000000000000000000000000000000000000000000000"
	ed25519IdentityP1 = "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
)

type edCase struct {
	id, comment string
	// build returns the public key, message and signature.
	build  func(rnd io.Reader) (pub, msg, sig []byte)
	err    string
	zip215 bool
}

func (g *keysGen) ed25519Cases() {
	t8 := must(new(edwards25519.Point).SetBytes(unhex(ed25519SmallOrder)))
	// key returns a secret scalar a and A = [a]B.
	key := func(rnd io.Reader) (*edwards25519.Scalar, *edwards25519.Point) {
		a := must(edwards25519.NewScalar().SetUniformBytes(readN(rnd, 64)))
		return a, new(edwards25519.Point).ScalarBaseMult(a)
	}
	// sign returns R || S for S = r + k·a, k = H(R || A || M), searching
	// for a message whose k satisfies want(k).
	sign := func(id string, r, a *edwards25519.Scalar, R, A []byte, want func(k *edwards25519.Scalar) bool) (msg, sig []byte) {
		for i := 0; ; i++ {
			msg = fmt.Appendf(nil, "sealpost ed25519 vector %s %d", id, i)
			k := edHram(R, A, msg)
			if want != nil && !want(k) {
				continue
			}
			s := edwards25519.NewScalar().MultiplyAdd(k, a, r)
			return msg, cat(R, s.Bytes())
		}
	}
	kDivisibleBy8 := func(k *edwards25519.Scalar) bool { return k.Bytes()[0]&7 == 0 }
	kNotDivisibleBy8 := func(k *edwards25519.Scalar) bool { return k.Bytes()[0]&7 != 0 }
	zero := edwards25519.NewScalar()

	cases := []edCase{
		{"valid", "a signature by crypto/ed25519.Sign", func(rnd io.Reader) ([]byte, []byte, []byte) {
			k := ed25519.NewKeyFromSeed(readN(rnd, 32))
			msg := []byte("sealpost ed25519 vector valid")
			return k.Public().(ed25519.PublicKey), msg, ed25519.Sign(k, msg)
		}, "", true},
		{"s-plus-l", "S replaced by S + L: the same point equation, but S is not reduced; both rules refuse", func(rnd io.Reader) ([]byte, []byte, []byte) {
			k := ed25519.NewKeyFromSeed(readN(rnd, 32))
			msg := []byte("sealpost ed25519 vector s-plus-l")
			sig := ed25519.Sign(k, msg)
			return k.Public().(ed25519.PublicKey), msg, cat(sig[:32], addL(sig[32:]))
		}, "bad_signature", false},
		{"small-order-r", "R is the identity (canonical encoding), S = k·a: the cofactorless equation holds, so both rules accept", func(rnd io.Reader) ([]byte, []byte, []byte) {
			a, A := key(rnd)
			msg, sig := sign("small-order-r", zero, a, unhex(ed25519Identity), A.Bytes(), nil)
			return A.Bytes(), msg, sig
		}, "", true},
		{"noncanonical-r", "R is the identity encoded with y = p + 1, S = k·a over those R bytes: [S]B − [k]A re-encodes canonically and differs from R, so Sealpost refuses; ZIP 215 decodes R and accepts", func(rnd io.Reader) ([]byte, []byte, []byte) {
			a, A := key(rnd)
			msg, sig := sign("noncanonical-r", zero, a, unhex(ed25519IdentityP1), A.Bytes(), nil)
			return A.Bytes(), msg, sig
		}, "bad_signature", true},
		{"mixed-order-r", "R = [r]B + T with T of order 8, S = r + k·a: only the cofactored equation holds", func(rnd io.Reader) ([]byte, []byte, []byte) {
			a, A := key(rnd)
			r, _ := key(rnd)
			R := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(r), t8)
			msg, sig := sign("mixed-order-r", r, a, R.Bytes(), A.Bytes(), nil)
			return A.Bytes(), msg, sig
		}, "bad_signature", true},
		{"mixed-order-a", "A = [a]B + T with T of order 8 (a valid key: not of small order), R = [r]B, S = r + k·a, k not divisible by 8: [k]T ≠ identity, so only the cofactored equation holds", func(rnd io.Reader) ([]byte, []byte, []byte) {
			a, A := key(rnd)
			r, R := key(rnd)
			A8 := new(edwards25519.Point).Add(A, t8).Bytes()
			msg, sig := sign("mixed-order-a", r, a, R.Bytes(), A8, kNotDivisibleBy8)
			return A8, msg, sig
		}, "bad_signature", true},
		{"mixed-order-a-k-divisible-by-8", "as mixed-order-a, but the message is chosen so that k is divisible by 8: [k]T is the identity and both rules accept", func(rnd io.Reader) ([]byte, []byte, []byte) {
			a, A := key(rnd)
			r, R := key(rnd)
			A8 := new(edwards25519.Point).Add(A, t8).Bytes()
			msg, sig := sign("mixed-order-a-k-divisible-by-8", r, a, R.Bytes(), A8, kDivisibleBy8)
			return A8, msg, sig
		}, "", true},
		{"small-order-a", "A of order 8, R = [r]B, S = r, k divisible by 8: the equation holds (crypto/ed25519.Verify alone accepts), but the public key check refuses A", func(rnd io.Reader) ([]byte, []byte, []byte) {
			r, R := key(rnd)
			msg, sig := sign("small-order-a", r, zero, R.Bytes(), t8.Bytes(), kDivisibleBy8)
			return t8.Bytes(), msg, sig
		}, "low_order", true},
		{"identity-a", "A is the identity and R = [S]B: valid for every message under both equations; the public key check refuses A", func(rnd io.Reader) ([]byte, []byte, []byte) {
			r, R := key(rnd)
			msg, sig := sign("identity-a", r, zero, R.Bytes(), unhex(ed25519Identity), nil)
			return unhex(ed25519Identity), msg, sig
		}, "low_order", true},
		{"noncanonical-identity-a", "A is the identity encoded with y = p + 1 and R = [S]B: ZIP 215 accepts; the public key check refuses the encoding", func(rnd io.Reader) ([]byte, []byte, []byte) {
			r, R := key(rnd)
			msg, sig := sign("noncanonical-identity-a", r, zero, R.Bytes(), unhex(ed25519IdentityP1), nil)
			return unhex(ed25519IdentityP1), msg, sig
		}, "non_canonical", true},
	}
	for _, c := range cases {
		pub, msg, sig := c.build(testrand.New("keys.json ed25519 " + c.id))
		v := vectors.KeysEd25519Case{Public: pub, Message: msg, Signature: sig,
			Error: strictEd25519(pub, msg, sig), ZIP215: zip215Verify(pub, msg, sig)}
		if v.Error != c.err || v.ZIP215 != c.zip215 {
			panic(fmt.Sprintf("ed25519 %s: got %q / zip215 %v, script says %q / %v", c.id, v.Error, v.ZIP215, c.err, c.zip215))
		}
		g.add("ed25519-"+c.id, c.comment, "ed25519", vectors.KeysCase{Ed25519: &v})
	}
}

func readN(r io.Reader, n int) []byte {
	b := make([]byte, n)
	must(io.ReadFull(r, b))
	return b
}

// edHram is k = SHA-512(R || A || M) mod L.
func edHram(R, A, msg []byte) *edwards25519.Scalar {
	h := sha512.Sum512(cat(R, A, msg))
	return must(edwards25519.NewScalar().SetUniformBytes(h[:]))
}

// addL returns the 32-byte little-endian S + L.
func addL(s []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	v := new(big.Int).Add(new(big.Int).SetBytes(reverse(s)), l)
	return reverse(v.FillBytes(make([]byte, 32)))
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

// strictEd25519 is spec/keys.md §2.2: the public key check, then
// crypto/ed25519.Verify (cofactorless, S < L, R compared as bytes).
func strictEd25519(pub, msg, sig []byte) string {
	y := bytes.Clone(pub)
	y[31] &= 0x7f
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	if new(big.Int).SetBytes(reverse(y)).Cmp(p) >= 0 {
		return "non_canonical"
	}
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return "non_canonical"
	}
	if new(edwards25519.Point).MultByCofactor(A).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return "low_order"
	}
	if !ed25519.Verify(pub, msg, sig) {
		return "bad_signature"
	}
	return ""
}

// zip215Verify is the ZIP 215 rule: A and R decoded accepting non-canonical
// encodings, S < L, and [8]([S]B − R − [k]A) the identity.
func zip215Verify(pub, msg, sig []byte) bool {
	A, errA := new(edwards25519.Point).SetBytes(pub)
	R, errR := new(edwards25519.Point).SetBytes(sig[:32])
	S, errS := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if errA != nil || errR != nil || errS != nil {
		return false
	}
	k := edHram(sig[:32], pub, msg)
	d := new(edwards25519.Point).ScalarBaseMult(S)
	d.Subtract(d, R)
	d.Subtract(d, new(edwards25519.Point).ScalarMult(k, A))
	return d.MultByCofactor(d).Equal(edwards25519.NewIdentityPoint()) == 1
}

// x25519Cases writes DH(private, public) for a valid key, each small-order
// u of spec/keys.md §2.1 and the non-canonical encodings.
func (g *keysGen) x25519Cases() {
	type xc struct{ id, comment, public, err string }
	rnd := testrand.New("keys.json x25519")
	peer := readN(rnd, 32)
	cases := []xc{
		{"valid", "an ordinary public key", hexOf(x25519Ref(peer, x25519Base())), ""},
		{"u-0", "u = 0: output all zeros", "0000000000000000000000000000000000000000000000000000000000000000", "low_order"},
		{"u-1", "u = 1: output all zeros", "0100000000000000000000000000000000000000000000000000000000000000", "low_order"},
		{"order-8-a", "a point of order 8: output all zeros", x25519LowOrder, "low_order"},
		{"order-8-b", "the other point of order 8: output all zeros", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", "low_order"},
		{"u-p-minus-1", "u = p − 1 (order 2 on the twist): output all zeros", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "low_order"},
		{"u-p", "u = p, which RFC 7748 reduces to 0: refused as non-canonical before the output (all zeros) is computed", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "non_canonical"},
		{"u-p-plus-1", "u = p + 1, which reduces to 1 (output all zeros): refused as non-canonical", x25519NotReduced, "non_canonical"},
		{"high-bit", "u = 9 with bit 255 set: RFC 7748 masks the bit and the output is a valid secret, but the encoding is refused", x25519HighBit, "non_canonical"},
		{"high-bit-zero", "u = 0 with bit 255 set: refused as non-canonical", "0000000000000000000000000000000000000000000000000000000000000080", "non_canonical"},
	}
	for _, c := range cases {
		priv := readN(rnd, 32)
		pub := unhex(c.public)
		v := vectors.KeysX25519Case{Private: priv, Public: pub, Output: x25519Ref(priv, pub), Error: c.err}
		if c.err == "" {
			v.Shared = v.Output
		}
		zero := bytes.Equal(v.Output, make([]byte, 32))
		if zero != (c.err == "low_order" || c.id == "u-p" || c.id == "u-p-plus-1" || c.id == "high-bit-zero") {
			panic("x25519 " + c.id + ": unexpected output")
		}
		g.add("x25519-"+c.id, c.comment, "x25519", vectors.KeysCase{X25519: &v})
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

func x25519Base() []byte { return append([]byte{9}, make([]byte, 31)...) }

// x25519Ref is RFC 7748 §5 over math/big, independent of every library the
// code under test uses: the scalar clamped, bit 255 of u masked, u reduced.
func x25519Ref(scalar, u []byte) []byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	k := bytes.Clone(scalar)
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	ub := bytes.Clone(u)
	ub[31] &= 127
	x1 := new(big.Int).Mod(new(big.Int).SetBytes(reverse(ub)), p)
	kn := new(big.Int).SetBytes(reverse(k))
	x2, z2, x3, z3 := big.NewInt(1), big.NewInt(0), new(big.Int).Set(x1), big.NewInt(1)
	mod := func(v *big.Int) *big.Int { return v.Mod(v, p) }
	mul := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Mul(a, b)) }
	swap := uint(0)
	for t := 254; t >= 0; t-- {
		kt := kn.Bit(t)
		if swap^kt == 1 {
			x2, x3 = x3, x2
			z2, z3 = z3, z2
		}
		swap = kt
		A := mod(new(big.Int).Add(x2, z2))
		AA := mul(A, A)
		B := mod(new(big.Int).Sub(x2, z2))
		BB := mul(B, B)
		E := mod(new(big.Int).Sub(AA, BB))
		C := mod(new(big.Int).Add(x3, z3))
		D := mod(new(big.Int).Sub(x3, z3))
		DA, CB := mul(D, A), mul(C, B)
		s := mod(new(big.Int).Add(DA, CB))
		x3 = mul(s, s)
		d := mod(new(big.Int).Sub(DA, CB))
		z3 = mul(x1, mul(d, d))
		x2 = mul(AA, BB)
		z2 = mul(E, mod(new(big.Int).Add(AA, mul(big.NewInt(121665), E))))
	}
	if swap == 1 {
		x2, z2 = x3, z3
	}
	out := mul(x2, new(big.Int).Exp(z2, new(big.Int).Sub(p, big.NewInt(2)), p))
	return reverse(out.FillBytes(make([]byte, 32)))
}
