package relaylink

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// ErrNotConnected is returned by SendEphemeral when the link has no open
// connection: an ephemeral signal is sent now or never (spec/relay.md
// §7.4).
var ErrNotConnected = errors.New("relaylink: not connected")

// SendEphemeral sends items in one SendEphemeral frame on the current
// connection (spec/relay.md §7.4): the relay pushes each envelope to its
// recipient device if that device is connected now, and drops it
// otherwise. It never waits for a connection, never queues and never
// resends: without an open connection it returns ErrNotConnected at once
// (ErrClosed after Close, ErrRevoked once the device is revoked). A nil
// error means the frame was written, not that anything was delivered; the
// relay answers nothing, and drops envelopes over the Hello's
// max_ephemeral_envelope and items beyond its ephemeral rates.
//
// Items the relay would refuse as a frame (spec/relay.md §3.3: none, more
// than wire.MaxItems, a recipient that is not an address, an empty
// envelope) fail with an error wrapping wire.ErrMalformed, and a frame
// longer than the relay's max_frame with one wrapping
// wire.ErrFrameTooLarge; nothing is sent then.
func (l *Link) SendEphemeral(ctx context.Context, items []*wire.Item) error {
	b, err := wire.Encode(&wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{Items: items}}})
	if err != nil {
		return fmt.Errorf("relaylink: send ephemeral: %w", err)
	}
	if l.ctx.Err() != nil {
		return ErrClosed
	}
	l.mu.Lock()
	c, hello, revoked := l.conn, l.hello, l.revoked
	l.mu.Unlock()
	switch {
	case revoked:
		return ErrRevoked
	case c == nil || isDone(c):
		return ErrNotConnected
	}
	if maxFrame := int(hello.GetLimits().GetMaxFrame()); len(b) > maxFrame {
		return fmt.Errorf("relaylink: send ephemeral of %d bytes over the relay's max_frame %d: %w", len(b), maxFrame, wire.ErrFrameTooLarge)
	}
	if err := c.SendEphemeral(ctx, items...); err != nil {
		if isDone(c) {
			return ErrNotConnected
		}
		return fmt.Errorf("relaylink: send ephemeral: %w", err)
	}
	return nil
}

// ephemeralLoop calls OnEphemeral for each ephemeral envelope of each
// connection, in the relay's order, from this one goroutine. The
// connection's reader never waits for it: relayclient buffers up to
// relayclient.EphemeralBuffer envelopes and drops the rest.
func (l *Link) ephemeralLoop() {
	defer l.loops.Done()
	for {
		c, _, err := l.current(l.ctx)
		if err != nil {
			return
		}
		l.drainEphemeral(c)
		select {
		case <-c.Done():
		case <-l.ctx.Done():
			return
		}
	}
}

// drainEphemeral passes c's ephemeral envelopes to OnEphemeral until c
// ends or the link closes.
func (l *Link) drainEphemeral(c *relayclient.Conn) {
	for {
		select {
		case env, ok := <-c.Ephemeral():
			if !ok {
				return
			}
			l.cfg.OnEphemeral(env)
		case <-l.ctx.Done():
			return
		}
	}
}
