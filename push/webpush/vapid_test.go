package webpush

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseHeader splits "vapid t=<JWT>, k=<key>" and checks the JWT with
// crypto/ecdsa under k, returning its header and claims.
func parseHeader(t *testing.T, h string, want *VAPIDKey) (map[string]any, map[string]any) {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "vapid t=")
	if !ok {
		t.Fatalf("header %q", h)
	}
	tok, k, ok := strings.Cut(rest, ", k=")
	if !ok || k != want.PublicKeyString() {
		t.Fatalf("k = %q, want %q", k, want.PublicKeyString())
	}
	enc := base64.RawURLEncoding
	kb, _ := enc.DecodeString(k)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kb)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature of %d bytes: %v", len(sig), err)
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("signature does not verify")
	}
	var hdr, claims map[string]any
	for i, v := range []*map[string]any{&hdr, &claims} {
		b, err := enc.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

func TestVAPIDToken(t *testing.T) {
	k, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	if p := k.PublicKey(); len(p) != PublicKeySize || p[0] != 4 {
		t.Fatalf("public key %x", p)
	}
	now := time.Unix(1_780_000_000, 0)
	var c tokenCache
	h, err := c.get(k, "https://push.example.net", "mailto:ops@example.org", now)
	if err != nil {
		t.Fatal(err)
	}
	hdr, claims := parseHeader(t, h, k)
	if len(hdr) != 2 || hdr["alg"] != "ES256" || hdr["typ"] != "JWT" {
		t.Fatalf("JOSE header %v", hdr)
	}
	if len(claims) != 3 || claims["aud"] != "https://push.example.net" || claims["sub"] != "mailto:ops@example.org" ||
		claims["exp"] != float64(now.Add(12*time.Hour).Unix()) {
		t.Fatalf("claims %v", claims)
	}

	// Reused for the same audience until an hour before exp; another
	// audience gets its own.
	for _, d := range []time.Duration{0, time.Minute, 10*time.Hour + 59*time.Minute} {
		if h2, _ := c.get(k, "https://push.example.net", "mailto:ops@example.org", now.Add(d)); h2 != h {
			t.Fatalf("not reused after %v", d)
		}
	}
	h3, _ := c.get(k, "https://push.example.net", "mailto:ops@example.org", now.Add(11*time.Hour))
	if h3 == h {
		t.Fatal("reused an hour before exp")
	}
	if _, cl := parseHeader(t, h3, k); cl["exp"] != float64(now.Add(23*time.Hour).Unix()) {
		t.Fatalf("renewed exp %v", cl["exp"])
	}
	if h4, _ := c.get(k, "https://other.example.net", "mailto:ops@example.org", now); h4 == h {
		t.Fatal("shared across audiences")
	}
	// A clock that went back by more than the lifetime does not reuse.
	if h5, _ := c.get(k, "https://push.example.net", "mailto:ops@example.org", now.Add(-13*time.Hour)); h5 == h3 {
		t.Fatal("reused a token issued in the future")
	}
}

func TestTokenCacheBounded(t *testing.T) {
	k, _ := GenerateVAPIDKey()
	var c tokenCache
	now := time.Now()
	for i := range maxCachedTokens + 10 {
		if _, err := c.get(k, "https://p"+strings.Repeat("x", i%7)+big.NewInt(int64(i)).String()+".example", "mailto:a@b", now); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.tokens) > maxCachedTokens {
		t.Fatalf("%d cached tokens", len(c.tokens))
	}
}

func TestAudience(t *testing.T) {
	for in, want := range map[string]string{
		"https://push.example.net/p/1":                   "https://push.example.net",
		"https://Push.Example.NET:443/p/1?x=1":           "https://push.example.net",
		"https://push.example.net:8443/p/1":              "https://push.example.net:8443",
		"https://127.0.0.1:1234/push/abc":                "https://127.0.0.1:1234",
		"https://[2001:DB8::1]:443/x":                    "https://[2001:db8::1]",
		"https://fcm.googleapis.com/fcm/send/abc:defghi": "https://fcm.googleapis.com",
	} {
		if got, err := audience(in); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCheckSubject(t *testing.T) {
	for _, s := range []string{"mailto:ops@example.org", "https://example.org", "https://example.org/contact"} {
		if err := CheckSubject(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "ops@example.org", "mailto:", "mailto:ops", "mailto:@example.org", "mailto:ops@",
		"http://example.org", "https://", "https:///x", "https://u@example.org", "mailto:ops@example.org\n",
		"mailto: ops@example.org", "https://example.org/" + strings.Repeat("a", 250), "mailto:é@example.org"} {
		if err := CheckSubject(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestLoadOrCreateVAPIDKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vapid-key.pem")
	k1, err := LoadOrCreateVAPIDKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	k2, err := LoadOrCreateVAPIDKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.PublicKeyString() != k2.PublicKeyString() || !k1.priv.Equal(k2.priv) {
		t.Fatal("the key changed on reload")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files left in the directory", len(ents))
	}

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	for name, p := range map[string]string{
		"not PEM":     write("junk.pem", []byte("junk")),
		"certificate": write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: edDER})),
		"not PKCS #8": write("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")})),
		"Ed25519":     write("ed.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})),
		"P-384":       write("p384.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER})),
		"no dir":      filepath.Join(dir, "none", "k.pem"),
	} {
		if k, err := LoadOrCreateVAPIDKey(p); err == nil || k != nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
