package sendtoken

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"fmt"
	"time"
)

// EpochKey is an issuer public key and the epoch it signs tokens for
// (spec/anonymous.md §4.3).
type EpochKey struct {
	Epoch uint64
	Key   *PublicKey
}

type verifierKey struct {
	epoch  uint64
	digest [DigestSize]byte // of Challenge{issuer, epoch}
	pk     *rsa.PublicKey
}

// pssOptions are those of RSABSSA-SHA384-PSS-Deterministic (RFC 9474
// §5): the finalized blind signature is an RSASSA-PSS signature with
// SHA-384, MGF1-SHA-384 and a 48-byte salt of the message itself, so the
// relay checks it with the standard library's VerifyPSS, about a quarter
// faster than circl's verifier (spec/anonymous.md §8.3).
var pssOptions = &rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384}

// verifyPSS checks sig over msg under pk (spec/anonymous.md §6 step 3).
func verifyPSS(pk *rsa.PublicKey, msg, sig []byte) error {
	h := sha512.Sum384(msg)
	return rsa.VerifyPSS(pk, crypto.SHA384, h[:], sig, pssOptions)
}

// Verifier checks send tokens offline, as a relay does
// (spec/anonymous.md §6). It is safe for concurrent use.
type Verifier struct {
	issuer string
	keys   map[KeyID]verifierKey
}

// Spent is what a verified token is spent under (spec/anonymous.md §6
// step 6): the relay's spent set of Epoch holds Nonce, and a second token
// with the same pair is a double spend.
type Spent struct {
	Epoch uint64
	Nonce [NonceSize]byte
}

// NewVerifier returns a verifier of the tokens of the key server named
// issuer, signed by any of keys. Each key may be given once; several keys
// may share an epoch.
func NewVerifier(issuer string, keys ...EpochKey) (*Verifier, error) {
	if !validIssuer(issuer) {
		return nil, fmt.Errorf("%w: issuer name", ErrMalformed)
	}
	v := &Verifier{issuer: issuer, keys: make(map[KeyID]verifierKey, len(keys))}
	for _, k := range keys {
		if k.Key == nil {
			return nil, fmt.Errorf("sendtoken: nil key for epoch %d", k.Epoch)
		}
		if _, dup := v.keys[k.Key.id]; dup {
			return nil, fmt.Errorf("sendtoken: key %x given twice", k.Key.id[:8])
		}
		digest, err := Challenge{Issuer: issuer, Epoch: k.Epoch}.Digest()
		if err != nil {
			return nil, err
		}
		v.keys[k.Key.id] = verifierKey{epoch: k.Epoch, digest: digest, pk: k.Key.pk}
	}
	return v, nil
}

// Verify checks a token at time now in the order of spec/anonymous.md §6
// and returns what it is spent under. It does not consult the spent set:
// the caller must spend the result at once and refuse a double spend
// (ErrDoubleSpend). Refusals: ErrMalformed (step 1), ErrUnknownKey (2),
// ErrBadSignature (3), ErrWrongEpoch (4), ErrWrongChallenge (5).
func (v *Verifier) Verify(b []byte, now time.Time) (Spent, error) {
	t, err := ParseToken(b)
	if err != nil {
		return Spent{}, err
	}
	return v.VerifyToken(&t, now)
}

// VerifyToken is Verify for a parsed token (steps 2 to 5).
func (v *Verifier) VerifyToken(t *Token, now time.Time) (Spent, error) {
	k, ok := v.keys[t.KeyID]
	if !ok {
		return Spent{}, ErrUnknownKey
	}
	in := t.input()
	if verifyPSS(k.pk, in[:], t.Authenticator[:]) != nil {
		return Spent{}, ErrBadSignature
	}
	if !InWindow(k.epoch, now) {
		return Spent{}, ErrWrongEpoch
	}
	if t.ChallengeDigest != k.digest {
		return Spent{}, ErrWrongChallenge
	}
	return Spent{Epoch: k.epoch, Nonce: t.Nonce}, nil
}

// InWindow reports whether a token of epoch e is accepted at time now
// (spec/anonymous.md §4.1): from ClockSkew seconds before the start of e to
// ClockSkew seconds after the end of e+1, start excluded at the end:
// EpochStart(e) − ClockSkew ≤ now < EpochStart(e+2) + ClockSkew.
func InWindow(e uint64, now time.Time) bool {
	if e > maxEpoch {
		return false
	}
	n := now.Unix()
	return n >= EpochStart(e)-ClockSkew && n < EpochStart(e+2)+ClockSkew
}
