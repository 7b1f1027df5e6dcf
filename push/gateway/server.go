// Package gateway is the push gateway an app vendor runs so that relays
// can wake the vendor's iOS and Android apps through APNs and FCM, which
// only take pushes signed with the vendor's credentials (spec/push.md §5
// to §7).
//
// A relay posts a gateway token to /v1/pushgw/wake with its relay key; the
// gateway checks the key, applies the relay's rate limit, parses the token
// and sends a content-free wake-up through the token's provider. Its
// answer tells the relay whether the wake-up went out (204), whether the
// registration is dead (410), and when to try again (429, 503).
package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/httpjson"
)

// API constants (spec/push.md §5.1, §5.4).
const (
	// WakePath is the gateway's one endpoint.
	WakePath = "/v1/pushgw/wake"
	// MaxRequestBody is the largest request body read.
	MaxRequestBody = 4 << 10
	// Defaults of Config.
	DefaultRelayRate       = 50.0
	DefaultRelayBurst      = 500
	DefaultProviderTimeout = 10 * time.Second
)

// Error codes of the gateway's answers (spec/push.md §5.5).
const (
	CodeUnauthorized = "unauthorized"
	CodeRateLimited  = "rate_limited"
	CodeMalformed    = "malformed"
	CodeTooLarge     = "too_large"
	CodeUnsupported  = "unsupported_platform"
	CodeGone         = "gone"
	CodeThrottled    = "throttled"
	CodeUnavailable  = "unavailable"
	CodeProvider     = "provider_error"
	CodeNotFound     = "not_found"
	CodeMethod       = "method_not_allowed"
)

// Config configures a gateway.
type Config struct {
	// RelayKeys are the relays served (required).
	RelayKeys *RelayKeys
	// APNs and FCM are the providers; at least one. A token for a
	// provider not configured is refused (400 unsupported_platform).
	APNs *APNs
	FCM  *FCM
	// RelayRate and RelayBurst are each relay's token bucket, in wake-ups
	// per second and wake-ups; 0 means the default.
	RelayRate  float64
	RelayBurst int
	// ProviderTimeout bounds one wake-up's provider exchange, token
	// refreshes and the retry included; 0 means the default.
	ProviderTimeout time.Duration
	// Log receives one line per wake-up (delivered ones at debug level):
	// relay name, platform, outcome and the provider's error code, never
	// a token or key. Nil discards.
	Log *slog.Logger
}

// Server is the gateway's http.Handler.
type Server struct {
	keys    *RelayKeys
	senders map[Platform]sender
	timeout time.Duration
	log     *slog.Logger
	limits  *limiter
}

// sender is one provider.
type sender interface {
	send(ctx context.Context, t Token) error
}

