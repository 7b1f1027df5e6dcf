package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sealpost/sealpost/push/egress"
)

// APNs constants (spec/push.md §6).
const (
	DefaultAPNsURL        = "https://api.push.apple.com"
	DefaultAPNsSandboxURL = "https://api.sandbox.push.apple.com"
	// DefaultExpiry is how long a provider keeps an undelivered wake-up.
	DefaultExpiry = 24 * time.Hour
	// APNs provider tokens: a new one once the current is this old, and
	// never a forced one sooner than apnsTokenMinAge after the last
	// (spec/push.md §6.2).
	apnsTokenMaxAge = 50 * time.Minute
	apnsTokenMinAge = 20 * time.Minute
	apnsCollapseID  = "sealpost-wake"
	apnsLocKey      = "SEALPOST_WAKE"
	maxProviderBody = 4 << 10
)

// APNs push types (spec/push.md §6.3).
const (
	PushTypeAlert      = "alert"
	PushTypeBackground = "background"
)

// APNsConfig configures the APNs sender (spec/push.md §6).
type APNsConfig struct {
	// Key is the vendor's token signing key: the .p8 file Apple issues
	// (PKCS#8 EC P-256, PEM).
	Key []byte
	// KeyID is the key's id, TeamID the vendor's team id (both 10
	// characters, from the Apple developer account).
	KeyID, TeamID string
	// Topic is the app's bundle id (apns-topic).
	Topic string
	// PushType is PushTypeAlert (the default: a mutable alert a
	// Notification Service Extension handles) or PushTypeBackground.
	PushType string
	// URL and SandboxURL are the APNs servers for production and sandbox
	// device tokens; empty means Apple's.
	URL, SandboxURL string
	// Expiry is the apns-expiration, from now; 0 means DefaultExpiry.
	Expiry time.Duration
	// Client sends the requests over HTTP/2; nil means one with
	// providerTransport.
	Client *http.Client
}

// APNs sends wake-ups through Apple's push service with token-based
// authentication (spec/push.md §6).
type APNs struct {
	key                *ecdsa.PrivateKey
	keyID, team, topic string
	pushType           string
	prod, sandbox      string
	expiry             time.Duration
	client             *http.Client
	now                func() time.Time

	mu  sync.Mutex // guards jwt and iat
	jwt string
	iat time.Time
}

