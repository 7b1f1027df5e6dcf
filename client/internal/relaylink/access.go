package relaylink

import (
	"context"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// SetAccess sets this device's access setting at the relay (spec/relay.md
// §15.8) on the current connection and waits for the relay's AccessSet.
// It never waits for a connection: without an open one it returns
// ErrNotConnected at once (ErrClosed after Close, ErrRevoked once the
// device is revoked). The caller tells the relay again on the next
// connection if this one ended before the answer.
func (l *Link) SetAccess(ctx context.Context, mode wire.AccessMode, verifier []byte, previousValid time.Duration) error {
	if l.ctx.Err() != nil {
		return ErrClosed
	}
	l.mu.Lock()
	c, revoked := l.conn, l.revoked
	l.mu.Unlock()
	switch {
	case revoked:
		return ErrRevoked
	case c == nil || isDone(c):
		return ErrNotConnected
	}
	if err := c.SetAccess(ctx, mode, verifier, previousValid); err != nil {
		if isDone(c) {
			return ErrNotConnected
		}
		return fmt.Errorf("relaylink: set access: %w", err)
	}
	return nil
}
