package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() {
	register("token.json", genToken)
	register("token-challenge.json", genTokenChallenge)
}

// tokenBase is 2026-01-01T00:00:00Z, the issue time of most vectors.
const tokenBase = 1767225600

// tokenBody encodes the signed part of a token (spec/token.md §4.1) without
// checking any field, so that malformed cases can be signed too.
func tokenBody(version byte, c *vectors.TokenClaims) []byte {
	b := []byte{version}
	b = append(b, c.KeyID...)
	b = binary.BigEndian.AppendUint64(b, c.IssuedAt)
	b = binary.BigEndian.AppendUint64(b, c.Expiry)
	b = append(b, c.Nonce...)
	b = binary.BigEndian.AppendUint32(b, c.Device)
	b = append(b, byte(len(c.Handle)))
	b = append(b, c.Handle...)
	b = append(b, byte(len(c.Audience)))
	return append(b, c.Audience...)
}

// labeled is label || 0x00 || msg (spec/keys.md §2.3), written out here
// rather than borrowed from the code under test.
func labeled(label string, msg []byte) []byte {
	return append(append([]byte(label), 0), msg...)
}

func genToken() ([]byte, error) {
	r := testrand.New("vectors/token")
	seed := func() []byte { b := make([]byte, ed25519.SeedSize); r.Read(b); return b }
	seedA, seedB, seedC := seed(), seed(), seed()
	keyA, keyB, keyC := ed25519.NewKeyFromSeed(seedA), ed25519.NewKeyFromSeed(seedB), ed25519.NewKeyFromSeed(seedC)
	pub := func(k ed25519.PrivateKey) vectors.Hex { return vectors.Hex(k.Public().(ed25519.PublicKey)) }
	keyID := func(k ed25519.PrivateKey) vectors.Hex {
		id := token.KeyID(k.Public().(ed25519.PublicKey))
		return id[:]
	}
	claims := func(k ed25519.PrivateKey, handle string, device uint32, aud string, iat, lifetime uint64) *vectors.TokenClaims {
		n := make([]byte, token.NonceSize)
		r.Read(n)
		return &vectors.TokenClaims{Handle: handle, Device: device, Audience: aud, IssuedAt: iat, Expiry: iat + lifetime, Nonce: n, KeyID: keyID(k)}
	}
	sign := func(k ed25519.PrivateKey, body []byte) []byte {
		return append(body, ed25519.Sign(k, labeled(token.LabelAccessToken, body))...)
	}
	// issue signs c with the package under test and checks that it agrees
	// with this generator's own encoding.
	issue := func(k ed25519.PrivateKey, c *vectors.TokenClaims) ([]byte, error) {
		t, err := token.Issue(bytes.NewReader(c.Nonce), k, token.Claims{
			Handle: c.Handle, Device: keys.DeviceID(c.Device), Audience: c.Audience,
			IssuedAt: time.Unix(int64(c.IssuedAt), 0), Expiry: time.Unix(int64(c.Expiry), 0),
		})
		if err != nil {
			return nil, err
		}
		if want := sign(k, tokenBody(token.Version, c)); !bytes.Equal(t.Marshal(), want) {
			return nil, fmt.Errorf("token.Issue disagrees with the generator's encoding")
		}
		return t.Marshal(), nil
	}
	text := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

	const relay, ks = "relay:example.org", "keyserver:example.org"
	var cases []vectors.TokenCase
	add := func(id, comment string, issuer []byte, verifier []vectors.Hex, aud string, skew, now int64, c *vectors.TokenClaims, tok []byte, txt, result string) {
		cases = append(cases, vectors.TokenCase{
			ID: id, Comment: comment, IssuerSeed: issuer, VerifierKeys: verifier, VerifierAudience: aud,
			SkewSeconds: skew, VerifyTime: now, Claims: c, Token: tok, Text: txt, Result: result,
		})
	}
	onlyA := []vectors.Hex{pub(keyA)}
	// ok adds a case whose token Issue produces.
	ok := func(id, comment string, issuer []byte, k ed25519.PrivateKey, verifier []vectors.Hex, aud string, skew, now int64, c *vectors.TokenClaims, result string) error {
		tok, err := issue(k, c)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		add(id, comment, issuer, verifier, aud, skew, now, c, tok, text(tok), result)
		return nil
	}
	// raw adds a case whose token is signed body bytes that Issue would refuse.
	raw := func(id, comment string, body []byte, c *vectors.TokenClaims) {
		tok := sign(keyA, body)
		add(id, comment, seedA, onlyA, relay, 60, tokenBase+10, c, tok, text(tok), "malformed")
	}

	basic := claims(keyA, "alice", 1, relay, tokenBase, 3600)
	steps := []error{
		ok("ok-basic", "relay token, verified 10 s after issue", seedA, keyA, onlyA, relay, 60, tokenBase+10, basic, "ok"),
		ok("ok-rotated-key", "verifier accepts the old and the new key; signed by the new one; largest device id; lifetime exactly MaxLifetime",
			seedB, keyB, []vectors.Hex{pub(keyA), pub(keyB)}, ks, 60, tokenBase+86000,
			claims(keyB, "bob.smith_99-x", 0xffffffff, ks, tokenBase, 86400), "ok"),
		ok("ok-min-size", "3-byte handle, 1-byte audience: a 115-byte token", seedA, keyA, onlyA, "r", 0, tokenBase,
			claims(keyA, "abc", 2, "r", tokenBase, 1), "ok"),
		ok("ok-max-size", "32-byte handle, 64-byte audience: a 207-byte token, 276 characters of text", seedA, keyA, onlyA,
			"relay:"+strings.Repeat("x", 58), 60, tokenBase+1,
			claims(keyA, strings.Repeat("z", 32), 3, "relay:"+strings.Repeat("x", 58), tokenBase, 60), "ok"),
		ok("ok-skew-before-issue", "verified exactly ClockSkew before issued_at", seedA, keyA, onlyA, relay, 60, tokenBase-60, basic, "ok"),
		ok("not-yet-valid", "verified ClockSkew + 1 s before issued_at", seedA, keyA, onlyA, relay, 60, tokenBase-61, basic, "not_yet_valid"),
		ok("ok-skew-after-expiry", "verified ClockSkew - 1 s after expiry", seedA, keyA, onlyA, relay, 60, tokenBase+3600+59, basic, "ok"),
		ok("expired", "verified exactly ClockSkew after expiry", seedA, keyA, onlyA, relay, 60, tokenBase+3600+60, basic, "expired"),
		ok("expired-no-skew", "skew 0: expired at expiry itself", seedA, keyA, onlyA, relay, 0, tokenBase+3600, basic, "expired"),
		ok("not-yet-valid-no-skew", "skew 0: not valid 1 s before issued_at", seedA, keyA, onlyA, relay, 0, tokenBase-1, basic, "not_yet_valid"),
		ok("wrong-audience", "a key-server token presented to a relay", seedA, keyA, onlyA, relay, 60, tokenBase+10,
			claims(keyA, "alice", 1, ks, tokenBase, 3600), "wrong_audience"),
		ok("wrong-audience-expired", "audience is checked before time", seedA, keyA, onlyA, relay, 60, tokenBase+86400,
			claims(keyA, "alice", 1, ks, tokenBase, 3600), "wrong_audience"),
		ok("unknown-key", "signed by a key the verifier does not hold", seedC, keyC, onlyA, relay, 60, tokenBase+10,
			claims(keyC, "alice", 1, relay, tokenBase, 3600), "unknown_key"),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}

	// A token naming key A's id but signed by key C: a forgery.
	forged := claims(keyA, "alice", 1, relay, tokenBase, 3600)
	tok := sign(keyC, tokenBody(token.Version, forged))
	add("bad-signature-other-key", "names the verifier's key id, signed by another key", seedC, onlyA, relay, 60, tokenBase+10, forged, tok, text(tok), "bad_signature")
	good, _ := issue(keyA, basic)
	tok = bytes.Clone(good)
	tok[len(tok)-40] ^= 0x01
	add("bad-signature-bit-flip", "one bit of the signature flipped", seedA, onlyA, relay, 60, tokenBase+10, basic, tok, text(tok), "bad_signature")
	tok = bytes.Clone(good)
	tok[30] ^= 0x80
	nonceMod := *basic
	nonceMod.Nonce = bytes.Clone(basic.Nonce)
	nonceMod.Nonce[5] ^= 0x80
	add("bad-signature-nonce-changed", "one bit of the nonce flipped; verified after expiry, but the signature is checked first", seedA, onlyA, relay, 60, tokenBase+3600+60, &nonceMod, tok, text(tok), "bad_signature")
	tok = bytes.Clone(good)
	tok[46] = 'b' // first byte of the handle
	handleMod := *basic
	handleMod.Handle = "blice"
	add("bad-signature-handle-changed", "the handle changed after signing; the verify time is also past expiry", seedA, onlyA, relay, 60, tokenBase+7200, &handleMod, tok, text(tok), "bad_signature")

	add("ok-duplicate-key", "the verifier holds key A twice, so two accepted keys share the key id: it tries each, the first verifies",
		seedA, []vectors.Hex{pub(keyA), pub(keyA)}, relay, 60, tokenBase+10, basic, good, text(good), "ok")
	tok = bytes.Clone(good)
	tok[len(tok)-40] ^= 0x01
	add("bad-signature-duplicate-key", "the verifier holds key A twice and the signature is altered: every key with the id is tried, none verifies",
		seedA, []vectors.Hex{pub(keyA), pub(keyA), pub(keyB)}, relay, 60, tokenBase+10, basic, tok, text(tok), "bad_signature")
	tok = cat(good[:len(good)-32], addL(good[len(good)-32:]))
	add("bad-signature-s-plus-l", "S replaced by S + L: the point equation still holds, but S is not reduced (spec/keys.md §2.2)",
		seedA, onlyA, relay, 60, tokenBase+10, basic, tok, text(tok), "bad_signature")

	// Malformed: structure or field rules, signed with the right key so the
	// refusal can only come from parsing.
	c := *basic
	raw("malformed-version", "version byte 0x02", tokenBody(0x02, &c), nil)
	c = *basic
	c.Device = 0
	raw("malformed-device-zero", "device id 0", tokenBody(token.Version, &c), nil)
	c = *basic
	c.Expiry = c.IssuedAt + 86401
	raw("malformed-lifetime-too-long", "expiry - issued_at = MaxLifetime + 1", tokenBody(token.Version, &c), nil)
	c = *basic
	c.Expiry = c.IssuedAt
	raw("malformed-lifetime-zero", "expiry = issued_at", tokenBody(token.Version, &c), nil)
	c = *basic
	c.IssuedAt, c.Expiry = 1<<62+1, 1<<62+2
	raw("malformed-time-too-large", "issued_at = MaxTime + 1", tokenBody(token.Version, &c), nil)
	c = *basic
	c.Handle = "Alice"
	raw("malformed-handle-upper-case", "handle with an upper-case letter", tokenBody(token.Version, &c), nil)
	c = *basic
	c.Handle = "al"
	raw("malformed-handle-short", "2-byte handle", tokenBody(token.Version, &c), nil)
	c = *basic
	c.Audience = ""
	raw("malformed-audience-empty", "empty audience", tokenBody(token.Version, &c), nil)
	c = *basic
	c.Audience = "relay: example.org"
	raw("malformed-audience-space", "audience with a space", tokenBody(token.Version, &c), nil)
	add("malformed-trailing-byte", "one zero byte after the signature", seedA, onlyA, relay, 60, tokenBase+10, nil,
		append(bytes.Clone(good), 0), text(append(bytes.Clone(good), 0)), "malformed")
	add("malformed-truncated", "last byte of the signature missing", seedA, onlyA, relay, 60, tokenBase+10, nil,
		good[:len(good)-1], text(good[:len(good)-1]), "malformed")
	bad := bytes.Clone(good)
	bad[45] = 200 // handle length beyond the end
	add("malformed-handle-length", "handle length 200", seedA, onlyA, relay, 60, tokenBase+10, nil, bad, text(bad), "malformed")

	// Text form.
	t := text(good)
	if len(good)%3 == 0 {
		return nil, fmt.Errorf("basic token length %d needs no padding", len(good))
	}
	pad := strings.Repeat("=", (4-len(t)%4)%4)
	textCase := func(id, comment, txt string) {
		add(id, comment, seedA, onlyA, relay, 60, tokenBase+10, nil, nil, txt, "malformed")
	}
	textCase("malformed-text-padding", "base64url with '=' padding", t+pad)
	std := base64.RawStdEncoding.EncodeToString(good)
	if !strings.ContainsAny(std, "+/") {
		return nil, fmt.Errorf("basic token has no '+' or '/' in standard base64")
	}
	textCase("malformed-text-std-alphabet", "standard base64 alphabet ('+', '/'), no padding", std)
	textCase("malformed-text-line-break", "a line break in the middle", t[:40]+"\n"+t[40:])
	textCase("malformed-text-space", "a trailing space", t+" ")
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", t[len(t)-1])
	textCase("malformed-text-unused-bits", "non-zero unused bits in the last character", t[:len(t)-1]+string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last+1]))
	textCase("malformed-text-too-long", "277 characters", strings.Repeat("A", 277))
	textCase("malformed-text-empty", "empty text", "")

	return encode(&vectors.File[vectors.TokenCase]{
		Description: "Sealpost access tokens: issue and verify, in the check order of the spec",
		Spec:        "spec/token.md",
		Cases:       cases,
	})
}
