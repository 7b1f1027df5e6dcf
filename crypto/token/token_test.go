package token_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/testrand"
)

func TestRoundTrip(t *testing.T) {
	k := newKey(t, "issuer")
	c := testClaims()
	c.IssuedAt = c.IssuedAt.Add(700 * time.Millisecond) // truncated on issue
	c.Expiry = c.Expiry.Add(300 * time.Millisecond).In(time.FixedZone("x", 3600))
	tok := mustIssue(t, k, c)
	if !tok.IssuedAt.Equal(t0) || !tok.Expiry.Equal(t0.Add(time.Hour)) ||
		tok.IssuedAt.Location() != time.UTC || tok.Expiry.Location() != time.UTC {
		t.Fatalf("times %v %v not truncated to whole seconds in UTC", tok.IssuedAt, tok.Expiry)
	}
	if tok.KeyID != token.KeyID(pub(k)) {
		t.Fatal("key id is not the issuer's")
	}
	b := tok.Marshal()
	if len(b) != 111+len(c.Handle)+len(c.Audience) {
		t.Fatalf("token is %d bytes", len(b))
	}
	p, err := token.Parse(b)
	if err != nil || !equalTokens(p, tok) || !bytes.Equal(p.Marshal(), b) {
		t.Fatalf("Parse(Marshal) = %v, %v", p, err)
	}
	d, err := token.Decode(tok.Encode())
	if err != nil || !equalTokens(d, tok) || d.Encode() != tok.Encode() {
		t.Fatalf("Decode(Encode) = %v, %v", d, err)
	}
	v := mustVerifier(t, relayAud, token.ClockSkew, pub(k))
	got, kind := verifyBoth(t, v, b, t0.Add(time.Minute))
	if kind != "ok" || !equalTokens(got, tok) {
		t.Fatalf("Verify: %s", kind)
	}
	if v.Audience() != relayAud {
		t.Fatal("Verifier.Audience")
	}
	// The nonce makes tokens for the same claims differ.
	if other, _ := token.Issue(testrand.New("token/other-nonce"), k, c); other == nil || other.Nonce == tok.Nonce {
		t.Fatal("two tokens share a nonce")
	}
}

// TestLayout checks the offsets of spec/token.md §4.1.
func TestLayout(t *testing.T) {
	k := newKey(t, "issuer")
	tok := mustIssue(t, k, token.Claims{Handle: "bob", Device: 0x01020304, Audience: "aud", IssuedAt: t0, Expiry: t0.Add(90 * time.Second)})
	b := tok.Marshal()
	be := binary.BigEndian
	if b[0] != 0x01 || !bytes.Equal(b[1:9], tok.KeyID[:]) ||
		be.Uint64(b[9:17]) != uint64(t0.Unix()) || be.Uint64(b[17:25]) != uint64(t0.Unix()+90) ||
		!bytes.Equal(b[25:41], tok.Nonce[:]) || be.Uint32(b[41:45]) != 0x01020304 ||
		b[45] != 3 || string(b[46:49]) != "bob" || b[49] != 3 || string(b[50:53]) != "aud" ||
		len(b) != 53+64 || !bytes.Equal(b[53:], tok.Signature[:]) {
		t.Fatalf("layout %x", b)
	}
	if !ed25519.Verify(pub(k), append([]byte("sealpost/v1/access-token\x00"), b[:53]...), b[53:]) {
		t.Fatal("signature is not over label || 0x00 || body")
	}
}

func TestKeyID(t *testing.T) {
	p := pub(newKey(t, "issuer"))
	h := sha256.Sum256(append([]byte("sealpost/v1/token-key-id\x00"), p...))
	if id := token.KeyID(p); !bytes.Equal(id[:], h[:8]) {
		t.Fatalf("KeyID = %x, want %x", id, h[:8])
	}
}

