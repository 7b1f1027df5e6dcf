//go:build !js

package relaylink

import (
	"context"
	"net"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// dialRelay opens an authenticated connection with tok through
// Config.Dial (or directly), and returns with it the local IP address of
// its socket: the heartbeat's default network id (spec/push.md §9.4).
func (l *Link) dialRelay(ctx context.Context, tok string) (*relayclient.Conn, *wire.Hello, string, error) {
	dial := l.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var local string
	c, hello, err := relayclient.DialVia(ctx, l.cfg.URL, l.cfg.TLS, tok, func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err == nil {
			if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
				local = a.IP.String()
			}
		}
		return nc, err
	})
	return c, hello, local, err
}
