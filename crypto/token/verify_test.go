package token_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token"
)

// TestVerifyMalformed covers every way a binary token can break
// spec/token.md §4.1 and §4.2. Each is signed with the accepted key, so the
// refusal can only come from parsing.
func TestVerifyMalformed(t *testing.T) {
	k := newKey(t, "issuer")
	v := mustVerifier(t, relayAud, token.ClockSkew, pub(k))
	base := rawFrom(k, testClaims())
	cases := map[string]func(*rawToken){
		"version 0":               func(r *rawToken) { r.version = 0 },
		"version 2":               func(r *rawToken) { r.version = 2 },
		"device 0":                func(r *rawToken) { r.device = 0 },
		"lifetime zero":           func(r *rawToken) { r.exp = r.iat },
		"expiry before issue":     func(r *rawToken) { r.exp = r.iat - 1 },
		"lifetime max + 1":        func(r *rawToken) { r.exp = r.iat + 86401 },
		"issued_at > MaxTime":     func(r *rawToken) { r.iat, r.exp = 1<<62+1, 1<<62+2 },
		"expiry > MaxTime":        func(r *rawToken) { r.iat, r.exp = 1<<62-1, 1<<62+1 },
		"time top bit":            func(r *rawToken) { r.iat, r.exp = 1<<63, 1<<63+1 },
		"handle upper case":       func(r *rawToken) { r.handle = "Alice" },
		"handle too short":        func(r *rawToken) { r.handle = "al" },
		"handle too long":         func(r *rawToken) { r.handle = strings.Repeat("a", 33) },
		"handle empty":            func(r *rawToken) { r.handle = "" },
		"handle with NUL":         func(r *rawToken) { r.handle = "ali\x00e" },
		"audience empty":          func(r *rawToken) { r.aud = "" },
		"audience space":          func(r *rawToken) { r.aud = "relay: x" },
		"audience too long":       func(r *rawToken) { r.aud = strings.Repeat("a", 65) },
		"audience 0x80":           func(r *rawToken) { r.aud = "relay\x80" },
		"handle length too big":   func(r *rawToken) { r.handleLen = 200 },
		"handle length off by 1":  func(r *rawToken) { r.handleLen = len(r.handle) + 1 },
		"audience length too big": func(r *rawToken) { r.audLen = len(r.aud) + 1 },
		"trailing zero byte":      func(r *rawToken) { r.trailingBytes = []byte{0} },
		"trailing signature":      func(r *rawToken) { r.trailingBytes = make([]byte, 64) },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r := base
			mutate(&r)
			b := r.signed(k)
			if _, kind := verifyBoth(t, v, b, t0.Add(time.Minute)); kind != "malformed" {
				t.Fatalf("got %s, want malformed", kind)
			}
			if tok, err := token.Parse(b); !errors.Is(err, token.ErrMalformed) || tok != nil {
				t.Fatalf("Parse = %v, %v", tok, err)
			}
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		b := base.signed(k)
		for n := range len(b) {
			if _, kind := verifyBoth(t, v, b[:n], t0); kind != "malformed" {
				t.Fatalf("%d bytes: %s", n, kind)
			}
		}
	})
	t.Run("too long", func(t *testing.T) {
		if _, kind := verifyBoth(t, v, make([]byte, token.MaxTokenSize+1), t0); kind != "malformed" {
			t.Fatal(kind)
		}
	})
}

