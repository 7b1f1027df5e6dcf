//go:build !js

package relayclient

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/coder/websocket"
)

// dialWebSocket opens the WebSocket to url over HTTP/1.1 and TLS with
// tlsConfig, through dial if not nil, without compression
// (spec/relay.md §2.1).
func dialWebSocket(ctx context.Context, url string, tlsConfig *tls.Config, dial DialFunc) (*websocket.Conn, *http.Response, error) {
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   tlsConfig,
		ForceAttemptHTTP2: false,
		DisableKeepAlives: true,
		DialContext:       dial,
	}}
	return websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:      client,
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
}
