package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Retry hints the gateway gives when a provider gave none (spec/push.md
// §5.5), and the longest it passes on.
const (
	defaultThrottleRetry = 60 * time.Second
	defaultOutageRetry   = 30 * time.Second
	maxRetryAfter        = time.Hour
)

// kind is what a provider's answer means for the relay (spec/push.md
// §5.5).
type kind int

const (
	kindGone      kind = iota + 1 // the device token is dead: 410
	kindThrottled                 // provider rate limit: 429
	kindOutage                    // provider down or slow: 503
	kindFailed                    // anything else: 502
)

func (k kind) String() string {
	switch k {
	case kindGone:
		return "gone"
	case kindThrottled:
		return "throttled"
	case kindOutage:
		return "unavailable"
	}
	return "provider_error"
}

// sendError is a provider's refusal of a push, classified. reason is the
// provider's error code (APNs reason, FCM errorCode or status): no token
// or payload, so it may be logged.
type sendError struct {
	kind   kind
	status int           // the provider's HTTP status, 0 for no answer
	reason string        // the provider's error code
	after  time.Duration // the provider's Retry-After, 0 if none
	err    error         // the transport error, if any
}

func (e *sendError) Error() string {
	s := fmt.Sprintf("gateway: provider %s (%d %s)", e.kind, e.status, e.reason)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *sendError) Unwrap() error { return e.err }

// asSendError returns err as a *sendError: a transport error or timeout
// is an outage.
func asSendError(err error) *sendError {
	var se *sendError
	if errors.As(err, &se) {
		return se
	}
	return &sendError{kind: kindOutage, reason: "no_answer", err: err}
}

// providerTransport is the HTTP/2 transport to APNs and FCM: TLS 1.2 or
// newer (Apple's and Google's servers speak both), bounded handshakes and
// header waits (spec/push.md §5.6).
func providerTransport() *http.Transport {
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  15 * time.Second,
		IdleConnTimeout:        5 * time.Minute,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// ProviderClient returns an HTTP client for the providers that trusts the
// CA certificates in pool instead of the system's (nil: the system's).
func ProviderClient(pool *x509.CertPool) *http.Client {
	t := providerTransport()
	t.TLSClientConfig.RootCAs = pool
	return &http.Client{Transport: t}
}

// checkBaseURL checks a provider base URL: https://host[:port], no path.
func checkBaseURL(s string) error {
	if err := checkHTTPS(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("%q: want https://host[:port] without a path", s)
	}
	return nil
}

// checkHTTPS checks that s is an https URL with a host and nothing
// secret in it.
func checkHTTPS(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want an https URL", s)
	}
	return nil
}

func trimSlash(s string) string { return strings.TrimSuffix(s, "/") }