func TestSizes(t *testing.T) {
	if token.MinTokenSize != 115 || token.MaxTokenSize != 207 || token.MaxTokenTextSize != 276 ||
		token.MinChallengeSize != 53 || token.MaxChallengeSize != 179 {
		t.Fatal("sizes differ from spec/token.md §2")
	}
	k := newKey(t, "issuer")
	big := mustIssue(t, k, token.Claims{Handle: strings.Repeat("a", 32), Device: 1, Audience: strings.Repeat("~", 64), IssuedAt: t0, Expiry: t0.Add(token.MaxLifetime)})
	if len(big.Marshal()) != token.MaxTokenSize || len(big.Encode()) != token.MaxTokenTextSize {
		t.Fatal("largest token size")
	}
}

func TestIssueRefuses(t *testing.T) {
	k := newKey(t, "issuer")
	cases := map[string]func(*token.Claims){
		"handle too short":        func(c *token.Claims) { c.Handle = "al" },
		"handle too long":         func(c *token.Claims) { c.Handle = strings.Repeat("a", 33) },
		"handle upper case":       func(c *token.Claims) { c.Handle = "Alice" },
		"device zero":             func(c *token.Claims) { c.Device = 0 },
		"audience empty":          func(c *token.Claims) { c.Audience = "" },
		"audience too long":       func(c *token.Claims) { c.Audience = strings.Repeat("a", 65) },
		"audience space":          func(c *token.Claims) { c.Audience = "relay: x" },
		"audience non-ascii":      func(c *token.Claims) { c.Audience = "relay:é" },
		"audience control":        func(c *token.Claims) { c.Audience = "relay:\x7f" },
		"lifetime zero":           func(c *token.Claims) { c.Expiry = c.IssuedAt },
		"lifetime sub-second":     func(c *token.Claims) { c.Expiry = c.IssuedAt.Add(999 * time.Millisecond) },
		"expiry before issue":     func(c *token.Claims) { c.Expiry = c.IssuedAt.Add(-time.Second) },
		"lifetime above maximum":  func(c *token.Claims) { c.Expiry = c.IssuedAt.Add(token.MaxLifetime + time.Second) },
		"issued before 1970":      func(c *token.Claims) { c.IssuedAt = time.Unix(-10, 0); c.Expiry = time.Unix(10, 0) },
		"time above MaxTime":      func(c *token.Claims) { c.IssuedAt = time.Unix(1<<62, 0); c.Expiry = time.Unix(1<<62+1, 0) },
		"zero time":               func(c *token.Claims) { c.IssuedAt = time.Time{}; c.Expiry = time.Time{}.Add(time.Hour) },
		"expiry unset (zero)":     func(c *token.Claims) { c.Expiry = time.Time{} },
		"lifetime max + 1 second": func(c *token.Claims) { c.Expiry = c.IssuedAt.Add(24*time.Hour + time.Second) },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c := testClaims()
			mutate(&c)
			r := &countingReader{}
			tok, err := token.Issue(r, k, c)
			if !errors.Is(err, token.ErrMalformed) || tok != nil {
				t.Fatalf("Issue = %v, %v; want ErrMalformed", tok, err)
			}
			if r.n != 0 {
				t.Fatal("refused Issue consumed randomness")
			}
		})
	}
	t.Run("issuer key length", func(t *testing.T) {
		if tok, err := token.Issue(&countingReader{}, k[:32], testClaims()); !errors.Is(err, token.ErrMalformed) || tok != nil {
			t.Fatalf("Issue = %v, %v", tok, err)
		}
	})
	t.Run("randomness fails", func(t *testing.T) {
		if tok, err := token.Issue(failingReader{}, k, testClaims()); err == nil || tok != nil {
			t.Fatalf("Issue = %v, %v", tok, err)
		}
	})
	t.Run("lifetime exactly maximum", func(t *testing.T) {
		c := testClaims()
		c.Expiry = c.IssuedAt.Add(token.MaxLifetime)
		mustIssue(t, k, c)
	})
}

