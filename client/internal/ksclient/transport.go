//go:build !js

package ksclient

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// newTransport returns the HTTP transport to the key server: TLS with tc,
// HTTP/2 when offered, bounded dial, handshake and header waits.
func newTransport(tc *tls.Config) (*http.Transport, error) {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   handshakeTimeout,
		ResponseHeaderTimeout: headerTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}, nil
}

// setDial makes tr open its connections with dial.
func setDial(tr *http.Transport, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	tr.DialContext = dial
	return nil
}
