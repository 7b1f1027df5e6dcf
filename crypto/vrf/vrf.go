// Package vrf implements the verifiable random function
// ECVRF-EDWARDS25519-SHA512-TAI of RFC 9381 (§5, suite_string 0x03), which
// key transparency v2 uses to derive the private map index of a handle
// (spec/transparency-v2.md §3).
//
// The holder of a PrivateKey computes, for any input alpha, a 64-byte output
// beta and an 80-byte proof pi; anyone with the PublicKey checks pi against
// alpha and learns beta, and nothing else: without a proof, beta looks
// random. The output is unique: for a valid public key there is one beta per
// alpha, whatever proof is presented.
//
// The package is pure: no I/O, no global state. Randomness is an io.Reader
// supplied by the caller (GenerateKey only; proving is deterministic).
//
// It uses filippo.io/edwards25519 and crypto/sha512 directly rather than
// through crypto/internal/prim: a VRF is itself a primitive built from group
// operations, which prim does not (and should not) expose one by one.
package vrf

import (
	"bytes"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"io"

	"filippo.io/edwards25519"
)

// Sizes of the encodings (spec/transparency-v2.md §3.2; RFC 9381 §5.5:
// ptLen = 32, cLen = 16, qLen = 32).
const (
	SeedSize      = 32 // private key: the RFC 8032 secret key string SK
	PublicKeySize = 32 // public key: point_to_string(Y)
	ProofSize     = 80 // Gamma (32) || c (16) || s (32)
	OutputSize    = 64 // beta, one SHA-512 output

	pointSize     = 32
	challengeSize = 16
	scalarSize    = 32
)

// Domain separators of RFC 9381 §5: the suite string of
// ECVRF-EDWARDS25519-SHA512-TAI and the one-byte separators of
// encode_to_curve (0x01), challenge_generation (0x02) and proof_to_hash
// (0x03), each followed by the back separator 0x00.
const (
	suiteString     = 0x03
	sepEncode       = 0x01
	sepChallenge    = 0x02
	sepProofToHash  = 0x03
	sepBack         = 0x00
	maxEncodeCtr    = 255 // ctr is one byte (int_to_string(ctr, 1))
	encodeMaxRounds = maxEncodeCtr + 1
)

// Errors (spec/transparency-v2.md §3.5). Test with errors.Is.
var (
	// ErrInvalidKey reports a public key that is not 32 bytes, not the
	// canonical encoding of a curve point, or a point of small order
	// (RFC 9381 §5.4.5, validate_key), or a private seed of the wrong length.
	ErrInvalidKey = errors.New("vrf: invalid key")
	// ErrMalformedProof reports a proof that cannot be decoded: not 80 bytes,
	// Gamma not the canonical encoding of a curve point or of small order,
	// or s not less than the group order L (RFC 9381 §5.4.4).
	ErrMalformedProof = errors.New("vrf: malformed proof")
	// ErrInvalidProof reports a well-formed proof that does not verify for
	// this key and input.
	ErrInvalidProof = errors.New("vrf: invalid proof")
	// ErrEncodeToCurve reports that try-and-increment found no point in 256
	// attempts (RFC 9381 §5.4.1.1). The probability is 2^-256 for a given
	// input; no proof exists for such an input.
	ErrEncodeToCurve = errors.New("vrf: encode_to_curve failed")
)

// PublicKey is a VRF public key Y, checked by ParsePublicKey.
type PublicKey struct {
	enc   [PublicKeySize]byte
	point edwards25519.Point
}

// PrivateKey is a VRF private key. Zero erases it.
type PrivateKey struct {
	seed   [SeedSize]byte
	x      edwards25519.Scalar // secret scalar: clamped SHA-512(SK)[0:32]
	prefix [32]byte            // nonce key: SHA-512(SK)[32:64]
	pub    PublicKey
}

