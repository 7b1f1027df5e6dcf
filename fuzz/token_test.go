package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/vectors"
)

// isTokenError reports whether err is one of the kinds spec/token.md §7
// documents.
func isTokenError(err error) bool {
	for _, k := range []error{token.ErrMalformed, token.ErrBadSignature, token.ErrWrongAudience, token.ErrNotYetValid, token.ErrExpired} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// FuzzTokenVerify reads arbitrary bytes both as a binary token and as the
// text form of one (spec/token.md §4), parses them, and verifies them with
// the verifier and time of the first "ok" case of spec/vectors/token.json.
// Seeds are the binary and text forms of every case, valid and refused.
//
// Checks: no panic; the input is not modified; every refusal is of a kind
// of spec/token.md §7 and returns no token; a parsed token re-encodes to
// the same bytes (and text) and has fields within §4.2; the text path and
// the binary path agree; a verified token is one of the vectors' tokens,
// since no one else holds the issuer's key.
func FuzzTokenVerify(f *testing.F) {
	file, err := vectors.Load[vectors.TokenCase]("token.json")
	if err != nil {
		f.Fatal(err)
	}
	var first *vectors.TokenCase
	issued := map[string]bool{}
	for i := range file.Cases {
		c := &file.Cases[i]
		if first == nil && c.Result == "ok" {
			first = c
		}
		issued[string(c.Token)] = true
		f.Add(bytes.Clone(c.Token))
		f.Add([]byte(c.Text))
	}
	if first == nil {
		f.Fatal("no ok token vector")
	}
	var accepted []ed25519.PublicKey
	for _, k := range first.VerifierKeys {
		accepted = append(accepted, ed25519.PublicKey(k))
	}
	v, err := token.NewVerifier(first.VerifierAudience, time.Duration(first.SkewSeconds)*time.Second, accepted...)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(first.VerifyTime, 0)

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)

		// Binary form.
		p, perr := token.Parse(data)
		vt, verr := v.VerifyBytes(data, now)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if perr != nil {
			if !errors.Is(perr, token.ErrMalformed) || p != nil {
				t.Fatalf("Parse refusal %v of the wrong kind, or with a token", perr)
			}
			if !errors.Is(verr, token.ErrMalformed) {
				t.Fatalf("Parse refuses but VerifyBytes says %v", verr)
			}
		} else {
			checkParsedToken(t, p, data)
		}
		if verr != nil {
			if !isTokenError(verr) || vt != nil {
				t.Fatalf("VerifyBytes refusal %v of the wrong kind, or with a token", verr)
			}
		} else if perr != nil || !bytes.Equal(vt.Marshal(), data) || !issued[string(data)] {
			t.Fatalf("VerifyBytes accepted a token not from the vectors: %x", data)
		}

		// Text form.
		text := string(data)
		d, derr := token.Decode(text)
		tt, terr := v.Verify(text, now)
		if derr != nil {
			if !errors.Is(derr, token.ErrMalformed) || d != nil || !errors.Is(terr, token.ErrMalformed) {
				t.Fatalf("Decode refusal %v, Verify %v", derr, terr)
			}
			return
		}
		if d.Encode() != text {
			t.Fatal("accepted text does not re-encode to the same text")
		}
		b := d.Marshal()
		checkParsedToken(t, d, b)
		vb, berr := v.VerifyBytes(b, now)
		if (terr == nil) != (berr == nil) || (terr != nil && terr.Error() != berr.Error()) {
			t.Fatalf("text gives %v, binary gives %v", terr, berr)
		}
		if terr == nil && (tt.Encode() != text || vb.Encode() != text) {
			t.Fatal("verified text token differs from its input")
		}
	})
}

// checkParsedToken checks a token Parse accepted: canonical, within limits.
func checkParsedToken(t *testing.T, p *token.Token, data []byte) {
	t.Helper()
	if !bytes.Equal(p.Marshal(), data) {
		t.Fatal("accepted token does not re-encode to the same bytes")
	}
	if p.Encode() != base64.RawURLEncoding.EncodeToString(data) {
		t.Fatal("Encode is not base64url of Marshal")
	}
	lifetime := p.Expiry.Sub(p.IssuedAt)
	if keys.CheckHandle(p.Handle) != nil || p.Device == 0 || token.CheckAudience(p.Audience) != nil ||
		lifetime <= 0 || lifetime > token.MaxLifetime || p.Expiry.Unix() > token.MaxTime ||
		len(data) < token.MinTokenSize || len(data) > token.MaxTokenSize {
		t.Fatalf("accepted token with fields outside spec/token.md §4.2: %+v", p)
	}
}

