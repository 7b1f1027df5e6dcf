//go:build !js

package client

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// The platform-specific parts of the client: natively, connections are Go's
// own (TLS trust from Config, Config.Dial) and file transfers spool to the
// store directory. platform_js.go is the browser's.

// platformProblems returns the settings of cfg this platform cannot honour:
// none natively.
func platformProblems(serverTrustConfig) []error { return nil }

// spoolSupported reports whether file transfers can spool to the store
// directory: natively they can.
func spoolSupported() error { return nil }

// newHTTPClient returns an HTTP client for the blob service with the TLS
// configuration of the key server (TLS 1.3 only) and Config.Dial.
func newHTTPClient(tc *tls.Config, dial DialFunc) *http.Client {
	cfg := &tls.Config{}
	if tc != nil {
		cfg = tc.Clone()
	}
	cfg.MinVersion = tls.VersionTLS13
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   20 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ForceAttemptHTTP2:     false, // one TCP connection a transfer: HTTP/1.1 streams faster
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	if dial != nil {
		tr.DialContext = dial
		tr.Proxy = nil
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