// GenerateKey reads a 32-byte seed from rand and returns the private key it
// determines (NewPrivateKey).
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	var seed [SeedSize]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	return NewPrivateKey(seed[:])
}

// NewPrivateKey returns the private key whose secret key string SK is seed,
// 32 bytes. The scalar and the nonce key are derived from SHA-512(seed) as in
// RFC 8032 §5.1.5 (RFC 9381 §5.5). The seed is copied.
func NewPrivateKey(seed []byte) (*PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, ErrInvalidKey
	}
	h := sha512.Sum512(seed)
	defer clear(h[:])
	k := new(PrivateKey)
	copy(k.seed[:], seed)
	if _, err := k.x.SetBytesWithClamping(h[:32]); err != nil {
		return nil, ErrInvalidKey // unreachable: h[:32] is 32 bytes
	}
	copy(k.prefix[:], h[32:])
	k.pub.point.ScalarBaseMult(&k.x)
	copy(k.pub.enc[:], k.pub.point.Bytes())
	return k, nil
}

// Seed returns a copy of the key's 32-byte seed, the form to store it in.
func (k *PrivateKey) Seed() []byte {
	return bytes.Clone(k.seed[:])
}

// Public returns the public key of k.
func (k *PrivateKey) Public() *PublicKey {
	p := new(PublicKey)
	p.enc = k.pub.enc
	p.point.Set(&k.pub.point)
	return p
}

// Zero erases the key's secrets (seed, scalar, nonce key). A zeroed key
// must not be used again. Erasure is best effort under a garbage collector
// (SECURITY.md, "Known limits").
func (k *PrivateKey) Zero() {
	clear(k.seed[:])
	k.x = edwards25519.Scalar{}
	clear(k.prefix[:])
}

// ParsePublicKey decodes and checks a public key as RFC 9381 §5.4.5
// (validate_key) and §5.5 require: 32 bytes, the canonical RFC 8032 §5.1.3
// encoding of a point on the curve, not of small order. Anything else is
// ErrInvalidKey.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	p := new(PublicKey)
	if err := decodePoint(&p.point, b); err != nil {
		return nil, ErrInvalidKey
	}
	if isSmallOrder(&p.point) {
		return nil, ErrInvalidKey
	}
	copy(p.enc[:], b)
	return p, nil
}

// Bytes returns the 32-byte encoding of the public key.
func (p *PublicKey) Bytes() []byte {
	return bytes.Clone(p.enc[:])
}

// Equal reports whether p and q are the same key.
func (p *PublicKey) Equal(q *PublicKey) bool {
	return p.enc == q.enc
}

