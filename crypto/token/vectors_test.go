package token_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/vectors"
)

// TestTokenVectors walks spec/vectors/token.json as spec/token.md §8.1 says.
func TestTokenVectors(t *testing.T) {
	f, err := vectors.Load[vectors.TokenCase]("token.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			seen[c.Result] = true
			var accepted []ed25519.PublicKey
			for _, k := range c.VerifierKeys {
				accepted = append(accepted, ed25519.PublicKey(k))
			}
			v := mustVerifier(t, c.VerifierAudience, time.Duration(c.SkewSeconds)*time.Second, accepted...)
			now := time.Unix(c.VerifyTime, 0)

			got, err := v.Verify(c.Text, now)
			if k := kindOf(err); k != c.Result {
				t.Fatalf("Verify(text) = %s (%v), want %s", k, err, c.Result)
			}
			if len(c.Token) > 0 {
				if encode(c.Token) != c.Text {
					t.Fatal("text is not the text form of token")
				}
				gotB, err := v.VerifyBytes(c.Token, now)
				if k := kindOf(err); k != c.Result || (got == nil) != (gotB == nil) {
					t.Fatalf("VerifyBytes = %s, Verify = %s", k, c.Result)
				}
			}

			p, perr := token.Parse(c.Token)
			if (c.Claims != nil) != (perr == nil) {
				t.Fatalf("claims present = %v, Parse error = %v", c.Claims != nil, perr)
			}
			if c.Claims == nil {
				return
			}
			if !bytes.Equal(p.Marshal(), c.Token) {
				t.Fatal("Marshal(Parse(token)) != token")
			}
			cl := c.Claims
			if p.Handle != cl.Handle || p.Device != keys.DeviceID(cl.Device) || p.Audience != cl.Audience ||
				p.IssuedAt.Unix() != int64(cl.IssuedAt) || p.Expiry.Unix() != int64(cl.Expiry) ||
				!bytes.Equal(p.Nonce[:], cl.Nonce) || !bytes.Equal(p.KeyID[:], cl.KeyID) {
				t.Fatalf("parsed fields %+v differ from claims %+v", p, cl)
			}
			if c.Result != "ok" {
				return
			}
			if !equalTokens(got, p) {
				t.Fatal("verified token differs from parsed token")
			}
			issuer := ed25519.NewKeyFromSeed(c.IssuerSeed)
			if id := token.KeyID(pub(issuer)); !bytes.Equal(id[:], cl.KeyID) {
				t.Fatal("key_id is not the issuer's")
			}
			again, err := token.Issue(bytes.NewReader(cl.Nonce), issuer, token.Claims{
				Handle: cl.Handle, Device: keys.DeviceID(cl.Device), Audience: cl.Audience,
				IssuedAt: time.Unix(int64(cl.IssuedAt), 0), Expiry: time.Unix(int64(cl.Expiry), 0),
			})
			if err != nil || !bytes.Equal(again.Marshal(), c.Token) {
				t.Fatalf("reissuing gives %x, %v", again.Marshal(), err)
			}
		})
	}
	for _, k := range kinds {
		if !seen[k.name] {
			t.Errorf("no vector with result %s", k.name)
		}
	}
	if !seen["ok"] {
		t.Error("no vector with result ok")
	}
}

// TestChallengeVectors walks spec/vectors/token-challenge.json as
// spec/token.md §8.2 says.
func TestChallengeVectors(t *testing.T) {
	f, err := vectors.Load[vectors.ChallengeCase]("token-challenge.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			dev := &edSigner{k: ed25519.NewKeyFromSeed(c.DeviceSeed)}
			id := keys.DeviceID(c.Device)

			got, err := token.VerifyChallengeResponse(devicePub(dev.k), c.Handle, id, c.Challenge, c.Signature, time.Unix(c.VerifyTime, 0))
			if k := kindOf(err); k != c.VerifyResult {
				t.Fatalf("VerifyChallengeResponse = %s (%v), want %s", k, err, c.VerifyResult)
			}
			sig, err := token.SignChallenge(dev, c.Handle, id, c.Challenge, c.Server)
			if k := kindOf(err); k != c.SignResult {
				t.Fatalf("SignChallenge = %s (%v), want %s", k, err, c.SignResult)
			}
			if c.SignResult == "ok" && c.VerifyResult != "bad_signature" && !bytes.Equal(sig, c.Signature) {
				t.Fatal("SignChallenge does not reproduce the signature")
			}

			p, perr := token.ParseChallenge(c.Challenge)
			if (c.Fields != nil) != (perr == nil) {
				t.Fatalf("fields present = %v, ParseChallenge error = %v", c.Fields != nil, perr)
			}
			if c.Fields == nil {
				return
			}
			fl := c.Fields
			if !bytes.Equal(p.Nonce[:], fl.Nonce) || p.IssuedAt.Unix() != int64(fl.IssuedAt) ||
				p.Expiry.Unix() != int64(fl.Expiry) || p.Audience != fl.Audience || p.Server != fl.Server {
				t.Fatalf("parsed %+v, want %+v", p, fl)
			}
			if !bytes.Equal(p.Marshal(), c.Challenge) {
				t.Fatal("Marshal(ParseChallenge(challenge)) != challenge")
			}
			if got != nil && *got != *p {
				t.Fatal("verified challenge differs from parsed one")
			}
			if fl.Expiry-fl.IssuedAt == uint64(token.ChallengeLifetime/time.Second) {
				built, err := token.BuildChallenge(bytes.NewReader(fl.Nonce), fl.Server, fl.Audience, time.Unix(int64(fl.IssuedAt), 0))
				if err != nil || !bytes.Equal(built.Marshal(), c.Challenge) {
					t.Fatalf("BuildChallenge gives %v, %v", built, err)
				}
			}
		})
	}
}
