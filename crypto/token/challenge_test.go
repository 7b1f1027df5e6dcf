package token_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/testrand"
)

var _ token.DeviceSigner = (*keys.DevicePrivateKeys)(nil)

const server = "example.org"

// edSigner is a DeviceSigner over a plain Ed25519 key that counts its calls.
type edSigner struct {
	k     ed25519.PrivateKey
	calls int
}

func (s *edSigner) Sign(label string, msg []byte) []byte {
	s.calls++
	return ed25519Sign(s.k, label, msg)
}

// shortSigner returns a signature one byte short.
type shortSigner struct{}

func (shortSigner) Sign(string, []byte) []byte { return make([]byte, 63) }

func devicePub(k ed25519.PrivateKey) (p [32]byte) { copy(p[:], pub(k)); return }

func mustChallenge(t testing.TB) *token.Challenge {
	t.Helper()
	c, err := token.BuildChallenge(testrand.New("token/challenge"), server, relayAud, t0.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChallengeRoundTrip(t *testing.T) {
	dev, err := keys.GenerateDeviceKeys(testrand.New("token/device"))
	if err != nil {
		t.Fatal(err)
	}
	c := mustChallenge(t)
	if !c.IssuedAt.Equal(t0) || !c.Expiry.Equal(t0.Add(token.ChallengeLifetime)) || c.IssuedAt.Location() != time.UTC {
		t.Fatalf("challenge times %v %v", c.IssuedAt, c.Expiry)
	}
	b := c.Marshal()
	p, err := token.ParseChallenge(b)
	if err != nil || *p != *c || !bytes.Equal(p.Marshal(), b) {
		t.Fatalf("ParseChallenge(Marshal) = %v, %v", p, err)
	}
	sig, err := token.SignChallenge(dev, "alice", 7, b, server)
	if err != nil {
		t.Fatal(err)
	}
	got, err := token.VerifyChallengeResponse(dev.Public().Signing, "alice", 7, b, sig, t0.Add(time.Second))
	if err != nil || *got != *c {
		t.Fatalf("VerifyChallengeResponse = %v, %v", got, err)
	}
}

// TestChallengeLayout checks spec/token.md §5.1 and §5.3 byte by byte.
func TestChallengeLayout(t *testing.T) {
	c := mustChallenge(t)
	b := c.Marshal()
	be := binary.BigEndian
	n := 51 + len(relayAud) + len(server)
	if len(b) != n || b[0] != 1 || !bytes.Equal(b[1:33], c.Nonce[:]) ||
		be.Uint64(b[33:41]) != uint64(t0.Unix()) || be.Uint64(b[41:49]) != uint64(t0.Unix()+120) ||
		int(b[49]) != len(relayAud) || string(b[50:50+len(relayAud)]) != relayAud ||
		int(b[50+len(relayAud)]) != len(server) || string(b[51+len(relayAud):]) != server {
		t.Fatalf("layout %x", b)
	}
	s := &edSigner{k: newKey(t, "device")}
	sig, err := token.SignChallenge(s, "bob", 0x0a0b0c0d, b, server)
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte("sealpost/v1/token-challenge\x00\x01\x03bob\x0a\x0b\x0c\x0d"), b...)
	if !ed25519.Verify(pub(s.k), msg, sig) {
		t.Fatal("response signature is not over label || 0x00 || 0x01 || len || handle || device || challenge")
	}
}

func TestBuildChallengeRefuses(t *testing.T) {
	cases := []struct {
		name, server, aud string
		now               time.Time
	}{
		{"empty server", "", relayAud, t0},
		{"server too long", strings.Repeat("s", 65), relayAud, t0},
		{"server with space", "example .org", relayAud, t0},
		{"empty audience", server, "", t0},
		{"audience too long", server, strings.Repeat("a", 65), t0},
		{"before 1970", server, relayAud, time.Unix(-1, 0)},
		{"expiry above MaxTime", server, relayAud, time.Unix(1<<62-60, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &countingReader{}
			if ch, err := token.BuildChallenge(r, c.server, c.aud, c.now); !errors.Is(err, token.ErrMalformed) || ch != nil || r.n != 0 {
				t.Fatalf("BuildChallenge = %v, %v (read %d)", ch, err, r.n)
			}
		})
	}
	if ch, err := token.BuildChallenge(failingReader{}, server, relayAud, t0); err == nil || ch != nil {
		t.Fatal("BuildChallenge with failing randomness")
	}
}

// rawChallenge encodes spec/token.md §5.1 without checks.
func rawChallenge(version byte, nonce []byte, iat, exp uint64, aud, srv string) []byte {
	b := append([]byte{version}, nonce...)
	b = binary.BigEndian.AppendUint64(b, iat)
	b = binary.BigEndian.AppendUint64(b, exp)
	b = append(append(b, byte(len(aud))), aud...)
	return append(append(b, byte(len(srv))), srv...)
}

func TestParseChallengeRefuses(t *testing.T) {
	nonce := make([]byte, 32)
	iat := uint64(t0.Unix())
	good := rawChallenge(1, nonce, iat, iat+120, relayAud, server)
	if _, err := token.ParseChallenge(good); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"version 2":            rawChallenge(2, nonce, iat, iat+120, relayAud, server),
		"lifetime zero":        rawChallenge(1, nonce, iat, iat, relayAud, server),
		"lifetime negative":    rawChallenge(1, nonce, iat, iat-1, relayAud, server),
		"lifetime 121 s":       rawChallenge(1, nonce, iat, iat+121, relayAud, server),
		"time above MaxTime":   rawChallenge(1, nonce, 1<<62+1, 1<<62+2, relayAud, server),
		"empty audience":       rawChallenge(1, nonce, iat, iat+120, "", server),
		"audience with space":  rawChallenge(1, nonce, iat, iat+120, "relay: x", server),
		"empty server":         rawChallenge(1, nonce, iat, iat+120, relayAud, ""),
		"server too long":      rawChallenge(1, nonce, iat, iat+120, relayAud, strings.Repeat("s", 65)),
		"server with NUL":      rawChallenge(1, nonce, iat, iat+120, relayAud, "a\x00b"),
		"trailing byte":        append(bytes.Clone(good), 0),
		"too long":             make([]byte, token.MaxChallengeSize+1),
		"audience length long": append(bytes.Clone(good[:49]), append([]byte{200}, good[50:]...)...),
	}
	for n := range len(good) {
		cases[fmt.Sprintf("truncated to %d", n)] = good[:n]
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if c, err := token.ParseChallenge(b); !errors.Is(err, token.ErrMalformed) || c != nil {
				t.Fatalf("ParseChallenge = %v, %v", c, err)
			}
		})
	}
}