// TestVerifyMalformedText covers spec/token.md §4.3.
func TestVerifyMalformedText(t *testing.T) {
	k := newKey(t, "issuer")
	v := mustVerifier(t, relayAud, token.ClockSkew, pub(k))
	b := mustIssue(t, k, testClaims()).Marshal() // 133 bytes: 178 characters, 2 unused bits
	text := encode(b)
	if _, err := v.Verify(text, t0); err != nil {
		t.Fatal(err)
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, text[len(text)-1])
	std := base64.RawStdEncoding.EncodeToString(b)
	if std == text {
		t.Fatal("test token has no '-' or '_'")
	}
	cases := map[string]string{
		"padding":            text + "==",
		"one pad character":  text + "=",
		"std alphabet":       std,
		"std with padding":   base64.StdEncoding.EncodeToString(b),
		"line feed":          text[:40] + "\n" + text[40:],
		"carriage return":    text[:40] + "\r\n" + text[40:],
		"trailing line feed": text + "\n",
		"leading space":      " " + text,
		"trailing space":     text + " ",
		"tab":                text[:10] + "\t" + text[10:],
		"unused bits":        text[:len(text)-1] + alphabet[last+1:last+2],
		"dot":                text[:10] + "." + text[11:],
		"non-ascii":          text[:10] + "é" + text[12:],
		"length 1 mod 4":     text + "A",
		"empty":              "",
		"too long":           strings.Repeat("A", token.MaxTokenTextSize+1),
		"far too long":       strings.Repeat("A", 1<<20),
		"bearer prefix":      "Bearer " + text,
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if tok, err := v.Verify(s, t0); kindOf(err) != "malformed" || tok != nil {
				t.Fatalf("Verify = %v, %v", tok, err)
			}
			if tok, err := token.Decode(s); !errors.Is(err, token.ErrMalformed) || tok != nil {
				t.Fatalf("Decode = %v, %v", tok, err)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	a, b := newKey(t, "issuer"), newKey(t, "other")
	v := mustVerifier(t, relayAud, token.ClockSkew, pub(a))
	now := t0.Add(time.Minute)

	t.Run("unknown key", func(t *testing.T) {
		_, kind := verifyBoth(t, v, mustIssue(t, b, testClaims()).Marshal(), now)
		if kind != "unknown_key" {
			t.Fatal(kind)
		}
		_, err := v.Verify(mustIssue(t, b, testClaims()).Encode(), now)
		if !errors.Is(err, token.ErrBadSignature) {
			t.Fatal("ErrUnknownKey is not an ErrBadSignature")
		}
	})
	t.Run("forged with accepted key id", func(t *testing.T) {
		r := rawFrom(a, testClaims()) // names a's key id
		if _, kind := verifyBoth(t, v, r.signed(b), now); kind != "bad_signature" {
			t.Fatal(kind)
		}
	})
	t.Run("signature under another label", func(t *testing.T) {
		tok := mustIssue(t, a, testClaims())
		body := tok.Marshal()[:len(tok.Marshal())-64]
		forged := append(bytes.Clone(body), ed25519Sign(a, "sealpost/v1/device-certificate", body)...)
		if _, kind := verifyBoth(t, v, forged, now); kind != "bad_signature" {
			t.Fatal(kind)
		}
	})
	t.Run("zero signature", func(t *testing.T) {
		b := mustIssue(t, a, testClaims()).Marshal()
		clear(b[len(b)-64:])
		if _, kind := verifyBoth(t, v, b, now); kind != "bad_signature" {
			t.Fatal(kind)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		both := mustVerifier(t, relayAud, token.ClockSkew, pub(a), pub(b))
		for _, k := range []string{"issuer", "other"} {
			if _, kind := verifyBoth(t, both, mustIssue(t, newKey(t, k), testClaims()).Marshal(), now); kind != "ok" {
				t.Fatalf("%s: %s", k, kind)
			}
		}
		onlyNew := mustVerifier(t, relayAud, token.ClockSkew, pub(b))
		if _, kind := verifyBoth(t, onlyNew, mustIssue(t, a, testClaims()).Marshal(), now); kind != "unknown_key" {
			t.Fatal(kind)
		}
	})
}

// TestVerifyOrder checks spec/token.md §4.5: a forgery is refused for its
// signature whatever its audience and times; a signed token for another
// audience is refused for that before its times.
func TestVerifyOrder(t *testing.T) {
	a, b := newKey(t, "issuer"), newKey(t, "other")
	v := mustVerifier(t, relayAud, token.ClockSkew, pub(a))
	c := testClaims()
	c.Audience = "keyserver:example.org"
	late := t0.Add(48 * time.Hour)
	if _, kind := verifyBoth(t, v, rawFrom(a, c).signed(b), late); kind != "bad_signature" {
		t.Fatal(kind)
	}
	if _, kind := verifyBoth(t, v, mustIssue(t, b, c).Marshal(), late); kind != "unknown_key" {
		t.Fatal(kind)
	}
	if _, kind := verifyBoth(t, v, mustIssue(t, a, c).Marshal(), late); kind != "wrong_audience" {
		t.Fatal(kind)
	}
	if _, kind := verifyBoth(t, v, mustIssue(t, a, c).Marshal(), t0.Add(-time.Hour)); kind != "wrong_audience" {
		t.Fatal(kind)
	}
}

// TestVerifyTime checks the exact boundaries of spec/token.md §4.5 steps 6
// and 7, for several skews and for sub-second times.
func TestVerifyTime(t *testing.T) {
	k := newKey(t, "issuer")
	tok := mustIssue(t, k, testClaims())
	b := tok.Marshal()
	iat, exp := tok.IssuedAt, tok.Expiry
	for _, skew := range []time.Duration{0, time.Second, token.ClockSkew, token.MaxClockSkew} {
		v := mustVerifier(t, relayAud, skew, pub(k))
		cases := []struct {
			now  time.Time
			want string
		}{
			{iat.Add(-skew - time.Second), "not_yet_valid"},
			{iat.Add(-skew - time.Nanosecond), "not_yet_valid"},
			{iat.Add(-skew), "ok"},
			{iat, "ok"},
			{exp.Add(-time.Second), "ok"},
			{exp.Add(skew - time.Nanosecond), "ok"},
			{exp.Add(skew), "expired"},
			{exp.Add(skew + time.Second), "expired"},
			{time.Unix(math.MaxInt64-1<<40, 0), "expired"},
			{time.Unix(math.MinInt64+1<<40, 0), "not_yet_valid"},
			{time.Time{}, "not_yet_valid"},
			{time.Unix(1<<62, 0), "expired"},
			{time.Unix(1<<62+1<<61+5, 0), "expired"},
		}
		for _, c := range cases {
			if _, kind := verifyBoth(t, v, b, c.now); kind != c.want {
				t.Errorf("skew %v, now %v: %s, want %s", skew, c.now, kind, c.want)
			}
		}
	}
	// A token at the very end of time, with the largest skew.
	late := token.Claims{Handle: "alice", Device: 1, Audience: relayAud, IssuedAt: time.Unix(1<<62-86400, 0), Expiry: time.Unix(1<<62, 0)}
	v := mustVerifier(t, relayAud, token.MaxClockSkew, pub(k))
	lb := mustIssue(t, k, late).Marshal()
	if _, kind := verifyBoth(t, v, lb, time.Unix(1<<62, 0)); kind != "ok" {
		t.Fatal(kind)
	}
	if _, kind := verifyBoth(t, v, lb, time.Unix(math.MaxInt64-1<<40, 0)); kind != "expired" {
		t.Fatal(kind)
	}
}

func TestWrongAudience(t *testing.T) {
	k := newKey(t, "issuer")
	c := testClaims()
	for _, aud := range []string{"keyserver:example.org", "relay:example.net", "relay:example.or", "relay:example.orgg", "Relay:example.org"} {
		c.Audience = aud
		v := mustVerifier(t, relayAud, token.ClockSkew, pub(k))
		if _, kind := verifyBoth(t, v, mustIssue(t, k, c).Marshal(), t0); kind != "wrong_audience" {
			t.Errorf("%q: %s", aud, kind)
		}
	}
}