// NewAPNs returns an APNs sender; it reports every problem with cfg.
func NewAPNs(cfg APNsConfig) (*APNs, error) {
	var errs []error
	key, err := ParseAPNsKey(cfg.Key)
	if err != nil {
		errs = append(errs, err)
	}
	if !appleIDOK(cfg.KeyID) {
		errs = append(errs, errors.New("gateway: APNs key id: want 10 characters A-Z 0-9"))
	}
	if !appleIDOK(cfg.TeamID) {
		errs = append(errs, errors.New("gateway: APNs team id: want 10 characters A-Z 0-9"))
	}
	if !topicOK(cfg.Topic) {
		errs = append(errs, errors.New("gateway: APNs topic: want the app's bundle id (A-Z a-z 0-9 . -)"))
	}
	if cfg.PushType == "" {
		cfg.PushType = PushTypeAlert
	}
	if cfg.PushType != PushTypeAlert && cfg.PushType != PushTypeBackground {
		errs = append(errs, fmt.Errorf("gateway: APNs push type %q: want alert or background", cfg.PushType))
	}
	if cfg.URL == "" {
		cfg.URL = DefaultAPNsURL
	}
	if cfg.SandboxURL == "" {
		cfg.SandboxURL = DefaultAPNsSandboxURL
	}
	for _, u := range []string{cfg.URL, cfg.SandboxURL} {
		if err := checkBaseURL(u); err != nil {
			errs = append(errs, fmt.Errorf("gateway: APNs URL: %w", err))
		}
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Expiry < time.Minute || cfg.Expiry > 30*24*time.Hour {
		errs = append(errs, errors.New("gateway: APNs expiry: want 1m to 720h"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: providerTransport()}
	}
	return &APNs{
		key: key, keyID: cfg.KeyID, team: cfg.TeamID, topic: cfg.Topic, pushType: cfg.PushType,
		prod: trimSlash(cfg.URL), sandbox: trimSlash(cfg.SandboxURL), expiry: cfg.Expiry,
		client: cfg.Client, now: time.Now,
	}, nil
}

// ParseAPNsKey parses an APNs token signing key: a PEM "PRIVATE KEY"
// block holding PKCS#8 EC P-256, as in the .p8 file Apple issues.
func ParseAPNsKey(p8 []byte) (*ecdsa.PrivateKey, error) {
	block, rest := pem.Decode(p8)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("gateway: APNs key: want one PEM PRIVATE KEY block (the .p8 file)")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("gateway: APNs key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("gateway: APNs key: want an EC P-256 key")
	}
	return ek, nil
}

// appleIDOK reports whether s looks like an Apple key or team id.
func appleIDOK(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// topicOK reports whether s looks like a bundle id.
func topicOK(s string) bool {
	if len(s) == 0 || len(s) > 155 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// providerToken returns the current provider token, making a new one when
// there is none or it is apnsTokenMaxAge old (spec/push.md §6.2).
func (a *APNs) providerToken() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.jwt != "" && now.Sub(a.iat) < apnsTokenMaxAge && !now.Before(a.iat) {
		return a.jwt, nil
	}
	return a.mintLocked(now)
}

// renewProviderToken replaces rejected, the token APNs refused as expired
// or invalid, unless it is younger than apnsTokenMinAge: Apple refuses
// tokens renewed more often (TooManyProviderTokenUpdates). It reports
// whether a newer token than rejected is now current.
func (a *APNs) renewProviderToken(rejected string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.jwt != rejected {
		return a.jwt != "" // another request renewed it
	}
	now := a.now()
	if now.Sub(a.iat) < apnsTokenMinAge {
		return false
	}
	_, err := a.mintLocked(now)
	return err == nil
}

// mintLocked signs a provider token: ES256, kid the key id, iss the team
// id, iat now (spec/push.md §6.2).
func (a *APNs) mintLocked(now time.Time) (string, error) {
	header := struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{"ES256", a.keyID}
	claims := struct {
		Iss string `json:"iss"`
		Iat int64  `json:"iat"`
	}{a.team, now.Unix()}
	jwt, err := signJWT(header, claims, es256(a.key))
	if err != nil {
		return "", fmt.Errorf("gateway: APNs provider token: %w", err)
	}
	a.jwt, a.iat = jwt, time.Unix(now.Unix(), 0)
	return jwt, nil
}

// payload returns the content-free payload (spec/push.md §6.3).
func (a *APNs) payload() []byte {
	if a.pushType == PushTypeBackground {
		return []byte(`{"aps":{"content-available":1}}`)
	}
	return []byte(`{"aps":{"alert":{"loc-key":"` + apnsLocKey + `"},"mutable-content":1}}`)
}

// send sends one wake-up to t (spec/push.md §6.4); a refusal is a
// *sendError.
func (a *APNs) send(ctx context.Context, t Token) error {
	base := a.prod
	if t.Environment == EnvSandbox {
		base = a.sandbox
	}
	u := base + "/3/device/" + url.PathEscape(t.DeviceToken)
	for attempt := 0; ; attempt++ {
		jwt, err := a.providerToken()
		if err != nil {
			return &sendError{kind: kindFailed, reason: "provider_token", err: err}
		}
		status, reason, after, err := a.post(ctx, u, jwt)
		if err != nil {
			return asSendError(err)
		}
		if status == http.StatusOK {
			return nil
		}
		if status == http.StatusForbidden && (reason == "ExpiredProviderToken" || reason == "InvalidProviderToken") &&
			attempt == 0 && a.renewProviderToken(jwt) {
			continue
		}
		return apnsError(status, reason, after)
	}
}

// post makes one request and returns APNs's status, reason and
// Retry-After.
func (a *APNs) post(ctx context.Context, u, jwt string) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(a.payload()))
	if err != nil {
		return 0, "", 0, err
	}
	prio := "10"
	if a.pushType == PushTypeBackground {
		prio = "5"
	}
	h := req.Header
	h.Set("Authorization", "bearer "+jwt)
	h.Set("Apns-Topic", a.topic)
	h.Set("Apns-Push-Type", a.pushType)
	h.Set("Apns-Priority", prio)
	h.Set("Apns-Expiration", strconv.FormatInt(a.now().Add(a.expiry).Unix(), 10))
	h.Set("Apns-Collapse-Id", apnsCollapseID)
	h.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProviderBody))
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", 0, nil
	}
	var e struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(body, &e)
	return resp.StatusCode, codeOnly(e.Reason), egress.RetryAfter(resp.Header.Get("Retry-After"), a.now(), maxRetryAfter), nil
}

// apnsError classifies an APNs refusal (spec/push.md §6.5).
func apnsError(status int, reason string, after time.Duration) error {
	e := &sendError{kind: kindFailed, status: status, reason: reason, after: after}
	switch {
	case status == http.StatusGone, status == http.StatusBadRequest && reason == "BadDeviceToken":
		e.kind = kindGone
	case status == http.StatusTooManyRequests && reason != "TooManyProviderTokenUpdates":
		e.kind = kindThrottled
	case status == http.StatusInternalServerError, status == http.StatusServiceUnavailable:
		e.kind = kindOutage
	}
	return e
}

// codeOnly keeps a provider's error code if it is a short identifier, so
// a log never holds what a provider echoed.
func codeOnly(s string) string {
	if len(s) > 64 {
		return "?"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return "?"
		}
	}
	return s
}
