package relaylink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// pushTimeout bounds sending the push target after a connect.
const pushTimeout = 20 * time.Second

// sendPushOnConnect sends the push target, if any, on c, just connected
// (spec/push.md §8.1): the relay changes nothing for a target it holds
// already, so the target goes on every connection, and a registration
// lost at the relay comes back by itself. In the background: the
// connection's heartbeat does not wait for it.
func (l *Link) sendPushOnConnect(c *relayclient.Conn) {
	l.loops.Add(1)
	go func() {
		defer l.loops.Done()
		p, st, ok := l.pushOn(c)
		if !ok {
			return
		}
		// Reported without pushMu: the callback may call SetPush.
		if f := l.cfg.OnPushStatus; f != nil {
			f(p, st)
		}
	}()
}

// pushOn sends the link's target on c and returns it with the relay's
// answer; ok is false if there is none or it could not be sent.
func (l *Link) pushOn(c *relayclient.Conn) (p *wire.SetPush, st wire.PushStatus, ok bool) {
	l.pushMu.Lock()
	defer l.pushMu.Unlock()
	if p = l.push; p == nil {
		return nil, 0, false
	}
	ctx, cancel := context.WithTimeout(l.ctx, pushTimeout)
	defer cancel()
	st, err := c.SetPush(ctx, p)
	if err != nil {
		if l.ctx.Err() == nil && !isDone(c) {
			l.log.Info("relaylink: sending the push target failed; sent again on the next connection", "err", err)
		}
		return nil, 0, false
	}
	l.answered(p, st)
	return p, st, true
}

// answered forgets a removal the relay answered. The caller holds
// pushMu.
func (l *Link) answered(p *wire.SetPush, st wire.PushStatus) {
	// ok, or disabled: a relay that sends no wake-ups holds no target.
	if p.Kind == wire.PushKind_PUSH_KIND_NONE && l.push == p &&
		(st == wire.PushStatus_PUSH_STATUS_OK || st == wire.PushStatus_PUSH_STATUS_DISABLED) {
		l.push = nil
	}
}

// SetPush makes p the push target sent after every connect (kind none:
// removes the device's registration, sent until the relay answers ok or
// disabled)
// and sends it now: it waits for a connection and returns the relay's
// answer (spec/push.md §2). If the connection ends before the answer it
// sends p again on the next, until ctx ends (its error; p is still sent
// after the next connect) or the link closes (ErrClosed). A target that
// breaks the frame rules fails at once with an error wrapping
// wire.ErrMalformed, and changes nothing. A refused target (a status
// other than ok) stays the link's target: the caller sets the one it
// wants instead.
func (l *Link) SetPush(ctx context.Context, p *wire.SetPush) (wire.PushStatus, error) {
	if err := wire.Check(&wire.Frame{Body: &wire.Frame_SetPush{SetPush: p}}); err != nil {
		return 0, fmt.Errorf("relaylink: set push: %w", err)
	}
	l.pushMu.Lock()
	defer l.pushMu.Unlock()
	l.push = p
	for {
		c, _, err := l.current(ctx)
		if err != nil {
			return 0, err
		}
		st, err := c.SetPush(ctx, p)
		if err == nil {
			l.answered(p, st)
			return st, nil
		}
		if l.ctx.Err() != nil {
			return 0, ErrClosed
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if !isDone(c) {
			return 0, fmt.Errorf("relaylink: set push: %w", err)
		}
	}
}

// errConnEnded: the connection a Drain waited on ended first.
var errConnEnded = errors.New("relaylink: connection ended")

// Drain returns once the client has taken and acked every envelope the
// relay's mailbox held for this device when Drain asked (spec/push.md
// §8.2): it waits for a connection, sends Drain, waits for Drained, then
// until the deliver loop has passed every delivery before it to Deliver
// and written their acks. If the connection ends first it drains again
// on the next one, until ctx ends (its error) or the link closes
// (ErrClosed, ErrRevoked).
func (l *Link) Drain(ctx context.Context) error {
	for {
		c, _, err := l.current(ctx)
		if err != nil {
			return err
		}
		n, err := c.DrainCount(ctx)
		if err == nil {
			err = l.waitAcked(ctx, c, n)
			if err == nil {
				return nil
			}
		}
		switch {
		case l.ctx.Err() != nil:
			return ErrClosed
		case ctx.Err() != nil:
			return ctx.Err()
		case isDone(c) || errors.Is(err, errConnEnded):
			continue // again on the next connection
		}
		return fmt.Errorf("relaylink: drain: %w", err)
	}
}

// waitAcked waits until the deliver loop has taken n deliveries of c and
// written their acks.
func (l *Link) waitAcked(ctx context.Context, c *relayclient.Conn, n uint64) error {
	for {
		l.ackMu.Lock()
		done := l.ackConn == c && l.ackCount >= n
		changed := l.ackChanged
		l.ackMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-c.Done():
			l.ackMu.Lock()
			done := l.ackConn == c && l.ackCount >= n
			l.ackMu.Unlock()
			if done {
				return nil
			}
			return errConnEnded
		case <-l.ctx.Done():
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setAcked publishes that count deliveries of c were taken and acked.
func (l *Link) setAcked(c *relayclient.Conn, count uint64) {
	l.ackMu.Lock()
	l.ackConn, l.ackCount = c, count
	close(l.ackChanged)
	l.ackChanged = make(chan struct{})
	l.ackMu.Unlock()
}

// network returns the current connection's network id (spec/push.md
// §9.4): Config.NetworkID's, else the socket's local IP address.
func (l *Link) network() string {
	if f := l.cfg.NetworkID; f != nil {
		return f()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.local
}

func (l *Link) loadHeartbeat(network string) HeartbeatMemory {
	if s := l.cfg.Heartbeats; s != nil {
		m, _ := s.LoadHeartbeat(network)
		return m
	}
	l.hbMu.Lock()
	defer l.hbMu.Unlock()
	return l.hbMem[network]
}

func (l *Link) storeHeartbeat(network string, m HeartbeatMemory) {
	if s := l.cfg.Heartbeats; s != nil {
		s.StoreHeartbeat(network, m)
		return
	}
	l.hbMu.Lock()
	defer l.hbMu.Unlock()
	l.hbMem[network] = m
}

func (l *Link) setHeartbeat(d time.Duration) {
	l.hbMu.Lock()
	l.hbLast = d
	l.hbMu.Unlock()
}

// HeartbeatInterval returns the ping interval the link uses on its
// current (or last) connection (spec/push.md §9).
func (l *Link) HeartbeatInterval() time.Duration {
	l.hbMu.Lock()
	defer l.hbMu.Unlock()
	return l.hbLast
}

// RestorePush makes p the target sent after every connect without
// sending it now: the caller's SetPush was refused and the relay still
// holds p (nil: none).
func (l *Link) RestorePush(p *wire.SetPush) {
	l.pushMu.Lock()
	l.push = p
	l.pushMu.Unlock()
}
