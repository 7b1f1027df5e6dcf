package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
)

// signJWT returns the compact JWS (RFC 7515 §7.1) of claims under header,
// signed by sign over the signing input.
func signJWT(header, claims any, sign func(input []byte) ([]byte, error)) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sig, err := sign([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// es256 signs with ECDSA P-256 and SHA-256, the signature as the fixed
// 64-byte R || S of RFC 7518 §3.4 (not DER).
func es256(key *ecdsa.PrivateKey) func([]byte) ([]byte, error) {
	return func(input []byte) ([]byte, error) {
		d := sha256.Sum256(input)
		der, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		if err != nil {
			return nil, err
		}
		var sig struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) != 0 {
			return nil, errors.New("gateway: ECDSA signature encoding")
		}
		out := make([]byte, 64)
		sig.R.FillBytes(out[:32])
		sig.S.FillBytes(out[32:])
		return out, nil
	}
}

// rs256 signs with RSASSA-PKCS1-v1_5 and SHA-256 (RFC 7518 §3.3).
func rs256(key *rsa.PrivateKey) func([]byte) ([]byte, error) {
	return func(input []byte) ([]byte, error) {
		d := sha256.Sum256(input)
		return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	}
}
