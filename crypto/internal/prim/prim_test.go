package prim

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"math/big"
	"slices"
	"testing"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"

	"github.com/sealpost/sealpost/internal/testrand"
)

// le32 returns n as 32 little-endian bytes.
func le32(n *big.Int) []byte {
	b := n.FillBytes(make([]byte, 32))
	slices.Reverse(b)
	return b
}

// refX25519 is the X25519 function of RFC 7748 §5, written out with the
// Montgomery ladder so that it returns the all-zero output that crypto/ecdh
// refuses. It is only a test oracle; TestWycheproofX25519Reference checks it
// against every Wycheproof case.
func refX25519(scalar, u []byte) []byte {
	k := slices.Clone(scalar)
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	x1, err := new(field.Element).SetBytes(u) // masks bit 255, reduces mod p
	if err != nil {
		panic(err)
	}
	x2, z2 := new(field.Element).One(), new(field.Element)
	x3, z3 := new(field.Element).Set(x1), new(field.Element).One()
	swap := 0
	var a, aa, b, bb, e, c, d, da, cb field.Element
	for t := 254; t >= 0; t-- {
		kt := int(k[t/8]>>(t%8)) & 1
		swap ^= kt
		x2.Swap(x3, swap)
		z2.Swap(z3, swap)
		swap = kt
		a.Add(x2, z2)
		aa.Square(&a)
		b.Subtract(x2, z2)
		bb.Square(&b)
		e.Subtract(&aa, &bb)
		c.Add(x3, z3)
		d.Subtract(x3, z3)
		da.Multiply(&d, &a)
		cb.Multiply(&c, &b)
		x3.Square(new(field.Element).Add(&da, &cb))
		z3.Multiply(x1, new(field.Element).Square(new(field.Element).Subtract(&da, &cb)))
		x2.Multiply(&aa, &bb)
		z2.Multiply(&e, new(field.Element).Add(&aa, new(field.Element).Mult32(&e, 121665)))
	}
	x2.Swap(x3, swap)
	z2.Swap(z3, swap)
	return x2.Multiply(x2, new(field.Element).Invert(z2)).Bytes()
}

// x25519Order returns the order of the point with u-coordinate u if it
// divides 8, else 0, by repeated x-only doubling (RFC 7748's doubling step):
// the point at infinity is the one with z = 0.
func x25519Order(u []byte) int {
	x, err := new(field.Element).SetBytes(u)
	if err != nil {
		panic(err)
	}
	z := new(field.Element).One()
	var zero, a, aa, b, bb, e field.Element
	for order := 1; order <= 8; order *= 2 {
		if z.Equal(&zero) == 1 {
			return order
		}
		a.Add(x, z)
		aa.Square(&a)
		b.Subtract(x, z)
		bb.Square(&b)
		e.Subtract(&aa, &bb)
		x.Multiply(&aa, &bb)
		z.Multiply(&e, new(field.Element).Add(&aa, new(field.Element).Mult32(&e, 121665)))
	}
	return 0
}

// TestX25519LowOrderList proves prim's list of small-order u-coordinates
// right and complete. Curve25519 has order 8·ℓ with a cyclic 8-torsion, its
// twist has order 4·ℓ' with a cyclic 4-torsion, and both share the single
// 2-torsion point u = 0. So the u-coordinates of points of order dividing 8
// are exactly: u = 0 (order 2), two of order 4 (one on each curve), and two
// of order 8 (±P share a u). Since X25519 clamps the scalar to a multiple of
// 8 below 8·ℓ, its output is all zeros exactly for these five points.
func TestX25519LowOrderList(t *testing.T) {
	orders := map[int]int{}
	for i, u := range x25519LowOrder {
		if err := CheckX25519Public(u[:]); !errors.Is(err, ErrLowOrder) {
			t.Errorf("entry %d (%x): CheckX25519Public = %v, want ErrLowOrder", i, u, err)
		}
		for j := range i {
			if x25519LowOrder[j] == u {
				t.Errorf("entry %d duplicates entry %d", i, j)
			}
		}
		orders[x25519Order(u[:])]++
	}
	if want := map[int]int{2: 1, 4: 2, 8: 2}; !maps.Equal(orders, want) {
		t.Fatalf("orders of the list entries = %v, want %v", orders, want)
	}

	rand := testrand.New("prim low-order list")
	for range 32 {
		scalar := make([]byte, X25519Size)
		if _, err := io.ReadFull(rand, scalar); err != nil {
			t.Fatal(err)
		}
		priv := scalar
		for i, u := range x25519LowOrder {
			if out := refX25519(scalar, u[:]); !bytes.Equal(out, make([]byte, X25519Size)) {
				t.Errorf("entry %d: X25519(%x, u) = %x, want all zeros", i, scalar, out)
			}
			if out, err := DH(priv, u[:]); !errors.Is(err, ErrLowOrder) || out != nil {
				t.Errorf("entry %d: DH = %x, %v, want ErrLowOrder", i, out, err)
			}
		}
		// A full-order point gives a non-zero output that prim agrees on.
		peer, err := NewX25519Key(rand)
		if err != nil {
			t.Fatal(err)
		}
		pubA, err := X25519Public(peer)
		if err != nil {
			t.Fatal(err)
		}
		pub := pubA[:]
		if x25519Order(pub) != 0 {
			t.Fatalf("random public key %x has small order", pub)
		}
		out, err := DH(priv, pub)
		if err != nil || !bytes.Equal(out, refX25519(scalar, pub)) {
			t.Fatalf("DH = %x, %v; reference %x", out, err, refX25519(scalar, pub))
		}
	}
}

