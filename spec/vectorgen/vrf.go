package main

import (
	"bytes"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() {
	register("vrf.json", genVRF)
}

// Encodings the refusal cases of vrf.json use (spec/transparency-v2.md §3.2).
const (
	// vrfOrderL is the group order L, little-endian.
	vrfOrderL = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"
	// vrfIdentity is the identity point (0, 1); vrfOrder8 a point of order 8.
	vrfIdentity = "0100000000000000000000000000000000000000000000000000000000000000"
	vrfOrder8   = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"
	// vrfOffCurve is y = 2, which is no point's y-coordinate.
	vrfOffCurve = "0200000000000000000000000000000000000000000000000000000000000000"
)

// vrfNonCanonical returns p + y for the first y in 2..18 that is the
// y-coordinate of a point of large order: an encoding filippo.io/edwards25519
// decodes but RFC 8032 §5.1.3 refuses.
func vrfNonCanonical() ([]byte, error) {
	for y := byte(2); y < 19; y++ {
		b := bytes.Repeat([]byte{0xff}, 32)
		b[0], b[31] = 0xed+y, 0x7f
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		return b, nil
	}
	return nil, fmt.Errorf("no non-canonical large-order encoding")
}

// leAdd returns a + b for 32-byte little-endian a, b (no overflow here).
func leAdd(a, b []byte) []byte {
	out := make([]byte, 32)
	carry := 0
	for i := range out {
		v := int(a[i]) + int(b[i]) + carry
		out[i], carry = byte(v), v>>8
	}
	return out
}

func genVRF() ([]byte, error) {
	r := testrand.New("vectors/vrf")
	newKey := func() (*vrf.PrivateKey, error) { return vrf.GenerateKey(r) }
	keyA, err := newKey()
	if err != nil {
		return nil, err
	}
	keyB, err := newKey()
	if err != nil {
		return nil, err
	}
	input := func(h string) []byte {
		a, err := vrf.HandleInput(h)
		if err != nil {
			panic(err) // the generator's own handles are valid
		}
		return a
	}
	// proved returns a case with the prover's half filled in and the
	// verifier given exactly the prover's key, input and proof.
	proved := func(id, comment string, k *vrf.PrivateKey, handle string) (*vectors.VRFCase, error) {
		alpha := input(handle)
		beta, pi, err := k.Prove(alpha)
		if err != nil {
			return nil, err
		}
		return &vectors.VRFCase{
			ID: id, Comment: comment,
			Seed: k.Seed(), ProverPublicKey: k.Public().Bytes(),
			ProvedHandle: handle, ProvedAlpha: alpha, Proof: pi, ProvedBeta: beta[:],
			PublicKey: k.Public().Bytes(), Handle: handle, Alpha: alpha, Pi: bytes.Clone(pi),
		}, nil
	}
	ok := func(c *vectors.VRFCase) *vectors.VRFCase {
		c.Result = "ok"
		c.Beta = bytes.Clone(c.ProvedBeta)
		c.Index = bytes.Clone(c.ProvedBeta[:vrf.IndexSize])
		return c
	}
	refused := func(c *vectors.VRFCase, mutation, result string) *vectors.VRFCase {
		c.Mutation, c.Result = mutation, result
		return c
	}
	withPi := func(c *vectors.VRFCase, f func(pi []byte) []byte) *vectors.VRFCase {
		c.Pi = f(bytes.Clone(c.Proof))
		return c
	}
	withGamma := func(c *vectors.VRFCase, gamma string) *vectors.VRFCase {
		return withPi(c, func(pi []byte) []byte { return append(unhex(gamma), pi[32:]...) })
	}
	nonCanon, err := vrfNonCanonical()
	if err != nil {
		return nil, err
	}

	type step struct {
		id, comment string
		key         *vrf.PrivateKey
		handle      string
		finish      func(*vectors.VRFCase) *vectors.VRFCase
	}
	steps := []step{
		{"ok-alice", "a valid proof for the handle alice", keyA, "alice", ok},
		{"ok-bob", "a valid proof for bob under the same key: another index", keyA, "bob", ok},
		{"ok-long-handle", "a valid proof for a 32-byte handle under another key", keyB, "carol.example-handle_0123456789a", ok},
		{"ok-short-handle", "a valid proof for a 3-byte handle", keyB, "d-3", ok},
		{"another-handle", "alice's proof presented for bob", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			c.Handle, c.Alpha = "bob", input("bob")
			return refused(c, "handle", "invalid_proof")
		}},
		{"another-key", "a proof checked under another VRF key", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			c.PublicKey = keyB.Public().Bytes()
			return refused(c, "public_key", "invalid_proof")
		}},
		{"gamma-bit-flipped", "bit 0 of Gamma flipped", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func(pi []byte) []byte { pi[0] ^= 1; return pi }), "gamma", "")
		}},
		{"c-bit-flipped", "bit 0 of c flipped", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func(pi []byte) []byte { pi[32] ^= 1; return pi }), "c", "invalid_proof")
		}},
		{"s-bit-flipped", "bit 0 of s flipped (still below L)", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func(pi []byte) []byte { pi[48] ^= 1; return pi }), "s", "")
		}},
		{"s-plus-l", "s replaced by s + L: the same residue, not canonical", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func(pi []byte) []byte { return append(pi[:48], leAdd(pi[48:], unhex(vrfOrderL))...) }), "s", "malformed_proof")
		}},
		{"s-equals-l", "s replaced by L", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func(pi []byte) []byte { return append(pi[:48], unhex(vrfOrderL)...) }), "s", "malformed_proof")
		}},
		{"gamma-identity", "Gamma replaced by the identity (small order)", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withGamma(c, vrfIdentity), "gamma", "malformed_proof")
		}},
		{"gamma-order-8", "Gamma replaced by a point of order 8", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withGamma(c, vrfOrder8), "gamma", "malformed_proof")
		}},
		{"gamma-non-canonical", "Gamma replaced by a non-canonical encoding (y >= p) of a large-order point", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withGamma(c, fmt.Sprintf("%x", nonCanon)), "gamma", "malformed_proof")
		}},
		{"gamma-off-curve", "Gamma replaced by an encoding of no point (y = 2)", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withGamma(c, vrfOffCurve), "gamma", "malformed_proof")
		}},
		{"proof-truncated", "the proof without its last byte (79 bytes)", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func(pi []byte) []byte { return pi[:79] }), "length", "malformed_proof")
		}},
		{"proof-extended", "the proof with one byte appended (81 bytes)", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func(pi []byte) []byte { return append(pi, 0) }), "length", "malformed_proof")
		}},
		{"proof-empty", "an empty proof", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			return refused(withPi(c, func([]byte) []byte { return []byte{} }), "length", "malformed_proof")
		}},
		{"key-small-order", "the public key replaced by a point of order 8", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			c.PublicKey = unhex(vrfOrder8)
			return refused(c, "public_key", "invalid_key")
		}},
		{"key-identity", "the public key replaced by the identity", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			c.PublicKey = unhex(vrfIdentity)
			return refused(c, "public_key", "invalid_key")
		}},
		{"key-non-canonical", "the public key replaced by a non-canonical encoding (y >= p)", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			c.PublicKey = bytes.Clone(nonCanon)
			return refused(c, "public_key", "invalid_key")
		}},
		{"key-short", "a 31-byte public key", keyA, "alice", func(c *vectors.VRFCase) *vectors.VRFCase {
			c.PublicKey = c.PublicKey[:31]
			return refused(c, "public_key", "invalid_key")
		}},
	}
	f := &vectors.File[vectors.VRFCase]{
		Description: "ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) as key transparency v2 uses it: handle inputs, proofs, outputs, map indexes, and refused proofs and keys",
		Spec:        "spec/transparency-v2.md §3",
	}
	for _, s := range steps {
		c, err := proved(s.id, s.comment, s.key, s.handle)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.id, err)
		}
		c = s.finish(c)
		if c.Result == "" {
			// A flipped bit in Gamma or s: which refusal depends on
			// whether the result still decodes; ask the code under test
			// and record it (the test checks that it is one of the two).
			pk, err := vrf.ParsePublicKey(c.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.id, err)
			}
			_, err = pk.Verify(c.Alpha, c.Pi)
			switch {
			case errors.Is(err, vrf.ErrMalformedProof):
				c.Result = "malformed_proof"
			case errors.Is(err, vrf.ErrInvalidProof):
				c.Result = "invalid_proof"
			default:
				return nil, fmt.Errorf("%s: Verify = %v", s.id, err)
			}
		}
		f.Cases = append(f.Cases, *c)
	}
	return encode(f)
}