// New returns a gateway; it reports every problem with cfg.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.RelayKeys == nil || cfg.RelayKeys.Len() == 0 {
		errs = append(errs, errors.New("gateway: no relay keys"))
	}
	senders := map[Platform]sender{}
	if cfg.APNs != nil {
		senders[PlatformAPNs] = cfg.APNs
	}
	if cfg.FCM != nil {
		senders[PlatformFCM] = cfg.FCM
	}
	if len(senders) == 0 {
		errs = append(errs, errors.New("gateway: neither APNs nor FCM configured"))
	}
	if cfg.RelayRate == 0 {
		cfg.RelayRate = DefaultRelayRate
	}
	if cfg.RelayBurst == 0 {
		cfg.RelayBurst = DefaultRelayBurst
	}
	if cfg.RelayRate < 0 || math.IsNaN(cfg.RelayRate) || math.IsInf(cfg.RelayRate, 0) || cfg.RelayBurst < 1 {
		errs = append(errs, errors.New("gateway: relay rate and burst must be positive"))
	}
	if cfg.ProviderTimeout == 0 {
		cfg.ProviderTimeout = DefaultProviderTimeout
	}
	if cfg.ProviderTimeout < 0 {
		errs = append(errs, errors.New("gateway: negative provider timeout"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		keys: cfg.RelayKeys, senders: senders, timeout: cfg.ProviderTimeout, log: cfg.Log,
		limits: newLimiter(cfg.RelayRate, cfg.RelayBurst),
	}, nil
}

// wakeRequest is the request body (spec/push.md §5.4).
type wakeRequest struct {
	Token *string `json:"token"`
}

// errorBody is every refusal's body (spec/push.md §5.5).
type errorBody struct {
	Error string `json:"error"`
}

// ServeHTTP serves WakePath (spec/push.md §5.4): the relay key first, so
// an unknown caller learns nothing else and reaches no provider; then the
// relay's rate limit, the body, the token and the provider.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != WakePath {
		httpjson.Write(w, http.StatusNotFound, errorBody{CodeNotFound})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpjson.Write(w, http.StatusMethodNotAllowed, errorBody{CodeMethod})
		return
	}
	relay, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pushgw"`)
		httpjson.Write(w, http.StatusUnauthorized, errorBody{CodeUnauthorized})
		return
	}
	if wait := s.limits.take(relay, time.Now()); wait > 0 {
		s.log.Info("pushgw: relay over its rate", "relay", relay)
		setRetryAfter(w, wait)
		httpjson.Write(w, http.StatusTooManyRequests, errorBody{CodeRateLimited})
		return
	}
	tok, status, code := readWake(w, r)
	if status != 0 {
		httpjson.Write(w, status, errorBody{code})
		return
	}
	snd, ok := s.senders[tok.Platform]
	if !ok {
		httpjson.Write(w, http.StatusBadRequest, errorBody{CodeUnsupported})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	err := snd.send(ctx, tok)
	if err == nil {
		s.log.Debug("pushgw: wake-up sent", "relay", relay, "platform", tok.Platform.String())
		w.WriteHeader(http.StatusNoContent)
		return
	}
	se := asSendError(err)
	attrs := []any{"relay", relay, "platform", tok.Platform.String(), "outcome", se.kind.String(),
		"provider_status", se.status, "provider_reason", se.reason}
	if se.err != nil && ctx.Err() != nil {
		attrs = append(attrs, "timeout", true)
	}
	s.log.Info("pushgw: wake-up not sent", attrs...)
	switch se.kind {
	case kindGone:
		httpjson.Write(w, http.StatusGone, errorBody{CodeGone})
	case kindThrottled:
		setRetryAfter(w, cmp0(se.after, defaultThrottleRetry))
		httpjson.Write(w, http.StatusTooManyRequests, errorBody{CodeThrottled})
	case kindOutage:
		setRetryAfter(w, cmp0(se.after, defaultOutageRetry))
		httpjson.Write(w, http.StatusServiceUnavailable, errorBody{CodeUnavailable})
	default:
		httpjson.Write(w, http.StatusBadGateway, errorBody{CodeProvider})
	}
}

// authenticate returns the name of the relay whose key the request
// carries as a bearer token (spec/push.md §5.3).
func (s *Server) authenticate(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, key, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return s.keys.lookup(key)
}

// readWake reads and parses the request body (spec/push.md §5.4): one
// JSON object, no unknown field, no trailing data, the token base64url
// without padding. A non-zero status is the refusal.
func readWake(w http.ResponseWriter, r *http.Request) (Token, int, string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Token{}, http.StatusRequestEntityTooLarge, CodeTooLarge
		}
		return Token{}, http.StatusBadRequest, CodeMalformed
	}
	var req wakeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Token == nil {
		return Token{}, http.StatusBadRequest, CodeMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return Token{}, http.StatusBadRequest, CodeMalformed
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(*req.Token)
	if err != nil {
		return Token{}, http.StatusBadRequest, CodeMalformed
	}
	tok, err := ParseToken(raw)
	if err != nil {
		return Token{}, http.StatusBadRequest, CodeMalformed
	}
	return tok, 0, ""
}

// setRetryAfter sets Retry-After to d in whole seconds, at least 1.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int64((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}

// cmp0 returns d, or def when d is 0.
func cmp0(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// limiter holds a token bucket per relay (spec/push.md §5.3).
type limiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// take spends one token of relay's bucket; if there is none, it returns
// how long until there is one.
func (l *limiter) take(relay string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[relay]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[relay] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Seconds()*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	if l.rate == 0 {
		return time.Hour
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
