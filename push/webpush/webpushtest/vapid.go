package webpushtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// verifyVAPID checks an Authorization header as a push service does (RFC
// 8292 §3–§4), written apart from the sender's code so that the two check
// each other: scheme "vapid" with parameters t and k; t a JWT whose header
// says ES256, whose signature (r || s, 64 bytes) verifies under k, and
// whose claims have aud = origin, exp in the future and at most 24 hours
// ahead, and a sub. It returns k, decoded.
func verifyVAPID(h, origin string, now time.Time) ([]byte, error) {
	scheme, params, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return nil, errors.New("no vapid Authorization")
	}
	var tok, k string
	for p := range strings.SplitSeq(params, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		switch {
		case !ok:
			return nil, errors.New("malformed vapid parameter")
		case name == "t" && tok == "":
			tok = v
		case name == "k" && k == "":
			k = v
		default:
			return nil, fmt.Errorf("unexpected or repeated vapid parameter %q", name)
		}
	}
	enc := base64.RawURLEncoding
	kb, err := enc.DecodeString(k)
	if err != nil || len(kb) != 65 {
		return nil, errors.New("k is not a base64url 65-byte key")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kb)
	if err != nil {
		return nil, errors.New("k is not a P-256 point")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("t is not a JWS compact serialization")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := decodeJSON(parts[0], &hdr); err != nil || hdr.Alg != "ES256" || (hdr.Typ != "" && hdr.Typ != "JWT") {
		return nil, errors.New("JWT header is not ES256")
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, errors.New("JWT signature is not 64 bytes")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, errors.New("JWT signature does not verify")
	}
	var c struct {
		Aud *string `json:"aud"`
		Exp *int64  `json:"exp"`
		Sub *string `json:"sub"`
	}
	if err := decodeJSON(parts[1], &c); err != nil {
		return nil, errors.New("JWT claims are not a JSON object")
	}
	switch {
	case c.Aud == nil || *c.Aud != origin:
		return nil, errors.New("aud is not the push service's origin")
	case c.Exp == nil || *c.Exp <= now.Unix():
		return nil, errors.New("token expired")
	case *c.Exp > now.Add(24*time.Hour).Unix():
		return nil, errors.New("exp more than 24 hours ahead")
	case c.Sub == nil || !(strings.HasPrefix(*c.Sub, "mailto:") || strings.HasPrefix(*c.Sub, "https:")):
		return nil, errors.New("sub missing, or neither a mailto nor an https URI")
	}
	return kb, nil
}

func decodeJSON(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
