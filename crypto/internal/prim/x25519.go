package prim

import (
	"crypto/subtle"
	"io"

	"filippo.io/edwards25519/field"
)

// X25519 private keys are plain 32-byte slices that stay where the caller
// keeps them — the client keeps its long-term ones in locked memory — and
// are read in place: neither the key nor its clamped form is ever copied,
// not even to the stack, and no key object is built per operation. That is
// why Sealpost has its own ladder rather than crypto/ecdh (whose
// PrivateKey copies the key to the heap, as does golang.org/x/crypto's
// curve25519, which calls crypto/ecdh). spec/keys.md §2.1.

// basepoint is u = 9 (RFC 7748 §4.1).
var basepoint = [X25519Size]byte{9}

// X25519 sets dst to the X25519 function of RFC 7748 §5 of scalar and the
// u-coordinate u: scalar is clamped as it is read (bits 0-2 and 255 clear,
// bit 254 set), u has bit 255 masked and is reduced mod p. It returns the
// raw output, all zeros for a small-order u: DH is the checked form the
// protocols use. dst, scalar and u are 32 bytes each; X25519 panics
// otherwise. It runs in time independent of scalar.
func X25519(dst, scalar, u []byte) {
	if len(dst) != X25519Size || len(scalar) != X25519Size || len(u) != X25519Size {
		panic("prim: X25519 with a wrong-length argument")
	}
	var x1, x2, z2, x3, z3, t0, t1 field.Element
	if _, err := x1.SetBytes(u); err != nil {
		panic("prim: " + err.Error()) // only for a wrong length
	}
	x2.One()
	x3.Set(&x1)
	z3.One()
	swap := 0
	for t := 254; t >= 0; t-- {
		// k_t of the clamped scalar, read from scalar in place.
		kt := int(scalar[t>>3]>>(t&7)) & 1
		if t == 254 {
			kt = 1
		} else if t < 3 {
			kt = 0
		}
		swap ^= kt
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = kt
		// RFC 7748 §5 ladder step, in the order crypto/ecdh uses.
		t0.Subtract(&x3, &z3)
		t1.Subtract(&x2, &z2)
		x2.Add(&x2, &z2)
		z2.Add(&x3, &z3)
		z3.Multiply(&t0, &x2)
		z2.Multiply(&z2, &t1)
		t0.Square(&t1)
		t1.Square(&x2)
		x3.Add(&z3, &z2)
		z2.Subtract(&z3, &z2)
		x2.Multiply(&t1, &t0)
		t1.Subtract(&t1, &t0)
		z2.Square(&z2)
		z3.Mult32(&t1, 121666)
		x3.Square(&x3)
		t0.Add(&t0, &z3)
		z3.Multiply(&x1, &z2)
		z2.Multiply(&t1, &t0)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)
	z2.Invert(&z2)
	x2.Multiply(&x2, &z2)
	copy(dst, x2.Bytes())
	for _, e := range []*field.Element{&x1, &x2, &z2, &x3, &z3, &t0, &t1} {
		e.Zero()
	}
}

// X25519Public returns the public key of the private key priv:
// X25519(priv, 9) (RFC 7748 §6.1). priv is read in place.
func X25519Public(priv []byte) ([X25519Size]byte, error) {
	var pub [X25519Size]byte
	if len(priv) != X25519Size {
		return pub, ErrLength
	}
	X25519(pub[:], priv, basepoint[:])
	return pub, nil
}

// NewX25519Key reads a 32-byte private key from rand (spec/keys.md §2.1:
// the scalar is the 32 bytes as read; X25519 clamps it) into a new slice.
// It is for ephemeral and short-lived keys: the caller wipes it after use.
func NewX25519Key(rand io.Reader) ([]byte, error) {
	k := make([]byte, X25519Size)
	if _, err := io.ReadFull(rand, k); err != nil {
		return nil, err
	}
	return k, nil
}

// DH computes X25519(priv, pub) after checking pub (CheckX25519Public),
// refuses an all-zero output (spec/keys.md §2.1), and returns the shared
// secret in a new slice the caller wipes. priv is read in place
// (X25519).
func DH(priv, pub []byte) ([]byte, error) {
	if len(priv) != X25519Size {
		return nil, ErrLength
	}
	if err := CheckX25519Public(pub); err != nil {
		return nil, err
	}
	out := make([]byte, X25519Size)
	X25519(out, priv, pub)
	var zero [X25519Size]byte
	if subtle.ConstantTimeCompare(out, zero[:]) == 1 {
		return nil, ErrZeroSharedSecret
	}
	return out, nil
}
