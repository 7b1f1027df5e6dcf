package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// Verifier checks tokens for one service (spec/token.md §4.5). It holds the
// accepted issuer public keys, the service's own audience and the clock skew
// it tolerates. It is immutable and safe for concurrent use; to rotate keys,
// build a new Verifier.
type Verifier struct {
	keys     []verifierKey
	audience string
	skew     int64 // whole seconds, in [0, MaxClockSkew]
}

type verifierKey struct {
	id  [KeyIDSize]byte
	pub [ed25519.PublicKeySize]byte
}

// NewVerifier returns a Verifier accepting tokens for audience, signed by any
// of issuers, tolerating clock skew skew (use ClockSkew unless there is a
// reason not to). skew must be a whole number of seconds in [0,
// MaxClockSkew]; each issuer key must pass spec/keys.md §2.2.
func NewVerifier(audience string, skew time.Duration, issuers ...ed25519.PublicKey) (*Verifier, error) {
	if err := CheckAudience(audience); err != nil {
		return nil, err
	}
	if skew < 0 || skew > MaxClockSkew || skew%time.Second != 0 {
		return nil, fmt.Errorf("token: clock skew %v not a whole number of seconds in [0, %v]", skew, MaxClockSkew)
	}
	if len(issuers) == 0 {
		return nil, errors.New("token: no issuer keys")
	}
	v := &Verifier{audience: audience, skew: int64(skew / time.Second)}
	for i, pub := range issuers {
		if err := prim.CheckEd25519Public(pub); err != nil {
			return nil, fmt.Errorf("token: issuer key %d: %w", i, err)
		}
		k := verifierKey{id: KeyID(pub)}
		copy(k.pub[:], pub)
		v.keys = append(v.keys, k)
	}
	return v, nil
}

// Verify checks the text form of a token at time now, in the order of
// spec/token.md §4.5, and returns the verified token. On error it returns
// nil and one of ErrMalformed, ErrUnknownKey, ErrBadSignature,
// ErrWrongAudience, ErrNotYetValid or ErrExpired (test with errors.Is).
func (v *Verifier) Verify(text string, now time.Time) (*Token, error) {
	b, err := decodeText(text) // step 1
	if err != nil {
		return nil, err
	}
	return v.VerifyBytes(b, now)
}

// VerifyBytes is Verify for the binary form (spec/token.md §4.5, steps 2-7).
func (v *Verifier) VerifyBytes(b []byte, now time.Time) (*Token, error) {
	t, err := Parse(b) // step 2
	if err != nil {
		return nil, err
	}
	known, signed := false, false
	msg := t.body()
	for i := range v.keys { // steps 3 and 4
		k := &v.keys[i]
		if k.id != t.KeyID {
			continue
		}
		known = true
		if prim.VerifyLabeled(k.pub[:], LabelAccessToken, msg, t.Signature[:]) {
			signed = true
			break
		}
	}
	if !known {
		return nil, ErrUnknownKey
	}
	if !signed {
		return nil, ErrBadSignature
	}
	if t.Audience != v.audience { // step 5
		return nil, ErrWrongAudience
	}
	// Steps 6 and 7. Token times are at most MaxTime = 2^62 and the skew at
	// most MaxClockSkew seconds, so these sums cannot overflow.
	const farFuture = MaxTime + MaxTime/2 // after every token's expiry + skew
	n := min(now.Unix(), farFuture)       // so n+skew cannot overflow
	if n+v.skew < t.IssuedAt.Unix() {
		return nil, ErrNotYetValid
	}
	if n >= t.Expiry.Unix()+v.skew {
		return nil, ErrExpired
	}
	return t, nil
}

// Audience returns the audience the Verifier accepts.
func (v *Verifier) Audience() string { return v.audience }
