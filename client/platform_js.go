//go:build js

package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"github.com/sealpost/sealpost/tlsconfig"
)

// The browser's platform: the browser makes every connection (fetch,
// WebSocket), does TLS and checks certificates against its own roots, so
// Config.CAFile, Config.Pin and Config.Dial cannot apply and are refused by
// Open; there is no file system, so file transfers are not supported
// (ErrFileTransferUnsupported) and Config.Dir names the store in IndexedDB.

// platformProblems returns the settings of cfg the browser cannot honour,
// in the words of Config's field names.
func platformProblems(cfg serverTrustConfig) []error {
	var problems []error
	if cfg.caFile != "" {
		problems = append(problems, fmt.Errorf("client: Config.CAFile: %w", tlsconfig.ErrBrowserTrust))
	}
	if cfg.pin != "" {
		problems = append(problems, fmt.Errorf("client: Config.Pin: %w", tlsconfig.ErrBrowserTrust))
	}
	if cfg.dial != nil {
		problems = append(problems, fmt.Errorf("client: Config.Dial: a custom dialer (a proxy) cannot apply in the browser, which opens its own connections: %w", errors.ErrUnsupported))
	}
	return problems
}

// spoolSupported returns ErrFileTransferUnsupported: the browser has no
// file system for spool files.
func spoolSupported() error { return ErrFileTransferUnsupported }

// newHTTPClient returns an HTTP client that sends requests with the
// browser's fetch (net/http's js transport, with no dial function). tc and
// dial are nil or the default here: Open refused anything else
// (platformProblems).
func newHTTPClient(_ *tls.Config, _ DialFunc) *http.Client {
	return &http.Client{
		Transport: &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