// Prove computes the VRF output beta and the 80-byte proof pi for alpha
// (RFC 9381 §5.1 with §5.4.2.2 nonce generation). It is deterministic: the
// same key and alpha always give the same proof. The secret scalar is only
// used in constant-time operations; encode_to_curve runs in time that
// depends on the public key and alpha only.
func (k *PrivateKey) Prove(alpha []byte) (beta [OutputSize]byte, pi []byte, err error) {
	// 1–2. H = encode_to_curve(PK, alpha); h_string = point_to_string(H).
	var H edwards25519.Point
	if _, err := encodeToCurve(&H, k.pub.enc[:], alpha); err != nil {
		return beta, nil, err
	}
	var hString [pointSize]byte
	copy(hString[:], H.Bytes())

	// 3. Gamma = x*H.
	var gamma edwards25519.Point
	gamma.ScalarMult(&k.x, &H)

	// 4. k = nonce_generation(SK, h_string) (§5.4.2.2):
	//    SHA-512(SHA-512(SK)[32:64] || h_string) mod L.
	//    Hashed from one local buffer (not a heap hash state) so that both
	//    the nonce key and the nonce can be cleared afterwards.
	var kIn [64]byte
	copy(kIn[:32], k.prefix[:])
	copy(kIn[32:], hString[:])
	kBuf := sha512.Sum512(kIn[:])
	clear(kIn[:])
	var nonce edwards25519.Scalar
	defer func() { nonce = edwards25519.Scalar{} }()
	_, err = nonce.SetUniformBytes(kBuf[:])
	clear(kBuf[:])
	if err != nil {
		return beta, nil, ErrEncodeToCurve // unreachable: kBuf is 64 bytes
	}

	// 5. c = challenge_generation(Y, H, Gamma, k*B, k*H).
	var U, V edwards25519.Point
	U.ScalarBaseMult(&nonce)
	V.ScalarMult(&nonce, &H)
	gammaEnc := gamma.Bytes()
	c := challenge(k.pub.enc[:], hString[:], gammaEnc, U.Bytes(), V.Bytes())

	// 6. s = (k + c*x) mod L.
	var cs, s edwards25519.Scalar
	cs.SetCanonicalBytes(padChallenge(&c)) // < 2^128 < L: always canonical
	s.MultiplyAdd(&cs, &k.x, &nonce)

	// 7. pi = point_to_string(Gamma) || int_to_string(c, 16) || int_to_string(s, 32).
	pi = make([]byte, 0, ProofSize)
	pi = append(pi, gammaEnc...)
	pi = append(pi, c[:]...)
	pi = append(pi, s.Bytes()...)
	return proofToHash(&gamma), pi, nil
}

// Verify checks the proof pi for alpha under p (RFC 9381 §5.3, with the
// key validated by ParsePublicKey) and returns the VRF output beta. A proof
// that cannot be decoded is ErrMalformedProof; one that does not verify is
// ErrInvalidProof. Verify runs in variable time: every input is public.
func (p *PublicKey) Verify(alpha, pi []byte) (beta [OutputSize]byte, err error) {
	var gamma edwards25519.Point
	var c [challengeSize]byte
	var s edwards25519.Scalar
	if err := decodeProof(&gamma, &c, &s, pi); err != nil {
		return beta, err
	}
	var H edwards25519.Point
	if _, err := encodeToCurve(&H, p.enc[:], alpha); err != nil {
		return beta, ErrInvalidProof // no proof exists for this alpha
	}
	var cs, negC edwards25519.Scalar
	cs.SetCanonicalBytes(padChallenge(&c))
	negC.Negate(&cs)
	// U = s*B - c*Y; V = s*H - c*Gamma.
	var U, V edwards25519.Point
	U.VarTimeDoubleScalarBaseMult(&negC, &p.point, &s)
	V.VarTimeMultiScalarMult([]*edwards25519.Scalar{&s, &negC}, []*edwards25519.Point{&H, &gamma})
	c2 := challenge(p.enc[:], H.Bytes(), pi[:pointSize], U.Bytes(), V.Bytes())
	if subtle.ConstantTimeCompare(c[:], c2[:]) != 1 {
		return beta, ErrInvalidProof
	}
	return proofToHash(&gamma), nil
}

// ProofToHash returns the VRF output beta of a proof (RFC 9381 §5.2)
// without verifying it. Use it only on a proof already verified, or one
// just made by Prove; anyone else's proof must go through Verify. A proof
// that cannot be decoded is ErrMalformedProof.
func ProofToHash(pi []byte) (beta [OutputSize]byte, err error) {
	var gamma edwards25519.Point
	var c [challengeSize]byte
	var s edwards25519.Scalar
	if err := decodeProof(&gamma, &c, &s, pi); err != nil {
		return beta, err
	}
	return proofToHash(&gamma), nil
}

