//go:build !js

package relaylink

import (
	"context"
	"net"
	"sync"

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
	// The transport dials on a goroutine of its own, which may still
	// run when DialVia returns (a dial the handshake did not wait for):
	// local is shared with it under mu.
	var (
		mu    sync.Mutex
		local string
	)
	c, hello, err := relayclient.DialVia(ctx, l.cfg.URL, l.cfg.TLS, tok, func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err == nil {
			if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
				mu.Lock()
				local = a.IP.String()
				mu.Unlock()
			}
		}
		return nc, err
	})
	mu.Lock()
	defer mu.Unlock()
	return c, hello, local, err
}
