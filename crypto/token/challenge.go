package token

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// challengeFixedSize is everything in a challenge but the audience and
// server name bytes (spec/token.md §5.1).
const challengeFixedSize = 1 + ChallengeNonceSize + 8 + 8 + 1 + 1

// Challenge is what the key server asks a device to sign to prove it holds
// its device signing key (spec/token.md §5.1). The key server must accept a
// response to each challenge at most once (spec/token.md §5.2).
type Challenge struct {
	Nonce    [ChallengeNonceSize]byte
	IssuedAt time.Time // whole seconds, UTC
	Expiry   time.Time // whole seconds, UTC
	Audience string    // audience of the token requested
	Server   string    // name of the key server that issued the challenge
}

// DeviceSigner signs label || 0x00 || msg with a device's Ed25519 signing
// key (spec/keys.md §2.3). *keys.DevicePrivateKeys implements it.
type DeviceSigner interface {
	Sign(label string, msg []byte) []byte
}

// BuildChallenge returns a fresh challenge from server for a token with the
// given audience, issued at now and expiring ChallengeLifetime later, with a
// nonce read from rand (spec/token.md §5.1).
func BuildChallenge(rand io.Reader, server, audience string, now time.Time) (*Challenge, error) {
	iat := time.Unix(now.Unix(), 0).UTC()
	c := &Challenge{Audience: audience, Server: server, IssuedAt: iat, Expiry: iat.Add(ChallengeLifetime)}
	if err := c.check(); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand, c.Nonce[:]); err != nil {
		return nil, err
	}
	return c, nil
}

// check applies the rules of spec/token.md §5.1 to the fields.
func (c *Challenge) check() error {
	iat, ok1 := unixSeconds(c.IssuedAt)
	exp, ok2 := unixSeconds(c.Expiry)
	if !ok1 || !ok2 {
		return malformed("challenge time out of range")
	}
	if exp <= iat || exp-iat > uint64(ChallengeLifetime/time.Second) {
		return malformed("challenge lifetime not in (0, %v]", ChallengeLifetime)
	}
	if !printable(c.Audience, MinAudienceLen, MaxAudienceLen) {
		return malformed("invalid challenge audience")
	}
	if !printable(c.Server, MinServerNameLen, MaxServerNameLen) {
		return malformed("invalid challenge server name")
	}
	return nil
}

// Marshal returns the challenge's encoding (spec/token.md §5.1).
func (c *Challenge) Marshal() []byte {
	b := make([]byte, 0, challengeFixedSize+len(c.Audience)+len(c.Server))
	b = append(b, Version)
	b = append(b, c.Nonce[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.IssuedAt.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expiry.Unix()))
	b = append(b, byte(len(c.Audience)))
	b = append(b, c.Audience...)
	b = append(b, byte(len(c.Server)))
	return append(b, c.Server...)
}

// ParseChallenge parses exactly one challenge (spec/token.md §5.1).
func ParseChallenge(b []byte) (*Challenge, error) {
	if len(b) < MinChallengeSize || len(b) > MaxChallengeSize {
		return nil, malformed("challenge length %d", len(b))
	}
	s := cryptobyte.String(b)
	var (
		version     uint8
		iat, exp    uint64
		aud, server []byte
		c           Challenge
	)
	if !s.ReadUint8(&version) || !s.CopyBytes(c.Nonce[:]) ||
		!s.ReadUint64(&iat) || !s.ReadUint64(&exp) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&aud)) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&server)) {
		return nil, malformed("truncated challenge")
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after challenge")
	}
	if version != Version {
		return nil, malformed("challenge version %d", version)
	}
	if iat > MaxTime || exp > MaxTime {
		return nil, malformed("challenge time out of range")
	}
	c.IssuedAt, c.Expiry = fromUnix(iat), fromUnix(exp)
	c.Audience, c.Server = string(aud), string(server)
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// responseMessage is what a device signs (spec/token.md §5.3):
// 0x01 || len(handle) || handle || device || challenge.
func responseMessage(handle string, device keys.DeviceID, challenge []byte) []byte {
	m := make([]byte, 0, 1+1+len(handle)+4+len(challenge))
	m = append(m, Version, byte(len(handle)))
	m = append(m, handle...)
	m = binary.BigEndian.AppendUint32(m, uint32(device))
	return append(m, challenge...)
}

func checkDevice(handle string, device keys.DeviceID) error {
	if keys.CheckHandle(handle) != nil {
		return malformed("invalid handle")
	}
	if device == 0 {
		return malformed("device id 0")
	}
	return nil
}

// SignChallenge is the device's side (spec/token.md §5.3, §5.4): it checks
// that challenge is well-formed and names server, the key server the device
// means to reach, and returns the device's signature binding handle, device
// and the whole challenge. It refuses with ErrMalformed or ErrWrongAudience.
func SignChallenge(signer DeviceSigner, handle string, device keys.DeviceID, challenge []byte, server string) ([]byte, error) {
	if signer == nil {
		return nil, errors.New("token: nil device signer")
	}
	c, err := ParseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	if c.Server != server {
		return nil, ErrWrongAudience
	}
	if err := checkDevice(handle, device); err != nil {
		return nil, err
	}
	sig := signer.Sign(LabelChallenge, responseMessage(handle, device, challenge))
	if len(sig) != SignatureSize {
		return nil, ErrBadSignature
	}
	return sig, nil
}

// VerifyChallengeResponse is the key server's check of a device's response
// at time now (spec/token.md §5.5): challenge well-formed, handle and device
// valid, sig made by devicePub, then now in [issued_at, expiry). It returns
// the parsed challenge, whose Audience the token is to name.
//
// The caller must first have checked that challenge is one it issued and
// marked it used (spec/token.md §5.2), and must pass the signing key of a
// current, unrevoked certificate of (handle, device).
func VerifyChallengeResponse(devicePub [ed25519.PublicKeySize]byte, handle string, device keys.DeviceID, challenge, sig []byte, now time.Time) (*Challenge, error) {
	c, err := ParseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	if err := checkDevice(handle, device); err != nil {
		return nil, err
	}
	if !prim.VerifyLabeled(devicePub[:], LabelChallenge, responseMessage(handle, device, challenge), sig) {
		return nil, ErrBadSignature
	}
	n := now.Unix()
	if n < c.IssuedAt.Unix() {
		return nil, ErrNotYetValid
	}
	if n >= c.Expiry.Unix() {
		return nil, ErrExpired
	}
	return c, nil
}
