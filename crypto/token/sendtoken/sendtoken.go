// Package sendtoken implements the blind-signed one-time send tokens of
// spec/anonymous.md: Privacy Pass tokens of type 0x0002 (RFC 9578 §6,
// blind RSA 2048 with RSABSSA-SHA384-PSS-Deterministic of RFC 9474), bound
// to a key server and an epoch by a TokenChallenge (RFC 9577 §2.1).
//
// The key server issues tokens to an authenticated device (PrivateKey.Issue);
// the device makes requests and finalizes the answers into tokens
// (PrepareBatch, Pending.Finalize); a relay checks a token offline with the
// issuer's public keys (Verifier.Verify) and spends it once under the value
// Verify returns. The blind RSA arithmetic is github.com/cloudflare/circl's.
//
// The package does no I/O and keeps no state between calls; the spent set
// is the relay's.
//
// It lives apart from crypto/token (the access tokens of spec/token.md)
// because it is a different scheme with its own error layer
// (spec/errors.md §3.18) and its own dependency, which the relay's and key
// server's access-token paths need not import.
package sendtoken

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes and constants of spec/anonymous.md §2.
const (
	TokenType       = 0x0002 // Blind RSA (2048-bit), RFC 9578 §6
	ModulusSize     = 256    // Nk, bytes of the RSA modulus
	NonceSize       = 32
	DigestSize      = 32
	KeyIDSize       = 32
	PublicKeySize   = 346                                                  // §3.1
	TokenSize       = 2 + NonceSize + DigestSize + KeyIDSize + ModulusSize // 354
	RequestSize     = 2 + 1 + ModulusSize                                  // 259
	ResponseSize    = ModulusSize                                          // 256
	MaxBatchSize    = 100                                                  // default largest batch, §5.3
	EpochSeconds    = 86400                                                // §4.1
	ClockSkew       = 60                                                   // seconds, §6
	MinIssuerLen    = 1
	MaxIssuerLen    = 64
	redemptionSize  = 32
	tokenInputSize  = TokenSize - ModulusSize // 98: what the authenticator signs
	challengeMaxLen = 2 + 2 + MaxIssuerLen + 1 + redemptionSize + 2
)

// The errors of spec/errors.md §3.18. Each refusal the package returns
// matches exactly one of them with errors.Is (only an internal fault of the
// RSA computation in Issue matches none).
var (
	// ErrMalformed: bytes that are not a canonical token, request,
	// response, batch, challenge or key (§2–§5).
	ErrMalformed = errors.New("sendtoken: malformed")
	// ErrUnknownKey: no accepted key has the token's key id, or a request's
	// truncated key id is not the issuer's.
	ErrUnknownKey = errors.New("sendtoken: unknown key")
	// ErrBadSignature: the authenticator (or a blind signature, when
	// finalizing) does not verify.
	ErrBadSignature = errors.New("sendtoken: bad signature")
	// ErrWrongEpoch: a valid token of an epoch the verifier does not accept
	// now (§6 step 4).
	ErrWrongEpoch = errors.New("sendtoken: wrong epoch")
	// ErrWrongChallenge: a valid token whose challenge is not the one of
	// its key's epoch and the verifier's issuer (§6 step 5).
	ErrWrongChallenge = errors.New("sendtoken: wrong challenge")
	// ErrDoubleSpend: the token was spent before. Returned by the relay's
	// spent set, not by this package (§6 step 6).
	ErrDoubleSpend = errors.New("sendtoken: double spend")
)

// Token is a send token (spec/anonymous.md §5.5; the Token of RFC 9577
// §2.2 with token_type 0x0002).
type Token struct {
	Nonce           [NonceSize]byte
	ChallengeDigest [DigestSize]byte
	KeyID           KeyID
	Authenticator   [ModulusSize]byte
}

// ParseToken decodes exactly TokenSize bytes starting with TokenType.
// Anything else is ErrMalformed. It checks no signature.
func ParseToken(b []byte) (Token, error) {
	var t Token
	if len(b) != TokenSize {
		return t, fmt.Errorf("%w: token of %d bytes, want %d", ErrMalformed, len(b), TokenSize)
	}
	if binary.BigEndian.Uint16(b) != TokenType {
		return t, fmt.Errorf("%w: token type %#04x", ErrMalformed, binary.BigEndian.Uint16(b))
	}
	b = b[2:]
	b = b[copy(t.Nonce[:], b):]
	b = b[copy(t.ChallengeDigest[:], b):]
	b = b[copy(t.KeyID[:], b):]
	copy(t.Authenticator[:], b)
	return t, nil
}

// Marshal returns the TokenSize bytes of t.
func (t *Token) Marshal() []byte {
	b := t.input()
	return append(b[:], t.Authenticator[:]...)
}

// input is token_input of RFC 9578 §6.3: the signed part of the token,
// token_type || nonce || challenge_digest || token_key_id.
func (t *Token) input() [tokenInputSize]byte {
	var in [tokenInputSize]byte
	binary.BigEndian.PutUint16(in[:], TokenType)
	copy(in[2:], t.Nonce[:])
	copy(in[2+NonceSize:], t.ChallengeDigest[:])
	copy(in[2+NonceSize+DigestSize:], t.KeyID[:])
	return in
}
