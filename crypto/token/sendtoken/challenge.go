package sendtoken

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Challenge is the TokenChallenge of every send token of one key server and
// epoch (spec/anonymous.md §4.2): RFC 9577 §2.1 with issuer_name the key
// server's name, redemption_context the epoch, and an empty origin_info.
// It holds nothing about the client, so every token of an epoch carries
// the same challenge digest.
type Challenge struct {
	Issuer string
	Epoch  uint64
}

// validIssuer is spec/anonymous.md §4.2: 1 to 64 bytes of 0x21–0x7e, as the
// server names of spec/token.md §6.
func validIssuer(s string) bool {
	if len(s) < MinIssuerLen || len(s) > MaxIssuerLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Marshal returns the TokenChallenge bytes (spec/anonymous.md §4.2), or
// ErrMalformed if the issuer name is not valid.
func (c Challenge) Marshal() ([]byte, error) {
	if !validIssuer(c.Issuer) {
		return nil, fmt.Errorf("%w: issuer name", ErrMalformed)
	}
	b := make([]byte, 0, challengeMaxLen)
	b = binary.BigEndian.AppendUint16(b, TokenType)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Issuer)))
	b = append(b, c.Issuer...)
	b = append(b, redemptionSize)
	b = append(b, make([]byte, redemptionSize-8)...)
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	b = binary.BigEndian.AppendUint16(b, 0) // origin_info, empty
	return b, nil
}

// Digest returns SHA-256 of the challenge bytes, the challenge_digest of
// its tokens (RFC 9578 §6.1).
func (c Challenge) Digest() ([DigestSize]byte, error) {
	b, err := c.Marshal()
	if err != nil {
		return [DigestSize]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// ParseChallenge decodes the bytes of a Sealpost TokenChallenge; any other
// TokenChallenge (another type, a redemption context that is not an epoch,
// an origin) is ErrMalformed.
func ParseChallenge(b []byte) (Challenge, error) {
	bad := func(what string) (Challenge, error) {
		return Challenge{}, fmt.Errorf("%w: challenge: %s", ErrMalformed, what)
	}
	if len(b) < 4 || binary.BigEndian.Uint16(b) != TokenType {
		return bad("token type")
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	b = b[4:]
	if n > len(b) {
		return bad("issuer name length")
	}
	c := Challenge{Issuer: string(b[:n])}
	b = b[n:]
	if !validIssuer(c.Issuer) {
		return bad("issuer name")
	}
	if len(b) != 1+redemptionSize+2 || b[0] != redemptionSize {
		return bad("redemption context or length")
	}
	for _, z := range b[1 : 1+redemptionSize-8] {
		if z != 0 {
			return bad("redemption context is not an epoch")
		}
	}
	c.Epoch = binary.BigEndian.Uint64(b[1+redemptionSize-8:])
	if b[1+redemptionSize] != 0 || b[2+redemptionSize] != 0 {
		return bad("origin info")
	}
	return c, nil
}

// EpochAt returns the epoch of time t: floor(Unix seconds / EpochSeconds)
// (spec/anonymous.md §4.1); 0 before 1970.
func EpochAt(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s) / EpochSeconds
}

// maxEpoch is the last epoch whose successor starts before 2^62 seconds.
const maxEpoch = (1<<62)/EpochSeconds - 2

// EpochStart returns the first second of epoch e, in Unix seconds; 2^62
// for an epoch starting later.
func EpochStart(e uint64) int64 {
	if e > (1<<62)/EpochSeconds {
		return 1 << 62
	}
	return int64(e * EpochSeconds)
}