type publicKeyCase struct {
	name string
	pub  []byte
	want error // nil: accepted
}

func runPublicKeyCases(t *testing.T, check func([]byte) error, tests []publicKeyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.pub)
			err := check(tt.pub)
			if !errors.Is(err, tt.want) { // errors.Is(nil, nil) is true
				t.Fatalf("check(%x) = %v, want %v", tt.pub, err, tt.want)
			}
			if !bytes.Equal(tt.pub, before) {
				t.Fatal("check modified its input")
			}
		})
	}
}

func TestCheckX25519PublicBoundaries(t *testing.T) {
	pPlus := func(d int64) []byte { return le32(new(big.Int).Add(fieldP, big.NewInt(d))) }
	highBit := func(b []byte) []byte { b = slices.Clone(b); b[31] |= 0x80; return b }
	nine := le32(big.NewInt(9))

	if got := pPlus(18); !bytes.Equal(got, append(bytes.Repeat([]byte{0xff}, 31), 0x7f)) {
		t.Fatalf("p+18 = 2^255-1 encodes as %x", got)
	}
	tests := []publicKeyCase{
		{"base point 9", nine, nil},
		{"2", le32(big.NewInt(2)), nil},
		{"p-2", pPlus(-2), nil},
		{"0", make([]byte, 32), ErrLowOrder},
		{"1", le32(big.NewInt(1)), ErrLowOrder},
		{"p-1 (order 4 on the twist)", pPlus(-1), ErrLowOrder},
		{"high bit on 9", highBit(nine), ErrNonCanonical},
		{"high bit on 0", highBit(make([]byte, 32)), ErrNonCanonical},
		{"high bit on p-1", highBit(pPlus(-1)), ErrNonCanonical},
		{"2^256-1", bytes.Repeat([]byte{0xff}, 32), ErrNonCanonical},
		{"empty", nil, ErrLength},
		{"31 bytes", nine[:31], ErrLength},
		{"33 bytes", append(slices.Clone(nine), 0), ErrLength},
	}
	// Every value in [p, 2^255) is a non-canonical encoding, including p and
	// p+1, which alias the low-order u = 0 and u = 1: non-canonical wins.
	for d := int64(0); d < 19; d++ {
		tests = append(tests, publicKeyCase{"p+" + big.NewInt(d).String(), pPlus(d), ErrNonCanonical})
	}
	runPublicKeyCases(t, CheckX25519Public, tests)
}

// ed25519SmallOrder lists the canonical encodings of the eight points of the
// Ed25519 torsion subgroup (cyclic of order 8).
var ed25519SmallOrder = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2, y = -1
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4, y = 0
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4, y = 0, x negative
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEd25519SmallOrderList(t *testing.T) {
	// The list is the subgroup generated by any one of its order-8 points.
	gen, err := new(edwards25519.Point).SetBytes(mustHex(t, ed25519SmallOrder[4]))
	if err != nil {
		t.Fatal(err)
	}
	var generated []string
	p := edwards25519.NewIdentityPoint()
	for range 8 {
		generated = append(generated, hex.EncodeToString(p.Bytes()))
		p.Add(p, gen)
	}
	if p.Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("8·T is not the identity")
	}
	slices.Sort(generated)
	want := slices.Sorted(slices.Values(ed25519SmallOrder))
	if !slices.Equal(slices.Compact(generated), want) {
		t.Fatalf("torsion subgroup = %v, want %v", generated, want)
	}
}

