// Package ksclient is the client's side of the Sealpost key server: an HTTP
// client for the endpoints of spec/keyserver.md a client uses (§5, §9),
// access tokens fetched and refreshed on demand (spec/keyserver.md §5.1,
// §5.6), and the key directory checks that keep a key server from swapping
// keys (spec/transparency-v2.md §6, §8): VerifyDirectoryLookup for a
// lookup, VerifyDirectoryHistory for an account's own history, CheckClaim
// for a claimed bundle, and AuditDirectory, which checks every epoch as an
// auditor does.
//
// Errors say whom to blame. A JSON error answer of the server is an
// *APIError (IsCode tests its code); a network failure is returned wrapped
// as it is, so callers can retry it; an answer that shows the key server
// misbehaving — a proof that does not prove, a forked or rolled-back log,
// a key set that differs from its log leaf — wraps kt.ErrSecurity and must
// never be retried away.
//
// Tokens are bearer credentials: nothing in this package logs them, and
// error messages never contain them.
package ksclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// Limits and timeouts of the HTTP client.
const (
	// MaxResponseBytes caps a response body; a longer answer is refused.
	// The largest legitimate answers are an epoch's batch with its batch
	// proof (an epoch sequences at most keyserver.MaxEpochUpdates
	// changes: about 3 MiB in base64 at 10^9 accounts,
	// spec/transparency-v2.md §4.6) and an account's history (the key
	// sets after each of at most 2·MaxDevices changes, growing by one
	// device or revocation each: about 3 MiB in base64 at most).
	MaxResponseBytes = 4 << 20

	requestTimeout   = 60 * time.Second
	dialTimeout      = 10 * time.Second
	handshakeTimeout = 10 * time.Second
	headerTimeout    = 30 * time.Second
)

// wellKnownPath is the discovery document, spec/keyserver.md §5.0.
const wellKnownPath = "/.well-known/sealpost-keyserver"

// Client talks to one key server over HTTPS with TLS 1.3. It is safe for
// concurrent use.
type Client struct {
	base *url.URL
	http *http.Client

	// name and logKey, when set (Expect), are what the discovery
	// document must say.
	name, logKey string
	// witnesses and quorum, when set (RequireWitnesses), are the
	// cosignatures every checkpoint needs (spec/transparency-v2.md §7.4).
	witnesses []kt.Witness
	quorum    int

	mu sync.Mutex
	wk *api.WellKnown // guarded by mu; set after the first success
}

// Expect pins the server's name and, if not empty, its log verifier key
// (spec/client.md §6.1): a discovery document that names another server
// or log key is refused with an error wrapping kt.ErrSecurity, and Name
// returns name. Call it before the client is used.
func (c *Client) Expect(name, logKey string) {
	c.name, c.logKey = name, logKey
}

// Name returns the server name given to Expect, else the one the discovery
// document gives.
func (c *Client) Name(ctx context.Context) (string, error) {
	if c.name != "" {
		return c.name, nil
	}
	wk, err := c.WellKnown(ctx)
	if err != nil {
		return "", err
	}
	return wk.Name, nil
}

