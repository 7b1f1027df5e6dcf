//go:build js

package ksclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/sealpost/sealpost/tlsconfig"
)

// newTransport returns the HTTP transport to the key server in the
// browser: net/http's js transport, which sends requests with fetch as
// long as no dial function is set. The browser does TLS and checks the
// certificate; a tc that sets its own trust is refused
// (tlsconfig.BrowserCheck). The request timeout (requestTimeout) still
// applies through the request's context.
func newTransport(tc *tls.Config) (*http.Transport, error) {
	if err := tlsconfig.BrowserCheck(tc); err != nil {
		return nil, fmt.Errorf("ksclient: %w", err)
	}
	return &http.Transport{}, nil
}

// setDial refuses: a dial function would make net/http bypass fetch, and
// the browser has no sockets.
func setDial(*http.Transport, func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	return fmt.Errorf("ksclient: a custom dialer (a proxy) cannot apply in the browser, whose fetch opens its own connections: %w", errors.ErrUnsupported)
}
