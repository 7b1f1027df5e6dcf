// Package egress is the HTTP client a Sealpost server uses to reach an
// address a user gave it: a Web Push endpoint (spec/push.md §4.8). A user
// who may name any URL must not make the server reach into its own network,
// so the client refuses, at connect time and on the address actually
// dialled, every loopback, private, link-local, unspecified, multicast,
// shared (CGNAT) and reserved address, including their IPv4-mapped and
// IPv6-embedded forms. Checking the dialled address rather than the name
// defeats DNS rebinding: whatever a name resolves to, the connection goes
// only where the check allowed.
//
// The client speaks https only, follows no redirect (the caller sees the
// 3xx), ignores proxy settings from the environment (a proxy would dial
// the target unchecked), and bounds every request by Config.Timeout.
package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is the refusal of an address the client must not
// reach (a literal IP in CheckURL, or a dialled address). It is wrapped in
// the error a request returns; test it with errors.Is.
var ErrForbiddenAddress = errors.New("egress: forbidden address")

// ErrInvalidURL is the refusal of a URL that is not an acceptable https
// URL (CheckURL).
var ErrInvalidURL = errors.New("egress: invalid URL")

// MaxURLLength is the longest URL CheckURL accepts, in bytes.
const MaxURLLength = 2048

// DefaultTimeout bounds a whole request (connect, TLS, headers and body)
// when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config configures NewClient.
type Config struct {
	// AllowPrivate turns the address check off: only for tests, whose
	// servers listen on 127.0.0.1.
	AllowPrivate bool
	// Timeout bounds a whole request; 0 means DefaultTimeout.
	Timeout time.Duration
	// RootCAs replaces the system's roots (tests); nil means the system's.
	RootCAs *x509.CertPool
}

// NewClient returns an http.Client that reaches only public addresses over
// https (unless cfg.AllowPrivate) and never follows a redirect.
//
// TLS 1.2 is accepted as the minimum, not 1.3 as between Sealpost's own
// peers: the servers it talks to are third-party push services (Mozilla,
// Google, Apple, self-hosted UnifiedPush distributors) whose TLS versions
// we do not choose, and what travels is already end-to-end encrypted
// (spec/push.md §4.3) and names nothing; Go's TLS 1.2 offers only AEAD
// suites with forward secrecy.
func NewClient(cfg Config) *http.Client {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivate {
		dialer.Control = control
	}
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs},
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: httpsOnly{t},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// httpsOnly refuses any request whose URL is not https, so that nothing
// the client sends travels in clear.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("%w: scheme %q, want https", ErrInvalidURL, r.URL.Scheme)
	}
	return h.rt.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (h httpsOnly) CloseIdleConnections() {
	if c, ok := h.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// control runs after the address is resolved and before the socket
// connects: address is the IP and port actually dialled.
func control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %s", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrForbiddenAddress, err)
	}
	if Forbidden(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// CheckURL reports whether raw is acceptable as a push endpoint at
// registration (spec/push.md §4.8): https, a host, no user information
// and no fragment, at most MaxURLLength bytes, a valid port if any, and,
// when the host is a literal IP address or a name that is local by
// definition ("localhost", "*.localhost"), one that is not Forbidden
// unless allowPrivate. A host whose last label is numeric (an IPv4 address
// in a form other than dotted decimal) is refused. Names are checked again
// on every connection, on the addresses they resolve to then.
func CheckURL(raw string, allowPrivate bool) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: does not parse", ErrInvalidURL)
	}
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("%w: scheme %q, want https", ErrInvalidURL, u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	case u.User != nil:
		return fmt.Errorf("%w: user information", ErrInvalidURL)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%w: fragment", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %q", ErrInvalidURL, p)
		}
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" || Forbidden(ip) {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
		}
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
	}
	if numericHost(name) {
		return fmt.Errorf("%w: host %q is neither a DNS name nor an IP address in standard form", ErrInvalidURL, host)
	}
	return nil
}

// numericHost reports whether name's last label is all digits or starts
// with 0x: no DNS name ends so, but resolvers with inet_aton's rules read
// such names as IPv4 addresses ("127.1", "2130706433", "0x7f.0.0.1").
func numericHost(name string) bool {
	last := name[strings.LastIndex(name, ".")+1:]
	if strings.HasPrefix(last, "0x") {
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}
