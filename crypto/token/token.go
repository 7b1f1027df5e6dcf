// Package token implements Sealpost's access tokens and the device challenge
// that precedes them (spec/token.md).
//
// The key server builds a challenge (BuildChallenge); the device signs it
// with its device signing key (SignChallenge); the key server checks the
// response (VerifyChallengeResponse) and issues a token signed with its
// Ed25519 token key (Issue). Services verify tokens offline with a Verifier
// that holds the accepted issuer public keys, its own audience and a clock
// skew.
//
// Every token and challenge has exactly one encoding; Parse, Decode and
// ParseChallenge refuse anything else. Verification runs its checks in the
// order of spec/token.md §4.5, so a token not signed by an accepted key never
// reaches the audience or time checks.
//
// The package is pure: no I/O and no global state. Randomness is an
// io.Reader supplied by the caller.
package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Version is the first byte of a token and of a challenge (spec/token.md §2).
const Version = 0x01

// Labels, spec/token.md §2.
const (
	LabelAccessToken = "sealpost/v1/access-token"
	LabelTokenKeyID  = "sealpost/v1/token-key-id"
	LabelChallenge   = "sealpost/v1/token-challenge"
)

// Sizes and limits, spec/token.md §2.
const (
	KeyIDSize          = 8
	NonceSize          = 16
	ChallengeNonceSize = 32
	SignatureSize      = prim.SignatureSize

	MinAudienceLen   = 1
	MaxAudienceLen   = 64
	MinServerNameLen = 1
	MaxServerNameLen = 64

	MaxLifetime       = 24 * time.Hour
	ClockSkew         = 60 * time.Second
	MaxClockSkew      = 10 * time.Minute
	ChallengeLifetime = 2 * time.Minute

	// MaxTime is the largest time value, in seconds since the Unix epoch,
	// that a token or challenge may carry.
	MaxTime = 1 << 62

	MinTokenSize     = tokenFixedSize + keys.MinHandleLen + MinAudienceLen
	MaxTokenSize     = tokenFixedSize + keys.MaxHandleLen + MaxAudienceLen
	MaxTokenTextSize = (MaxTokenSize*8 + 5) / 6

	MinChallengeSize = challengeFixedSize + MinAudienceLen + MinServerNameLen
	MaxChallengeSize = challengeFixedSize + MaxAudienceLen + MaxServerNameLen
)

// Errors of spec/errors.md §3.6: each sentinel is the name there in Go
// case (ErrNotYetValid is not_yet_valid); test with errors.Is.
var (
	// ErrMalformed reports bytes or text that are not a canonical token or
	// challenge, or fields outside spec/token.md §4.2 or §5.1.
	ErrMalformed = errors.New("token: malformed")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("token: bad signature")
	// ErrUnknownKey reports a token whose key id names no accepted issuer
	// key. errors.Is(ErrUnknownKey, ErrBadSignature) is true.
	ErrUnknownKey error = unknownKeyError{}
	// ErrWrongAudience reports a token meant for another service, or a
	// challenge from another server than the one the device meant to reach.
	ErrWrongAudience = errors.New("token: wrong audience")
	// ErrNotYetValid reports a token or challenge used before its issue time.
	// A service answers it as it answers ErrExpired: token_expired
	// (spec/errors.md §2).
	ErrNotYetValid = errors.New("token: not yet valid")
	// ErrExpired reports a token or challenge used at or after its expiry.
	ErrExpired = errors.New("token: expired")
)

// unknownKeyError is ErrUnknownKey: a kind of ErrBadSignature (spec/token.md
// §4.5), kept distinct so operators can see key-rotation problems.
type unknownKeyError struct{}

func (unknownKeyError) Error() string { return "token: unknown issuer key" }
func (unknownKeyError) Unwrap() error { return ErrBadSignature }

// malformed wraps ErrMalformed with what was wrong.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// KeyID returns the key id of an issuer's public token key (spec/token.md §3):
// the first 8 bytes of SHA-256("sealpost/v1/token-key-id" || 0x00 || pub).
func KeyID(pub ed25519.PublicKey) [KeyIDSize]byte {
	h := sha256.Sum256(prim.SignedMessage(LabelTokenKeyID, pub))
	var id [KeyIDSize]byte
	copy(id[:], h[:])
	return id
}

// CheckAudience reports whether a is a valid audience (spec/token.md §6):
// 1 to 64 bytes, each printable ASCII other than space.
func CheckAudience(a string) error {
	if !printable(a, MinAudienceLen, MaxAudienceLen) {
		return fmt.Errorf("token: invalid audience")
	}
	return nil
}

// CheckServerName reports whether s is a valid server name (spec/token.md
// §6): 1 to 64 bytes, each printable ASCII other than space.
func CheckServerName(s string) error {
	if !printable(s, MinServerNameLen, MaxServerNameLen) {
		return fmt.Errorf("token: invalid server name")
	}
	return nil
}

func printable(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// unixSeconds returns t as whole seconds since the epoch (floor), and
// whether it lies in [0, MaxTime].
func unixSeconds(t time.Time) (uint64, bool) {
	s := t.Unix()
	if s < 0 || s > MaxTime {
		return 0, false
	}
	return uint64(s), true
}

// fromUnix is the time.Time of a seconds value already checked against
// MaxTime.
func fromUnix(s uint64) time.Time { return time.Unix(int64(s), 0).UTC() }