// New returns a client of the key server at baseURL ("https://host:port",
// optionally with a path prefix). tlsConfig decides which certificates are
// trusted (tlsconfig.ClientConfig for a pinned server; nil for the system
// roots); whatever it says, TLS 1.2 and older are refused (spec/keyserver.md
// §1). Redirects are not followed. In the browser build (GOOS=js) requests
// go through the browser's fetch, which does TLS and checks certificates
// itself: a tlsConfig that sets its own trust (a CA file, a pin) is refused
// with an error wrapping tlsconfig.ErrBrowserTrust.
func New(baseURL string, tlsConfig *tls.Config) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("ksclient: key server URL: %w", err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("ksclient: key server URL %q: scheme must be https", baseURL)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("ksclient: key server URL %q: want https://host[:port][/prefix]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""

	var tc *tls.Config
	if tlsConfig != nil {
		tc = tlsConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.MinVersion < tls.VersionTLS13 {
		tc.MinVersion = tls.VersionTLS13
	}
	if tc.MaxVersion != 0 && tc.MaxVersion < tls.VersionTLS13 {
		return nil, errors.New("ksclient: the TLS configuration allows no TLS 1.3")
	}
	tr, err := newTransport(tc)
	if err != nil {
		return nil, err
	}
	return &Client{
		base: u,
		http: &http.Client{
			Transport: tr,
			Timeout:   requestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// SetDial makes the client open its connections with dial (a proxy, for
// example) instead of directly. Call it before the client's first request.
// In the browser build it fails with an error wrapping
// errors.ErrUnsupported: fetch opens its own connections.
func (c *Client) SetDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	return setDial(c.http.Transport.(*http.Transport), dial)
}

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// APIError is an error answer of the key server: its HTTP status and the
// code and message of its JSON body (spec/keyserver.md §3). An answer
// without a JSON error body (a proxy's 502, say) has an empty Code.
type APIError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the server's Retry-After, for 429 rate_limited and
	// 503 unavailable, or 0 when it sent none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("ksclient: key server answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("ksclient: key server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// IsCode reports whether err is, or wraps, an *APIError with code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// WellKnown returns the server's discovery document (spec/keyserver.md
// §5.0), fetched once and cached after the first success. The caller must
// not modify it. The document is only as trustworthy as the TLS channel
// that delivered it: pin what it says on first use.
func (c *Client) WellKnown(ctx context.Context) (*api.WellKnown, error) {
	c.mu.Lock()
	wk := c.wk
	c.mu.Unlock()
	if wk != nil {
		return wk, nil
	}
	var w api.WellKnown
	if err := c.do(ctx, http.MethodGet, wellKnownPath, nil, "", nil, &w); err != nil {
		return nil, err
	}
	if w.Name == "" || w.Audience != api.AudiencePrefix+w.Name || w.DirectoryOrigin != w.Name+directory.OriginSuffix {
		return nil, fmt.Errorf("ksclient: discovery document names %q, audience %q and directory origin %q, which do not agree (spec/keyserver.md §5.0)", w.Name, w.Audience, w.DirectoryOrigin)
	}
	if c.name != "" && w.Name != c.name {
		return nil, securityError(nil, "the key server calls itself %q, not the configured %q", printable(w.Name), c.name)
	}
	if c.logKey != "" && w.DirectoryVerifierKey != c.logKey {
		return nil, securityError(nil, "the key server publishes log key %q, not the configured %q", printable(w.DirectoryVerifierKey), c.logKey)
	}
	c.mu.Lock()
	if c.wk == nil {
		c.wk = &w
	}
	wk = c.wk
	c.mu.Unlock()
	return wk, nil
}

// Challenge asks for a challenge for audience; "" means the key server's
// own (spec/keyserver.md §5.1).
func (c *Client) Challenge(ctx context.Context, audience string) (*api.ChallengeResponse, error) {
	return call[api.ChallengeResponse](ctx, c, http.MethodPost, "/v1/challenges", nil, "", api.ChallengeRequest{Audience: audience})
}

// Register registers an account with its first device (spec/keyserver.md
// §5.2).
func (c *Client) Register(ctx context.Context, req *api.RegisterRequest) (*api.KeySetResponse, error) {
	return call[api.KeySetResponse](ctx, c, http.MethodPost, "/v1/accounts", nil, "", req)
}

// AddDevice adds a device to handle's account (spec/keyserver.md §5.4).
func (c *Client) AddDevice(ctx context.Context, handle string, req *api.AddDeviceRequest) (*api.KeySetResponse, error) {
	p, err := accountPath(handle, "/devices")
	if err != nil {
		return nil, err
	}
	return call[api.KeySetResponse](ctx, c, http.MethodPost, p, nil, "", req)
}

// RevokeDevice revokes device id of handle's account (spec/keyserver.md
// §5.5): req carries the account key's revocation, token is a key server
// token of another active device of the account.
func (c *Client) RevokeDevice(ctx context.Context, token, handle string, id uint32, req *api.RevokeDeviceRequest) (*api.KeySetResponse, error) {
	if id == 0 {
		return nil, fmt.Errorf("ksclient: revoking device 0: %w", keys.ErrInvalidDeviceID)
	}
	p, err := accountPath(handle, "/devices/"+strconv.FormatUint(uint64(id), 10)+"/revoke")
	if err != nil {
		return nil, err
	}
	return call[api.KeySetResponse](ctx, c, http.MethodPost, p, nil, token, req)
}

// Token asks for an access token (spec/keyserver.md §5.6). Tokens does the
// whole exchange and caches the result.
func (c *Client) Token(ctx context.Context, req *api.TokenRequest) (*api.TokenResponse, error) {
	return call[api.TokenResponse](ctx, c, http.MethodPost, "/v1/tokens", nil, "", req)
}

// UploadPrekeys uploads prekeys of the token's device and returns how many
// one-time prekeys it now holds (spec/keyserver.md §5.7).
func (c *Client) UploadPrekeys(ctx context.Context, token string, up *api.PrekeyUpload) (*api.PrekeyCounts, error) {
	return call[api.PrekeyCounts](ctx, c, http.MethodPut, "/v1/prekeys", nil, token, up)
}

// PrekeyCount returns how many one-time prekeys the token's device holds
// (spec/keyserver.md §5.7).
func (c *Client) PrekeyCount(ctx context.Context, token string) (*api.PrekeyCounts, error) {
	return call[api.PrekeyCounts](ctx, c, http.MethodGet, "/v1/prekeys/count", nil, token, nil)
}

// Claim claims one bundle per device of handle (spec/keyserver.md §5.8).
// Check each with CheckClaim against the handle's verified entry.
func (c *Client) Claim(ctx context.Context, token, handle string) (*api.ClaimResponse, error) {
	p, err := accountPath(handle, "/claim")
	if err != nil {
		return nil, err
	}
	return call[api.ClaimResponse](ctx, c, http.MethodPost, p, nil, token, nil)
}

// SealKeys fetches, taking nothing, every active device of handle's signed
// prekey and last-resort KEM prekey, as bundles without one-time prekeys
// (spec/keyserver.md §5.11); a sender seals envelopes to the last-resort
// KEM prekey (spec/seal.md version 2). Verify each bundle as a claimed one.
func (c *Client) SealKeys(ctx context.Context, token, handle string) (*api.ClaimResponse, error) {
	p, err := accountPath(handle, "/seal-keys")
	if err != nil {
		return nil, err
	}
	return call[api.ClaimResponse](ctx, c, http.MethodGet, p, nil, token, nil)
}

// Checkpoint returns the signed checkpoint of the directory's log at its
// current size (spec/keyserver.md §9.3), unverified: open it with the
// verifier of directory.NewVerifier.
func (c *Client) Checkpoint(ctx context.Context) (string, error) {
	var r api.CheckpointResponse
	if err := c.do(ctx, http.MethodGet, "/v2/log/checkpoint", nil, "", nil, &r); err != nil {
		return "", err
	}
	return r.Checkpoint, nil
}

// Consistency returns the proof that the tree of size old is a prefix of
// the tree of size new in the directory's log (spec/keyserver.md §9.3).
// For old = 0 or old = new
// the proof is empty and nothing is fetched (spec/transparency.md §6.2).
func (c *Client) Consistency(ctx context.Context, old, new int64) ([]api.Bytes, error) {
	if old < 0 || new < old {
		return nil, fmt.Errorf("ksclient: consistency proof from size %d to %d", old, new)
	}
	if old == 0 || old == new {
		return nil, nil
	}
	q := url.Values{"old": {strconv.FormatInt(old, 10)}, "new": {strconv.FormatInt(new, 10)}}
	var r api.ConsistencyResponse
	if err := c.do(ctx, http.MethodGet, "/v2/log/consistency", q, "", nil, &r); err != nil {
		return nil, err
	}
	return r.Proof, nil
}

// Leaves returns the directory's log leaves with index in [start, end):
// the leaves of epochs start+1 … end (spec/keyserver.md §9.3). The server
// serves at most its MaxLeaves at
// once (WellKnown().Limits.MaxLeaves).
func (c *Client) Leaves(ctx context.Context, start, end int64) ([]api.Bytes, error) {
	if start < 0 || end <= start {
		return nil, fmt.Errorf("ksclient: leaves [%d, %d)", start, end)
	}
	q := url.Values{"start": {strconv.FormatInt(start, 10)}, "end": {strconv.FormatInt(end, 10)}}
	var r api.LeavesResponse
	if err := c.do(ctx, http.MethodGet, "/v2/log/leaves", q, "", nil, &r); err != nil {
		return nil, err
	}
	return r.Leaves, nil
}

// accountPath is /v1/accounts/{handle}{suffix}. The handle is checked
// here so that it cannot change the path.
func accountPath(handle, suffix string) (string, error) {
	if err := keys.CheckHandle(handle); err != nil {
		return "", fmt.Errorf("ksclient: %w", err)
	}
	return "/v1/accounts/" + handle + suffix, nil
}

// call sends one request (do) and returns its decoded answer.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, token string, body any) (*T, error) {
	var r T
	if err := c.do(ctx, method, path, query, token, body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// do sends one request and decodes a 2xx answer strictly into out.
// token, if not empty, goes in the Authorization header (spec/keyserver.md
// §2.3) and nowhere else.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, token string, body, out any) error {
	// A 429 means the server did not act on the request, a 503 that its
	// database or disk cannot serve now (spec/keyserver.md §3, §4): wait
	// as long as it asks (at most maxRetryWait, or 1 s if it does not say)
	// and try again, a few times.
	for attempt := 0; ; attempt++ {
		err := c.doOnce(ctx, method, path, query, token, body, out)
		var ae *APIError
		if !errors.As(err, &ae) || !retryable(ae.Status) || attempt == maxRetries {
			return err
		}
		wait := ae.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		if wait > maxRetryWait {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// retryable reports whether an answer with status is retried: 429
// rate_limited and 503 unavailable.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// Retries of rate-limited and unavailable requests.
const (
	maxRetries   = 3
	maxRetryWait = 10 * time.Second
)

// doOnce sends one request (see do).
func (c *Client) doOnce(ctx context.Context, method, path string, query url.Values, token string, body, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ksclient: %s %s: encoding the request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("ksclient: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Network failures are returned as they are, for the caller to
		// retry. The URL in the error holds no secret: tokens travel in
		// the header only.
		return fmt.Errorf("ksclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("ksclient: %s %s: reading the answer: %w", method, path, err)
	}
	if len(data) > MaxResponseBytes {
		return fmt.Errorf("ksclient: %s %s: answer larger than %d bytes", method, path, MaxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp, data)
	}
	if err := decodeStrict(data, out); err != nil {
		return fmt.Errorf("ksclient: %s %s: malformed answer: %w", method, path, err)
	}
	return nil
}

// maxMessage caps the server's error message kept in an APIError.
const maxMessage = 200

// apiError builds the *APIError of a non-2xx answer (spec/keyserver.md §3).
func apiError(resp *http.Response, data []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	var body api.ErrorResponse
	if decodeStrict(data, &body) == nil && body.Error != "" {
		e.Code, e.Message = body.Error, body.Message
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = printable(e.Message)
	if retryable(resp.StatusCode) {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s <= 24*3600 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return e
}

// printable shortens a server-chosen message and drops control
// characters, so it cannot forge log lines or flood a screen.
func printable(s string) string {
	if len(s) > maxMessage {
		s = s[:maxMessage] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
