package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// VAPID parameters (spec/push.md §4.6, RFC 8292).
const (
	// TokenLifetime is the exp the sender puts in a token: at most 24
	// hours ahead (RFC 8292 §2), 12 so that a clock off by hours still
	// leaves a valid token.
	TokenLifetime = 12 * time.Hour
	// tokenRenew is how long before exp a cached token is replaced.
	tokenRenew = time.Hour
	// maxSubject bounds the sub claim.
	maxSubject = 256
	// maxCachedTokens bounds the token cache: one per push service origin.
	maxCachedTokens = 1024
	// jwtHeader is the JOSE header of every token (RFC 8292 §2).
	jwtHeader = `{"typ":"JWT","alg":"ES256"}`
)

// VAPIDKey is the relay's application server key (RFC 8292 §3.2): an
// ECDSA P-256 key whose public half subscriptions may be restricted to.
type VAPIDKey struct {
	priv *ecdsa.PrivateKey
	pub  []byte
}

// GenerateVAPIDKey returns a new key from crypto/rand.
func GenerateVAPIDKey() (*VAPIDKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webpush: generating VAPID key: %w", err)
	}
	return newVAPIDKey(k)
}

func newVAPIDKey(k *ecdsa.PrivateKey) (*VAPIDKey, error) {
	pub, err := k.PublicKey.Bytes()
	if err != nil || len(pub) != PublicKeySize {
		return nil, errors.New("webpush: VAPID key is not a P-256 key")
	}
	return &VAPIDKey{priv: k, pub: pub}, nil
}

// LoadOrCreateVAPIDKey reads the key in the PEM file at path (a "PRIVATE
// KEY" block holding PKCS #8), or, when there is no file, generates one and
// writes it there with mode 0600: to a temporary file in the same
// directory, synced, then linked into place, so that a reader never sees a
// partial file and two processes starting at once end with the same key.
func LoadOrCreateVAPIDKey(path string) (*VAPIDKey, error) {
	for range 2 {
		k, err := readVAPIDKey(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return k, err
		}
		k, err = GenerateVAPIDKey()
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, fmt.Errorf("webpush: encoding VAPID key: %w", err)
		}
		err = writeNewFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		clear(der)
		if errors.Is(err, fs.ErrExist) {
			continue // another process wrote it first: read theirs
		}
		if err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil, fmt.Errorf("webpush: %s appears and disappears", path)
}

func readVAPIDKey(path string) (*VAPIDKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("webpush: %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	clear(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("webpush: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("webpush: %s: not an ECDSA P-256 key", path)
	}
	return newVAPIDKey(ek)
}

// writeNewFile creates path with data and mode 0600, atomically, failing
// with fs.ErrExist if path exists.
func writeNewFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("webpush: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("webpush: writing VAPID key: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("webpush: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("webpush: syncing %s: %w", dir, err)
	}
	return nil
}

// PublicKey returns the public key as an uncompressed P-256 point (65
// bytes): the applicationServerKey a client subscribes with.
func (k *VAPIDKey) PublicKey() []byte { return append([]byte(nil), k.pub...) }

// PublicKeyString returns PublicKey in unpadded base64url, as the k
// parameter carries it (RFC 8292 §3.2).
func (k *VAPIDKey) PublicKeyString() string { return base64.RawURLEncoding.EncodeToString(k.pub) }

// CheckSubject reports whether s may be the sub claim (spec/push.md §4.6):
// a mailto: URI with an address, or an https: URL with a host; at most
// 256 bytes, printable ASCII.
func CheckSubject(s string) error {
	if len(s) == 0 || len(s) > maxSubject {
		return fmt.Errorf("webpush: VAPID subject of %d bytes, want 1 to %d", len(s), maxSubject)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return errors.New("webpush: VAPID subject holds a space or a byte that is not printable ASCII")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("webpush: VAPID subject is not a URI")
	}
	switch {
	case u.Scheme == "mailto" && strings.Contains(u.Opaque, "@") && !strings.HasPrefix(u.Opaque, "@") && !strings.HasSuffix(u.Opaque, "@"):
		return nil
	case u.Scheme == "https" && u.Host != "" && u.User == nil:
		return nil
	}
	return errors.New(`webpush: VAPID subject must be "mailto:" with an address or an "https:" URL`)
}

// audience returns the origin of endpoint, the aud claim (RFC 8292 §2):
// scheme "://" host, with the port only if it is not 443.
func audience(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return "", fmt.Errorf("%w: endpoint is not an https URL", ErrInvalidSubscription)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && p != "443" {
		host += ":" + p
	}
	return "https://" + host, nil
}

// claims is the JWT claims set of spec/push.md §4.6.
type claims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// authorization returns the Authorization header value of RFC 8292 §3:
// "vapid t=<JWT>, k=<public key>", with an ES256 JWT (RFC 7515, the
// signature the 64 bytes r || s) over the claims.
func (k *VAPIDKey) authorization(aud, sub string, exp time.Time) (string, error) {
	c, err := json.Marshal(claims{Aud: aud, Exp: exp.Unix(), Sub: sub})
	if err != nil {
		return "", fmt.Errorf("webpush: %w", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(jwtHeader)) + "." + enc.EncodeToString(c)
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, h[:])
	if err != nil {
		return "", fmt.Errorf("webpush: signing VAPID token: %w", err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + input + "." + enc.EncodeToString(sig[:]) + ", k=" + k.PublicKeyString(), nil
}

// tokenCache holds one Authorization value per audience until an hour
// before its exp (spec/push.md §4.6).
type tokenCache struct {
	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	header string
	exp    time.Time
}

// get returns the cached header for aud, or makes, caches and returns a
// new one expiring TokenLifetime after now.
func (c *tokenCache) get(k *VAPIDKey, aud, sub string, now time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[aud]; ok && now.Before(t.exp.Add(-tokenRenew)) && !now.Before(t.exp.Add(-TokenLifetime)) {
		return t.header, nil
	}
	exp := now.Add(TokenLifetime)
	h, err := k.authorization(aud, sub, exp)
	if err != nil {
		return "", err
	}
	if c.tokens == nil {
		c.tokens = map[string]cachedToken{}
	}
	if len(c.tokens) >= maxCachedTokens {
		for a, t := range c.tokens {
			if !now.Before(t.exp.Add(-tokenRenew)) {
				delete(c.tokens, a)
			}
		}
		if len(c.tokens) >= maxCachedTokens {
			clear(c.tokens)
		}
	}
	c.tokens[aud] = cachedToken{header: h, exp: exp}
	return h, nil
}
