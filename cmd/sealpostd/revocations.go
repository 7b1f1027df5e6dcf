package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/sealpost/sealpost/keyserver/revocation"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/tlsconfig"
)

// feedOff is the --relay-keyserver-url value that runs a relay alone
// without the revocation feed.
const feedOff = "off"

// feedTimeout bounds one request to the key server's revocation feed.
const feedTimeout = 10 * time.Second

// validateRevocationFeed adds the problems with the revocation feed
// settings (spec/relay.md §2.4) to bad.
func (c *Config) validateRevocationFeed(ks, rl bool, bad func(flag, format string, args ...any)) {
	switch {
	case !rl || ks:
		if c.RelayKeyServerURL != "" || c.RelayKeyServerFingerprint != "" || c.RelayKeyServerCA != "" {
			bad("relay-keyserver-url", "only for the relay alone: with the key server in this process the relay reads its revocation feed directly")
		}
		return
	case c.RelayKeyServerURL == "":
		bad("relay-keyserver-url", "missing: the relay alone reads the key server's revocation feed (or give 'off' to let revoked devices' tokens work until they expire)")
		return
	case c.RelayKeyServerURL == feedOff:
		if c.RelayKeyServerFingerprint != "" || c.RelayKeyServerCA != "" {
			bad("relay-keyserver-url", "off, but a fingerprint or CA is given")
		}
		return
	}
	if _, err := revocation.NewClient(c.RelayKeyServerURL, nil); err != nil {
		bad("relay-keyserver-url", "%q: want https://host[:port]", c.RelayKeyServerURL)
	}
	switch {
	case c.RelayKeyServerFingerprint != "" && c.RelayKeyServerCA != "":
		bad("relay-keyserver-ca", "give --relay-keyserver-fingerprint or --relay-keyserver-ca, not both")
	case c.RelayKeyServerFingerprint != "":
		if _, err := tlsconfig.ParseFingerprint(c.RelayKeyServerFingerprint); err != nil {
			bad("relay-keyserver-fingerprint", "%v", err)
		}
	case c.RelayKeyServerCA != "":
		if _, err := loadCAs(c.RelayKeyServerCA); err != nil {
			bad("relay-keyserver-ca", "%v", err)
		}
	}
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// remoteRevocations returns the revocation feed of the key server at
// --relay-keyserver-url over HTTPS (keyServerClient), or nil for "off"; c
// must be valid.
func remoteRevocations(c *Config) (relay.RevocationSource, error) {
	if c.RelayKeyServerURL == feedOff {
		return nil, nil
	}
	hc, err := keyServerClient(c)
	if err != nil {
		return nil, err
	}
	return revocation.NewClient(c.RelayKeyServerURL, hc)
}

// keyServerClient returns the HTTP client a relay alone reads the key
// server at --relay-keyserver-url with (its revocation feed, its
// send-token keys): TLS 1.3, with the configured pin or CAs; c must be
// valid.
func keyServerClient(c *Config) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	switch {
	case c.RelayKeyServerFingerprint != "":
		pin, err := tlsconfig.ParseFingerprint(c.RelayKeyServerFingerprint)
		if err != nil {
			return nil, err
		}
		tc = tlsconfig.ClientConfig(pin)
	case c.RelayKeyServerCA != "":
		pool, err := loadCAs(c.RelayKeyServerCA)
		if err != nil {
			return nil, fmt.Errorf("--relay-keyserver-ca: %w", err)
		}
		tc.RootCAs = pool
	}
	return &http.Client{Timeout: feedTimeout, Transport: &http.Transport{
		TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConns: 2, IdleConnTimeout: time.Minute,
		Proxy: http.ProxyFromEnvironment,
	}}, nil
}

// revocationFeedName says in the start log where the relay reads the
// revocation feed: "in-process", the key server URL, or "off".
func revocationFeedName(c *Config, keyServer bool) string {
	if keyServer {
		return "in-process"
	}
	return c.RelayKeyServerURL
}
