package relaylink

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// Send sends items under message id and returns the relay's status for
// each item, in order. It waits for a connection; if the connection fails
// before the relay answers, it sends the same id again on the next one,
// until the relay answers or ctx ends (ctx's error) or the link closes
// (ErrClosed). The relay stores a message id once per device and answers a
// retry with the first answer's statuses (spec/relay.md §7.2), so a retry
// never stores twice; by the same rule, never reuse an id for other items.
//
// A Send the relay would refuse as a frame (spec/relay.md §3.3: no items,
// more than wire.MaxItems, a recipient that is not an address, an empty
// envelope) fails at once with an error wrapping wire.ErrMalformed, and one
// longer than the relay's max_frame with an error wrapping
// wire.ErrFrameTooLarge; nothing is sent then. Only one Send per id may be
// in progress at a time.
func (l *Link) Send(ctx context.Context, id [wire.MessageIDSize]byte, items []*wire.Item) ([]wire.Status, error) {
	r, err := l.SendResult(ctx, id, items)
	if err != nil {
		return nil, err
	}
	return r.Statuses, nil
}

// SendResult is Send returning the relay's whole answer, with its
// retry_after_ms for items answered quota (spec/relay.md §6.1).
func (l *Link) SendResult(ctx context.Context, id [wire.MessageIDSize]byte, items []*wire.Item) (*wire.SendResult, error) {
	// Checked here, once, so that every error of the connection's Send
	// below is a failure of the connection, worth a retry.
	return l.sendFrame(ctx, id, &wire.Send{MessageId: id[:], Items: items}, func(c *relayclient.Conn) (*wire.SendResult, error) {
		return c.SendResult(ctx, id, items)
	})
}

// SendShared sends body once to recipients (device addresses) as one
// shared send (spec/relay.md §16) under id, with SendResult's retries: the
// relay stores the body once and delivers it to each. The result has one
// status per recipient, in order.
func (l *Link) SendShared(ctx context.Context, id [wire.MessageIDSize]byte, body []byte, recipients [][]byte) (*wire.SendResult, error) {
	items := make([]*wire.Item, len(recipients))
	for i, r := range recipients {
		items[i] = &wire.Item{Recipient: r}
	}
	return l.sendFrame(ctx, id, &wire.Send{MessageId: id[:], Items: items, SharedBody: body}, func(c *relayclient.Conn) (*wire.SendResult, error) {
		return c.SendShared(ctx, id, body, recipients)
	})
}

// sendFrame checks m as a frame, then sends it with send on the current
// connection until the relay answers (see Send).
func (l *Link) sendFrame(ctx context.Context, id [wire.MessageIDSize]byte, m *wire.Send, send func(*relayclient.Conn) (*wire.SendResult, error)) (*wire.SendResult, error) {
	b, err := wire.Encode(&wire.Frame{Body: &wire.Frame_Send{Send: m}})
	if err != nil {
		return nil, fmt.Errorf("relaylink: send: %w", err)
	}
	if err := l.claim(id); err != nil {
		return nil, err
	}
	defer l.release(id)
	for {
		c, hello, err := l.current(ctx)
		if err != nil {
			return nil, err
		}
		if maxFrame := int(hello.GetLimits().GetMaxFrame()); len(b) > maxFrame {
			return nil, fmt.Errorf("relaylink: send of %d bytes over the relay's max_frame %d: %w", len(b), maxFrame, wire.ErrFrameTooLarge)
		}
		r, err := send(c)
		if err == nil {
			return r, nil
		}
		if l.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The connection failed (it ended, or a write to it failed, which
		// leaves it unusable): make sure it is gone and retry on the next.
		l.log.Debug("relaylink: send interrupted, retrying on the next connection", "err", err)
		if !isDone(c) {
			c.CloseNow()
		}
	}
}

// claim records id as in progress, or refuses a second Send of it.
func (l *Link) claim(id [wire.MessageIDSize]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.inflight[id]; busy {
		return errors.New("relaylink: a send with this message id is already in progress")
	}
	l.inflight[id] = struct{}{}
	return nil
}

func (l *Link) release(id [wire.MessageIDSize]byte) {
	l.mu.Lock()
	delete(l.inflight, id)
	l.mu.Unlock()
}
