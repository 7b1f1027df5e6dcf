package token_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/testrand"
)

// t0 is 2026-01-01T00:00:00Z, the issue time of most tests.
var t0 = time.Unix(1767225600, 0).UTC()

const relayAud = "relay:example.org"

func newKey(t testing.TB, label string) ed25519.PrivateKey {
	t.Helper()
	k, err := prim.NewEd25519Key(testrand.New("token/" + label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func testClaims() token.Claims {
	return token.Claims{Handle: "alice", Device: 1, Audience: relayAud, IssuedAt: t0, Expiry: t0.Add(time.Hour)}
}

func mustIssue(t testing.TB, k ed25519.PrivateKey, c token.Claims) *token.Token {
	t.Helper()
	tok, err := token.Issue(testrand.New("token/nonce"), k, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustVerifier(t testing.TB, aud string, skew time.Duration, keys ...ed25519.PublicKey) *token.Verifier {
	t.Helper()
	v, err := token.NewVerifier(aud, skew, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rawToken is an independent encoder of spec/token.md §4.1 that checks
// nothing, so tests can sign tokens the package would never issue.
type rawToken struct {
	version       byte
	keyID         [token.KeyIDSize]byte
	iat, exp      uint64
	nonce         [token.NonceSize]byte
	device        uint32
	handle, aud   string
	handleLen     int // if nonzero, written instead of len(handle)
	audLen        int // if nonzero, written instead of len(aud)
	trailingBytes []byte
}

func rawFrom(k ed25519.PrivateKey, c token.Claims) rawToken {
	return rawToken{
		version: token.Version, keyID: token.KeyID(pub(k)),
		iat: uint64(c.IssuedAt.Unix()), exp: uint64(c.Expiry.Unix()),
		device: uint32(c.Device), handle: c.Handle, aud: c.Audience,
	}
}

func (r rawToken) body() []byte {
	b := []byte{r.version}
	b = append(b, r.keyID[:]...)
	b = binary.BigEndian.AppendUint64(b, r.iat)
	b = binary.BigEndian.AppendUint64(b, r.exp)
	b = append(b, r.nonce[:]...)
	b = binary.BigEndian.AppendUint32(b, r.device)
	hl, al := len(r.handle), len(r.aud)
	if r.handleLen != 0 {
		hl = r.handleLen
	}
	if r.audLen != 0 {
		al = r.audLen
	}
	b = append(b, byte(hl))
	b = append(b, r.handle...)
	b = append(b, byte(al))
	return append(b, r.aud...)
}

// signed returns the body signed by k as spec/token.md §4.4 says, then any
// trailing bytes.
func (r rawToken) signed(k ed25519.PrivateKey) []byte {
	b := r.body()
	b = append(b, ed25519.Sign(k, append([]byte(token.LabelAccessToken+"\x00"), b...))...)
	return append(b, r.trailingBytes...)
}

// kinds are the error kinds of spec/token.md §7, by vector result name.
var kinds = []struct {
	name string
	err  error
}{
	{"malformed", token.ErrMalformed},
	{"unknown_key", token.ErrUnknownKey},
	{"bad_signature", token.ErrBadSignature},
	{"wrong_audience", token.ErrWrongAudience},
	{"not_yet_valid", token.ErrNotYetValid},
	{"expired", token.ErrExpired},
}

// kindOf names the kind of err: "ok" for nil, "unknown_key" for
// ErrUnknownKey (which is also ErrBadSignature), "other" for an error of no
// kind or of more than one.
func kindOf(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, token.ErrUnknownKey) {
		return "unknown_key"
	}
	found := ""
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			if found != "" {
				return "other"
			}
			found = k.name
		}
	}
	if found == "" {
		return "other"
	}
	return found
}

// verifyBoth verifies b in both forms, checks both give the same answer,
// that a refusal returns no token, and that the input was not modified.
func verifyBoth(t *testing.T, v *token.Verifier, b []byte, now time.Time) (*token.Token, string) {
	t.Helper()
	before := bytes.Clone(b)
	tb, errB := v.VerifyBytes(b, now)
	if !bytes.Equal(b, before) {
		t.Fatal("VerifyBytes modified its input")
	}
	tt, errT := v.Verify(encode(b), now)
	kb, kt := kindOf(errB), kindOf(errT)
	if kb != kt {
		t.Fatalf("binary gives %s (%v), text gives %s (%v)", kb, errB, kt, errT)
	}
	if errB != nil && (tb != nil || tt != nil) {
		t.Fatalf("refused token %v returned a token", errB)
	}
	if errB == nil && (tb == nil || tt == nil || !equalTokens(tb, tt)) {
		t.Fatal("accepted token: binary and text verification disagree")
	}
	return tb, kb
}

func equalTokens(a, b *token.Token) bool {
	return a.Handle == b.Handle && a.Device == b.Device && a.Audience == b.Audience &&
		a.IssuedAt.Equal(b.IssuedAt) && a.Expiry.Equal(b.Expiry) &&
		a.Nonce == b.Nonce && a.KeyID == b.KeyID && a.Signature == b.Signature
}

// countingReader counts the bytes read from it.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) { r.n += len(p); return len(p), nil }

// failingReader fails every read.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no randomness") }

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// ed25519Sign signs label || 0x00 || msg.
func ed25519Sign(k ed25519.PrivateKey, label string, msg []byte) []byte {
	return ed25519.Sign(k, append([]byte(label+"\x00"), msg...))
}