func TestCheckEd25519Public(t *testing.T) {
	var tests []publicKeyCase
	for _, s := range ed25519SmallOrder {
		tests = append(tests, publicKeyCase{"small order " + s[:8] + ".." + s[62:], mustHex(t, s), ErrLowOrder})
	}
	key, err := NewEd25519Key(testrand.New("prim CheckEd25519Public"))
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(key.Public().(ed25519.PublicKey))
	tests = append(tests,
		publicKeyCase{"random key", pub, nil},
		publicKeyCase{"base point", edwards25519.NewGeneratorPoint().Bytes(), nil},
		publicKeyCase{"empty", nil, ErrLength},
		publicKeyCase{"31 bytes", pub[:31], ErrLength},
		publicKeyCase{"33 bytes", append(slices.Clone(pub), 0), ErrLength},
		// x = 0 with the sign bit set is a second encoding of a point, but
		// the only such points (y = 1, y = -1) have small order, and the
		// small-order check refuses them (spec/keys.md §2.2).
		publicKeyCase{"identity with sign bit", mustHex(t, "0100000000000000000000000000000000000000000000000000000000000080"), ErrLowOrder},
		publicKeyCase{"y = -1 with sign bit", mustHex(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"), ErrLowOrder},
	)

	// Every y in [p, 2^255), with either sign bit, is non-canonical, whether
	// or not y-p is the y of a point (filippo.io/edwards25519 decodes the
	// non-canonical encodings of points; prim must still refuse them).
	decodable, fullOrder := 0, 0
	for d := int64(0); d < 19; d++ {
		for _, sign := range []byte{0, 0x80} {
			enc := le32(new(big.Int).Add(fieldP, big.NewInt(d)))
			enc[31] |= sign
			if pt, err := new(edwards25519.Point).SetBytes(enc); err == nil {
				decodable++
				if new(edwards25519.Point).MultByCofactor(pt).Equal(edwards25519.NewIdentityPoint()) != 1 {
					fullOrder++
				}
			}
			tests = append(tests, publicKeyCase{"y = p+" + big.NewInt(d).String() + " sign " + big.NewInt(int64(sign>>7)).String(), enc, ErrNonCanonical})
		}
	}
	if decodable == 0 || fullOrder == 0 {
		t.Fatalf("non-canonical cases exercise nothing: %d decodable, %d not of small order", decodable, fullOrder)
	}

	// A y that is not the y of any point.
	offCurve := false
	for y := int64(2); y < 100 && !offCurve; y++ {
		enc := le32(big.NewInt(y))
		if _, err := new(edwards25519.Point).SetBytes(enc); err != nil {
			tests = append(tests, publicKeyCase{"off curve y = " + big.NewInt(y).String(), enc, ErrNonCanonical})
			offCurve = true
		}
	}
	if !offCurve {
		t.Fatal("no off-curve y below 100")
	}
	runPublicKeyCases(t, CheckEd25519Public, tests)
}

func TestSignedMessage(t *testing.T) {
	msg := []byte{1, 2, 3}
	got := SignedMessage("sealpost/v1/test", msg)
	if want := []byte("sealpost/v1/test\x00\x01\x02\x03"); !bytes.Equal(got, want) {
		t.Fatalf("SignedMessage = %q, want %q", got, want)
	}
	if got := SignedMessage("sealpost/v1/test", nil); !bytes.Equal(got, []byte("sealpost/v1/test\x00")) {
		t.Fatalf("SignedMessage with empty msg = %q", got)
	}
	got[0] = 'X'
	if !bytes.Equal(msg, []byte{1, 2, 3}) {
		t.Fatal("SignedMessage aliases msg")
	}
}

func TestSignVerifyLabeled(t *testing.T) {
	const label, other = "sealpost/v1/test-a", "sealpost/v1/test-b"
	key, err := NewEd25519Key(testrand.New("prim Sign"))
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(key.Public().(ed25519.PublicKey))
	msg := []byte("message")
	sig := Sign(key, label, msg)
	if !VerifyLabeled(pub, label, msg, sig) {
		t.Fatal("VerifyLabeled refused a good signature")
	}
	if !Verify(pub, SignedMessage(label, msg), sig) || !ed25519.Verify(key.Public().(ed25519.PublicKey), SignedMessage(label, msg), sig) {
		t.Fatal("the signature is not over label || 0x00 || msg")
	}
	if !VerifyChecked(pub, SignedMessage(label, msg), sig) || !VerifyLabeledChecked(pub, label, msg, sig) {
		t.Fatal("VerifyChecked or VerifyLabeledChecked refused a good signature")
	}
	if VerifyLabeledChecked(pub, other, msg, sig) || VerifyChecked(pub[:31], SignedMessage(label, msg), sig) {
		t.Fatal("VerifyLabeledChecked accepted another label, or VerifyChecked a short key")
	}
	if VerifyLabeled(pub, other, msg, sig) {
		t.Fatal("VerifyLabeled accepted a signature under another label")
	}
	if Verify(pub, msg, sig) {
		t.Fatal("Verify accepted a labeled signature over the bare message")
	}
	if VerifyLabeled(pub, label, []byte("messagE"), sig) {
		t.Fatal("VerifyLabeled accepted another message")
	}
	if VerifyLabeled(pub, label, msg, sig[:SignatureSize-1]) || VerifyLabeled(pub, label, msg, append(slices.Clone(sig), 0)) {
		t.Fatal("VerifyLabeled accepted a signature of the wrong length")
	}
	bad := slices.Clone(sig)
	bad[10] ^= 1
	if VerifyLabeled(pub, label, msg, bad) {
		t.Fatal("VerifyLabeled accepted a modified signature")
	}
}

// TestVerifyRefusesSmallOrderKey shows why CheckEd25519Public runs first:
// under the identity public key, cofactorless verification ([S]B = R + [k]A)
// accepts R = B, S = 1 for every message.
func TestVerifyRefusesSmallOrderKey(t *testing.T) {
	identity := edwards25519.NewIdentityPoint().Bytes()
	sig := append(edwards25519.NewGeneratorPoint().Bytes(), le32(big.NewInt(1))...)
	msg := []byte("any message at all")
	if !ed25519.Verify(ed25519.PublicKey(identity), msg, sig) {
		t.Fatal("premise: crypto/ed25519 should accept this forgery")
	}
	if Verify(identity, msg, sig) || VerifyLabeled(identity, "sealpost/v1/test", msg, sig) {
		t.Fatal("Verify accepted a signature under the identity key")
	}
}

func TestDHAgreement(t *testing.T) {
	rand := testrand.New("prim DH")
	a, err := NewX25519Key(rand)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewX25519Key(rand)
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := X25519Public(a)
	pb, _ := X25519Public(b)
	ab, err := DH(a, pb[:])
	if err != nil {
		t.Fatal(err)
	}
	ba, err := DH(b, pa[:])
	if err != nil || !Equal(ab, ba) {
		t.Fatalf("DH not symmetric: %x, %x, %v", ab, ba, err)
	}
	if _, err := NewX25519Key(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("NewX25519Key accepted a short read")
	}
	if _, err := NewEd25519Key(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("NewEd25519Key accepted a short read")
	}
	if _, err := DH(make([]byte, 31), pb[:]); !errors.Is(err, ErrLength) {
		t.Fatalf("DH with a 31-byte private key = %v, want ErrLength", err)
	}
	if _, err := X25519Public(make([]byte, 33)); !errors.Is(err, ErrLength) {
		t.Fatalf("X25519Public of 33 bytes = %v, want ErrLength", err)
	}
}

func TestHKDFNilSalt(t *testing.T) {
	ikm := []byte("input keying material")
	if !bytes.Equal(HKDF(nil, ikm, "sealpost/v1/test", 42), HKDF(make([]byte, 32), ikm, "sealpost/v1/test", 42)) {
		t.Fatal("a nil salt is not HashLen zero bytes (RFC 5869 §2.2)")
	}
	if bytes.Equal(HKDF(nil, ikm, "sealpost/v1/test-a", 32), HKDF(nil, ikm, "sealpost/v1/test-b", 32)) {
		t.Fatal("info does not separate outputs")
	}
}

func TestEqualZero(t *testing.T) {
	a := []byte{1, 2, 3}
	if !Equal(a, []byte{1, 2, 3}) || Equal(a, []byte{1, 2, 4}) || Equal(a, []byte{1, 2}) || Equal(a, nil) {
		t.Fatal("Equal is wrong")
	}
	if !Equal(nil, []byte{}) {
		t.Fatal("Equal(nil, empty) = false")
	}
	Zero(a)
	if !bytes.Equal(a, []byte{0, 0, 0}) {
		t.Fatalf("Zero left %x", a)
	}
	Zero(nil) // must not panic
}

func TestHMAC(t *testing.T) {
	// RFC 4231 §4.3, test case 2.
	got := HMAC([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if want := mustHex(t, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"); !bytes.Equal(got[:], want) {
		t.Fatalf("HMAC = %x, want %x", got, want)
	}
}