func TestSignChallengeRefuses(t *testing.T) {
	b := mustChallenge(t).Marshal()
	cases := []struct {
		name      string
		handle    string
		device    keys.DeviceID
		challenge []byte
		server    string
		want      error
	}{
		{"malformed challenge", "alice", 7, b[:len(b)-1], server, token.ErrMalformed},
		{"other server", "alice", 7, b, "example.net", token.ErrWrongAudience},
		{"server prefix", "alice", 7, b, "example.or", token.ErrWrongAudience},
		{"bad handle", "Alice", 7, b, server, token.ErrMalformed},
		{"device 0", "alice", 0, b, server, token.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &edSigner{k: newKey(t, "device")}
			before := bytes.Clone(c.challenge)
			sig, err := token.SignChallenge(s, c.handle, c.device, c.challenge, c.server)
			if !errors.Is(err, c.want) || sig != nil || s.calls != 0 || !bytes.Equal(before, c.challenge) {
				t.Fatalf("SignChallenge = %x, %v (signer called %d times)", sig, err, s.calls)
			}
		})
	}
	if _, err := token.SignChallenge(nil, "alice", 7, b, server); err == nil {
		t.Fatal("nil signer accepted")
	}
	if sig, err := token.SignChallenge(shortSigner{}, "alice", 7, b, server); err == nil || sig != nil {
		t.Fatal("a 63-byte signature was returned")
	}
}

func TestVerifyChallengeResponse(t *testing.T) {
	s := &edSigner{k: newKey(t, "device")}
	other := newKey(t, "other-device")
	b := mustChallenge(t).Marshal()
	sig, err := token.SignChallenge(s, "alice", 7, b, server)
	if err != nil {
		t.Fatal(err)
	}
	pk := devicePub(s.k)
	var lowOrder [32]byte
	lowOrder[0] = 1
	exp := t0.Add(token.ChallengeLifetime)
	cases := []struct {
		name      string
		pub       [32]byte
		handle    string
		device    keys.DeviceID
		challenge []byte
		sig       []byte
		now       time.Time
		want      string
	}{
		{"ok at issue", pk, "alice", 7, b, sig, t0, "ok"},
		{"ok last instant", pk, "alice", 7, b, sig, exp.Add(-time.Nanosecond), "ok"},
		{"expired at expiry", pk, "alice", 7, b, sig, exp, "expired"},
		{"not yet valid", pk, "alice", 7, b, sig, t0.Add(-time.Nanosecond), "not_yet_valid"},
		{"other device key", devicePub(other), "alice", 7, b, sig, t0, "bad_signature"},
		{"low-order key", lowOrder, "alice", 7, b, sig, t0, "bad_signature"},
		{"other handle", pk, "bob", 7, b, sig, t0, "bad_signature"},
		{"other device", pk, "alice", 8, b, sig, t0, "bad_signature"},
		{"short signature", pk, "alice", 7, b, sig[:63], t0, "bad_signature"},
		{"no signature", pk, "alice", 7, b, nil, t0, "bad_signature"},
		{"bad signature and expired", devicePub(other), "alice", 7, b, sig, exp.Add(time.Hour), "bad_signature"},
		{"malformed challenge", pk, "alice", 7, append(bytes.Clone(b), 0), sig, t0, "malformed"},
		{"bad handle", pk, "Alice", 7, b, sig, t0, "malformed"},
		{"device 0", pk, "alice", 0, b, sig, t0, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := bytes.Clone(c.challenge)
			got, err := token.VerifyChallengeResponse(c.pub, c.handle, c.device, c.challenge, c.sig, c.now)
			if k := kindOf(err); k != c.want {
				t.Fatalf("got %s (%v), want %s", k, err, c.want)
			}
			if (err == nil) != (got != nil) || !bytes.Equal(before, c.challenge) {
				t.Fatal("refusal returned a challenge or changed its input")
			}
		})
	}
	t.Run("every bit of the challenge", func(t *testing.T) {
		for i := range len(b) * 8 {
			f := bytes.Clone(b)
			f[i/8] ^= 1 << (i % 8)
			if _, err := token.VerifyChallengeResponse(pk, "alice", 7, f, sig, t0); err == nil {
				t.Fatalf("bit %d flipped: accepted", i)
			}
		}
	})
	t.Run("every bit of the signature", func(t *testing.T) {
		for i := range len(sig) * 8 {
			f := bytes.Clone(sig)
			f[i/8] ^= 1 << (i % 8)
			if _, err := token.VerifyChallengeResponse(pk, "alice", 7, b, f, t0); !errors.Is(err, token.ErrBadSignature) {
				t.Fatalf("bit %d flipped: %v", i, err)
			}
		}
	})
}