// decodeProof is ECVRF_decode_proof (RFC 9381 §5.4.4), refusing in addition
// a Gamma of small order, which no honest prover produces (Gamma = x*H with
// H of order L).
func decodeProof(gamma *edwards25519.Point, c *[challengeSize]byte, s *edwards25519.Scalar, pi []byte) error {
	if len(pi) != ProofSize {
		return ErrMalformedProof
	}
	if err := decodePoint(gamma, pi[:pointSize]); err != nil {
		return ErrMalformedProof
	}
	if isSmallOrder(gamma) {
		return ErrMalformedProof
	}
	copy(c[:], pi[pointSize:pointSize+challengeSize])
	if _, err := s.SetCanonicalBytes(pi[pointSize+challengeSize:]); err != nil {
		return ErrMalformedProof // s ≥ L
	}
	return nil
}

// proofToHash is the second half of ECVRF_proof_to_hash (RFC 9381 §5.2):
// SHA-512(0x03 || 0x03 || point_to_string(8*Gamma) || 0x00).
func proofToHash(gamma *edwards25519.Point) [OutputSize]byte {
	var g8 edwards25519.Point
	g8.MultByCofactor(gamma)
	h := sha512.New()
	h.Write([]byte{suiteString, sepProofToHash})
	h.Write(g8.Bytes())
	h.Write([]byte{sepBack})
	var beta [OutputSize]byte
	h.Sum(beta[:0])
	return beta
}

// encodeToCurve is ECVRF_encode_to_curve_try_and_increment (RFC 9381
// §5.4.1.1) with encode_to_curve_salt = PK_string: for ctr = 0, 1, …,
// hash SHA-512(0x03 || 0x01 || pk || alpha || ctr || 0x00), decode its first
// 32 bytes as a point (string_to_point, canonical only), multiply by the
// cofactor 8, and stop at the first result that is not the identity. It
// returns the ctr that succeeded.
func encodeToCurve(H *edwards25519.Point, pk, alpha []byte) (ctr int, err error) {
	h := sha512.New()
	var sum [64]byte
	for ctr = 0; ctr < encodeMaxRounds; ctr++ {
		h.Reset()
		h.Write([]byte{suiteString, sepEncode})
		h.Write(pk)
		h.Write(alpha)
		h.Write([]byte{byte(ctr), sepBack})
		h.Sum(sum[:0])
		if decodePoint(H, sum[:pointSize]) != nil {
			continue
		}
		H.MultByCofactor(H)
		if H.Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		return ctr, nil
	}
	return 0, ErrEncodeToCurve
}

// challenge is ECVRF_challenge_generation (RFC 9381 §5.4.3): the first 16
// bytes of SHA-512(0x03 || 0x02 || P1 || P2 || P3 || P4 || P5 || 0x00).
func challenge(points ...[]byte) [challengeSize]byte {
	h := sha512.New()
	h.Write([]byte{suiteString, sepChallenge})
	for _, p := range points {
		h.Write(p)
	}
	h.Write([]byte{sepBack})
	var sum [64]byte
	h.Sum(sum[:0])
	var c [challengeSize]byte
	copy(c[:], sum[:challengeSize])
	return c
}

// padChallenge returns c as a 32-byte little-endian scalar encoding.
func padChallenge(c *[challengeSize]byte) []byte {
	var b [scalarSize]byte
	copy(b[:], c[:])
	return b[:]
}

// decodePoint is string_to_point for edwards25519 (RFC 9381 §5.5, RFC 8032
// §5.1.3): b must be 32 bytes and the canonical encoding of a curve point.
// filippo.io/edwards25519 also accepts y ≥ p and x = 0 with the sign bit
// set; both re-encode differently, so comparing the re-encoding refuses them.
func decodePoint(p *edwards25519.Point, b []byte) error {
	if len(b) != pointSize {
		return ErrInvalidKey
	}
	if _, err := p.SetBytes(b); err != nil {
		return ErrInvalidKey
	}
	if !bytes.Equal(p.Bytes(), b) {
		return ErrInvalidKey
	}
	return nil
}

// isSmallOrder reports whether 8*p is the identity.
func isSmallOrder(p *edwards25519.Point) bool {
	var q edwards25519.Point
	q.MultByCofactor(p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}
