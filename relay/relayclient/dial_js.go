//go:build js

package relayclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/tlsconfig"
)

// ErrBrowserDial is returned in the browser build when a DialFunc (a
// SOCKS5 proxy, say) is given: the browser's WebSocket opens its own
// connections. It wraps errors.ErrUnsupported.
var ErrBrowserDial = fmt.Errorf("relayclient: a custom dialer (a proxy) cannot apply in the browser, whose WebSocket opens its own connections: %w", errors.ErrUnsupported)

// dialWebSocket opens the WebSocket to url with the browser's WebSocket,
// which does TLS and checks the certificate itself: a tlsConfig that sets
// its own trust (a CA file, a pin) and a dial function are refused, not
// ignored (tlsconfig.BrowserCheck). The browser may offer
// permessage-deflate; the relay never accepts it (spec/relay.md §2.1).
func dialWebSocket(ctx context.Context, url string, tlsConfig *tls.Config, dial DialFunc) (*websocket.Conn, *http.Response, error) {
	if dial != nil {
		return nil, nil, ErrBrowserDial
	}
	if err := tlsconfig.BrowserCheck(tlsConfig); err != nil {
		return nil, nil, fmt.Errorf("relayclient: %w", err)
	}
	return websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{Subprotocol},
	})
}