func TestNewVerifierRefuses(t *testing.T) {
	p := pub(newKey(t, "issuer"))
	identity := make(ed25519.PublicKey, 32)
	identity[0] = 1 // the identity point: small order
	nonCanonical := bytes.Repeat([]byte{0xff}, 31)
	nonCanonical = append(nonCanonical, 0x7f) // y >= p
	cases := []struct {
		name string
		aud  string
		skew time.Duration
		keys []ed25519.PublicKey
	}{
		{"bad audience", "relay x", token.ClockSkew, []ed25519.PublicKey{p}},
		{"empty audience", "", token.ClockSkew, []ed25519.PublicKey{p}},
		{"negative skew", relayAud, -time.Second, []ed25519.PublicKey{p}},
		{"skew too large", relayAud, token.MaxClockSkew + time.Second, []ed25519.PublicKey{p}},
		{"fractional skew", relayAud, 1500 * time.Millisecond, []ed25519.PublicKey{p}},
		{"no keys", relayAud, token.ClockSkew, nil},
		{"short key", relayAud, token.ClockSkew, []ed25519.PublicKey{p[:31]}},
		{"small-order key", relayAud, token.ClockSkew, []ed25519.PublicKey{p, identity}},
		{"non-canonical key", relayAud, token.ClockSkew, []ed25519.PublicKey{nonCanonical}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v, err := token.NewVerifier(c.aud, c.skew, c.keys...); err == nil || v != nil {
				t.Fatalf("NewVerifier = %v, %v", v, err)
			}
		})
	}
	for _, skew := range []time.Duration{0, token.ClockSkew, token.MaxClockSkew} {
		mustVerifier(t, relayAud, skew, p)
	}
}

// TestBitFlips flips every bit of a token, binary and text, and expects
// every one refused.
func TestBitFlips(t *testing.T) {
	k := newKey(t, "issuer")
	v := mustVerifier(t, relayAud, token.ClockSkew, pub(k))
	b := mustIssue(t, k, testClaims()).Marshal()
	now := t0.Add(time.Minute)
	for i := range len(b) * 8 {
		f := bytes.Clone(b)
		f[i/8] ^= 1 << (i % 8)
		if _, kind := verifyBoth(t, v, f, now); kind == "ok" || kind == "other" {
			t.Fatalf("bit %d flipped: %s", i, kind)
		}
	}
	text := encode(b)
	for i := range len(text) * 8 {
		f := []byte(text)
		f[i/8] ^= 1 << (i % 8)
		tok, err := v.Verify(string(f), now)
		if k := kindOf(err); k == "ok" || k == "other" || tok != nil {
			t.Fatalf("text bit %d flipped: %s", i, k)
		}
	}
}

func TestVerifierConcurrent(t *testing.T) {
	k := newKey(t, "issuer")
	v := mustVerifier(t, relayAud, token.ClockSkew, pub(k))
	text := mustIssue(t, k, testClaims()).Encode()
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 50 {
				if _, e := v.Verify(text, t0); e != nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckNames(t *testing.T) {
	for _, s := range []string{"a", "relay:example.org", "keyserver:example.org", strings.Repeat("~", 64), "!"} {
		if token.CheckAudience(s) != nil || token.CheckServerName(s) != nil {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", " ", "a b", strings.Repeat("a", 65), "a\x00", "a\x7f", "é", "a\n"} {
		if token.CheckAudience(s) == nil || token.CheckServerName(s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, k := range kinds {
		if !strings.HasPrefix(k.err.Error(), "token: ") {
			t.Errorf("%q lacks the package prefix", k.err)
		}
	}
	if !errors.Is(token.ErrUnknownKey, token.ErrBadSignature) || errors.Is(token.ErrBadSignature, token.ErrUnknownKey) {
		t.Fatal("ErrUnknownKey must be a kind of ErrBadSignature, not the other way round")
	}
}
