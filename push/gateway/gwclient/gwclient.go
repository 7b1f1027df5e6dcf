// Package gwclient is what a relay calls to have a push gateway wake a
// device through APNs or FCM (spec/push.md §5). It sends the opaque
// gateway token the app registered and sorts the gateway's answer into
// what the relay does next: nothing (nil), drop the registration
// (ErrGone), try again later (*RetryError), or give up (ErrRefused).
package gwclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sealpost/sealpost/push/egress"
)

// Protocol constants (spec/push.md §5.4).
const (
	wakePath = "/v1/pushgw/wake"
	// maxToken is the largest gateway token (gateway.MaxTokenSize).
	maxToken = 384
	// minKey and maxKey bound a relay key (spec/push.md §5.3).
	minKey, maxKey = 32, 256
	maxAnswer      = 4 << 10
	// defaultTimeout bounds a call when the caller's client has none.
	defaultTimeout = 30 * time.Second
	maxRetryAfter  = time.Hour
)

// Errors the relay acts on.
var (
	// ErrGone: the provider says the device token is dead; the relay
	// removes the registration.
	ErrGone = errors.New("gwclient: push registration gone")
	// ErrRefused: the gateway refused the call (bad relay key, malformed
	// token, unsupported platform, or an answer the protocol does not
	// have); trying again will not help.
	ErrRefused = errors.New("gwclient: refused by the push gateway")
)

// RetryError says the wake-up may work later: the gateway or its
// provider is rate limiting or down, or the gateway could not be reached.
// After is the gateway's Retry-After, 0 when it gave none (then the
// caller backs off by its own schedule).
type RetryError struct {
	After  time.Duration
	Status int   // the gateway's HTTP status, 0 for no answer
	Err    error // the transport error, if any
}

func (e *RetryError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("gwclient: push gateway unreachable: %v", e.Err)
	}
	return fmt.Sprintf("gwclient: push gateway answered %d, retry after %v", e.Status, e.After)
}

func (e *RetryError) Unwrap() error { return e.Err }

// Config configures a Client.
type Config struct {
	// URL is the gateway's https://host[:port], no path.
	URL string
	// Key is this relay's key at the gateway (spec/push.md §5.3).
	Key string
	// Client makes the requests; the relay passes one whose dialer
	// guards against SSRF. Nil means a TLS 1.3 client with a 30 s
	// timeout. Redirects are never followed.
	Client *http.Client
}

// Client calls one push gateway.
type Client struct {
	url  string
	auth string
	http *http.Client
}

// New returns a Client; it reports every problem with cfg.
func New(cfg Config) (*Client, error) {
	var errs []error
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, fmt.Errorf("gwclient: gateway URL %q: want https://host[:port]", cfg.URL))
	}
	if len(cfg.Key) < minKey || len(cfg.Key) > maxKey || strings.IndexFunc(cfg.Key, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		errs = append(errs, fmt.Errorf("gwclient: relay key: want %d to %d bytes of printable ASCII without spaces", minKey, maxKey))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var hc http.Client
	if cfg.Client != nil {
		hc = *cfg.Client
	} else {
		hc = http.Client{
			Timeout:   defaultTimeout,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13}, ForceAttemptHTTP2: true},
		}
	}
	// The relay key must not follow a redirect anywhere.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{url: strings.TrimSuffix(cfg.URL, "/") + wakePath, auth: "Bearer " + cfg.Key, http: &hc}, nil
}

// Wake asks the gateway to wake the device of token, the gateway token
// the app registered (spec/push.md §5.4). It returns nil when the
// provider took the wake-up, ErrGone when the registration is dead, a
// *RetryError when it may work later, and an error wrapping ErrRefused
// otherwise.
func (c *Client) Wake(ctx context.Context, token []byte) error {
	if len(token) == 0 || len(token) > maxToken {
		return fmt.Errorf("%w: gateway token of %d bytes", ErrRefused, len(token))
	}
	body, err := json.Marshal(struct {
		Token string `json:"token"`
	}{base64.RawURLEncoding.EncodeToString(token)})
	if err != nil {
		return fmt.Errorf("gwclient: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("gwclient: %w", err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("gwclient: %w", ctx.Err())
		}
		return &RetryError{Err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	var answer struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &answer)
	switch s := resp.StatusCode; {
	case s == http.StatusNoContent || s == http.StatusOK:
		return nil
	case s == http.StatusGone:
		return ErrGone
	case s == http.StatusTooManyRequests || s >= 500:
		return &RetryError{Status: s, After: egress.RetryAfter(resp.Header.Get("Retry-After"), time.Now(), maxRetryAfter)}
	default:
		return fmt.Errorf("%w: %d %s", ErrRefused, s, code(answer.Error))
	}
}

// code keeps the gateway's error code if it is a short identifier.
func code(s string) string {
	if len(s) > 32 || strings.IndexFunc(s, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) >= 0 {
		return ""
	}
	return s
}
