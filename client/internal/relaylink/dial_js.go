//go:build js

package relaylink

import (
	"context"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// dialRelay opens an authenticated connection with tok on the browser's
// WebSocket. The page cannot see its socket's address, so the heartbeat's
// network id is Config.NetworkID's or empty (spec/push.md §9.4); a
// Config.Dial is refused by relayclient.
func (l *Link) dialRelay(ctx context.Context, tok string) (*relayclient.Conn, *wire.Hello, string, error) {
	c, hello, err := relayclient.DialVia(ctx, l.cfg.URL, l.cfg.TLS, tok, l.cfg.Dial)
	return c, hello, "", err
}
