package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"io"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// tokenFixedSize is everything in a token but the handle and audnce bytes
// (spec/token.md §4.1).
const tokenFixedSize = 1 + KeyIDSize + 8 + 8 + NonceSize + 4 + 1 + 1 + SignatureSize

// Claims are what a token says: who may use it, where, and when
// (spec/token.md §4.1).
type Claims struct {
	Handle   string
	Device   keys.DeviceID
	Audience string
	IssuedAt time.Time // whole seconds, UTC
	Expiry   time.Time // whole seconds, UTC
}

// Token is a parsed access token. A Token returned by Parse or Decode has a
// canonical encoding but is not verified; one returned by a Verifier is.
type Token struct {
	Claims
	Nonce     [NonceSize]byte
	KeyID     [KeyIDSize]byte
	Signature [SignatureSize]byte
}

// check applies the field rules of spec/token.md §4.2 (rules 2-6).
func (c *Claims) check() error {
	iat, ok1 := unixSeconds(c.IssuedAt)
	exp, ok2 := unixSeconds(c.Expiry)
	if !ok1 || !ok2 {
		return malformed("time out of range")
	}
	if exp <= iat || exp-iat > uint64(MaxLifetime/time.Second) {
		return malformed("lifetime not in (0, %v]", MaxLifetime)
	}
	if c.Device == 0 {
		return malformed("device id 0")
	}
	if keys.CheckHandle(c.Handle) != nil {
		return malformed("invalid handle")
	}
	if !printable(c.Audience, MinAudienceLen, MaxAudienceLen) {
		return malformed("invalid audnce")
	}
	return nil
}

// Issue signs a token for c with the issuer's token key, reading the nonce
// from rand (spec/token.md §4.4). Times in c are truncated to whole seconds.
// Claims outside spec/token.md §4.2 are refused with ErrMalformed.
func Issue(rand io.Reader, issuer ed25519.PrivateKey, c Claims) (*Token, error) {
	if len(issuer) != ed25519.PrivateKeySize {
		return nil, malformed("issuer key length %d", len(issuer))
	}
	t := &Token{Claims: Claims{
		Handle:   c.Handle,
		Device:   c.Device,
		Audience: c.Audience,
		IssuedAt: time.Unix(c.IssuedAt.Unix(), 0).UTC(),
		Expiry:   time.Unix(c.Expiry.Unix(), 0).UTC(),
	}}
	if err := t.check(); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand, t.Nonce[:]); err != nil {
		return nil, err
	}
	t.KeyID = KeyID(issuer.Public().(ed25519.PublicKey))
	copy(t.Signature[:], prim.Sign(issuer, LabelAccessToken, t.body()))
	return t, nil
}

// body is the signed part of the token: every field before the signature
// (spec/token.md §4.1).
func (t *Token) body() []byte {
	b := make([]byte, 0, tokenFixedSize+len(t.Handle)+len(t.Audience))
	b = append(b, Version)
	b = append(b, t.KeyID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.IssuedAt.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(t.Expiry.Unix()))
	b = append(b, t.Nonce[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(t.Device))
	b = append(b, byte(len(t.Handle)))
	b = append(b, t.Handle...)
	b = append(b, byte(len(t.Audience)))
	return append(b, t.Audience...)
}

// Marshal returns the token's binary encoding (spec/token.md §4.1).
func (t *Token) Marshal() []byte { return append(t.body(), t.Signature[:]...) }

// Encode returns the token's text form: base64url without padding of its
// binary encoding (spec/token.md §4.3). The text is a bearer credential;
// never log it.
func (t *Token) Encode() string { return base64.RawURLEncoding.EncodeToString(t.Marshal()) }

// Parse parses exactly one binary token (spec/token.md §4.1, §4.2). It does
// not check the signature, audnce or times: use a Verifier.
func Parse(b []byte) (*Token, error) {
	if len(b) < MinTokenSize || len(b) > MaxTokenSize {
		return nil, malformed("token length %d", len(b))
	}
	s := cryptobyte.String(b)
	var (
		version     uint8
		iat, exp    uint64
		id          uint32
		handle, aud []byte
		t           Token
	)
	if !s.ReadUint8(&version) || !s.CopyBytes(t.KeyID[:]) ||
		!s.ReadUint64(&iat) || !s.ReadUint64(&exp) || !s.CopyBytes(t.Nonce[:]) ||
		!s.ReadUint32(&id) || !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&handle)) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&aud)) || !s.CopyBytes(t.Signature[:]) {
		return nil, malformed("truncated token")
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after token")
	}
	if version != Version {
		return nil, malformed("token version %d", version)
	}
	if iat > MaxTime || exp > MaxTime {
		return nil, malformed("time out of range")
	}
	t.Handle, t.Device, t.Audience = string(handle), keys.DeviceID(id), string(aud)
	t.IssuedAt, t.Expiry = fromUnix(iat), fromUnix(exp)
	if err := t.check(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Decode parses the text form of a token (spec/token.md §4.3), refusing any
// text that is not exactly the base64url-without-padding encoding of a
// canonical binary token. Like Parse it checks no signature.
func Decode(text string) (*Token, error) {
	b, err := decodeText(text)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// decodeText applies spec/token.md §4.3: a length limit, then base64url
// without padding, then a re-encoding check that refuses padding, other
// alphabets, line breaks and non-zero unused bits.
func decodeText(text string) ([]byte, error) {
	if len(text) > MaxTokenTextSize {
		return nil, malformed("token text length %d", len(text))
	}
	b, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != text {
		return nil, malformed("token text is not canonical base64url")
	}
	return b, nil
}