// countingSigner is a DeviceSigner that counts its calls.
type countingSigner struct {
	k     ed25519.PrivateKey
	calls int
}

func (s *countingSigner) Sign(label string, msg []byte) []byte {
	s.calls++
	return ed25519.Sign(s.k, append([]byte(label+"\x00"), msg...))
}

// FuzzChallenge parses arbitrary bytes as a token challenge (spec/token.md
// §5.1), signs them as a device would, and checks them as the key server
// would against the handle, device, key and signature of the first "ok"
// case of spec/vectors/token-challenge.json. Seeds are every challenge of
// that file.
//
// Checks: no panic; the input is not modified; refusals are ErrMalformed
// (parse), ErrMalformed or ErrWrongAudience (device side, and then the
// device key signs nothing), or a kind of spec/token.md §7 (server side);
// an accepted challenge re-encodes to the same bytes and is within §5.1;
// the server accepts the vector's signature only over the vector's
// challenge.
func FuzzChallenge(f *testing.F) {
	file, err := vectors.Load[vectors.ChallengeCase]("token-challenge.json")
	if err != nil {
		f.Fatal(err)
	}
	var first *vectors.ChallengeCase
	for i := range file.Cases {
		c := &file.Cases[i]
		if first == nil && c.VerifyResult == "ok" && c.SignResult == "ok" {
			first = c
		}
		f.Add(bytes.Clone(c.Challenge))
	}
	if first == nil {
		f.Fatal("no ok challenge vector")
	}
	priv := ed25519.NewKeyFromSeed(first.DeviceSeed)
	var pub [ed25519.PublicKeySize]byte
	copy(pub[:], priv.Public().(ed25519.PublicKey))
	device := keys.DeviceID(first.Device)
	now := time.Unix(first.VerifyTime, 0)

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		c, perr := token.ParseChallenge(data)
		if perr != nil {
			if !errors.Is(perr, token.ErrMalformed) || c != nil {
				t.Fatalf("ParseChallenge refusal %v of the wrong kind, or with a challenge", perr)
			}
		} else {
			lifetime := c.Expiry.Sub(c.IssuedAt)
			if !bytes.Equal(c.Marshal(), data) || lifetime <= 0 || lifetime > token.ChallengeLifetime ||
				token.CheckAudience(c.Audience) != nil || token.CheckServerName(c.Server) != nil {
				t.Fatalf("accepted challenge not canonical or outside spec/token.md §5.1: %+v", c)
			}
		}

		s := &countingSigner{k: priv}
		sig, serr := token.SignChallenge(s, first.Handle, device, data, first.Server)
		switch {
		case serr == nil:
			if perr != nil || c.Server != first.Server || s.calls != 1 || len(sig) != token.SignatureSize {
				t.Fatalf("SignChallenge signed %x", data)
			}
		case s.calls != 0 || sig != nil:
			t.Fatal("refused SignChallenge used the device key")
		case perr != nil && !errors.Is(serr, token.ErrMalformed):
			t.Fatalf("SignChallenge of a malformed challenge: %v", serr)
		case perr == nil && !errors.Is(serr, token.ErrWrongAudience):
			t.Fatalf("SignChallenge of a well-formed challenge: %v", serr)
		}

		got, verr := token.VerifyChallengeResponse(pub, first.Handle, device, data, first.Signature, now)
		if verr != nil {
			if !isTokenError(verr) || got != nil {
				t.Fatalf("VerifyChallengeResponse refusal %v of the wrong kind, or with a challenge", verr)
			}
		} else if !bytes.Equal(data, first.Challenge) {
			t.Fatalf("the vector's signature verified over another challenge: %x", data)
		}
		if serr == nil {
			if _, err := token.VerifyChallengeResponse(pub, first.Handle, device, data, sig, c.IssuedAt); err != nil {
				t.Fatalf("the device's own response is refused: %v", err)
			}
		}
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
	})
}
