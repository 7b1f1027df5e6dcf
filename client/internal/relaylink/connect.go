package relaylink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// connectLoop dials, holds the connection until it ends, and dials again
// after a delay, until Close. The delays are spec/relay.md §2.5: after a
// connection lost with many others (the relay stopped, its store failed,
// the network dropped) the first attempt comes at a uniform random point
// of the relay's reconnect window; after a failed attempt, full-jitter
// exponential backoff from MinBackoff capped at MaxBackoff, or at the
// window if it is longer; after a 503 with a retry hint, the hint.
func (l *Link) connectLoop() {
	defer l.loops.Done()
	sch := relayclient.NewReconnect(l.cfg.MinBackoff, l.cfg.MaxBackoff, l.cfg.ReconnectWindow)
	attempt := 0 // connections or dials that failed in a row
	for {
		c, hello, err := l.dial()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			if isRevoked(err) {
				l.stopRevoked(err)
				return
			}
			if isTokenRefusal(err) {
				l.invalidateToken()
			}
			var d time.Duration
			if busy := (*relayclient.BusyError)(nil); errors.As(err, &busy) {
				// The relay admits connections at its reconnect rate
				// and gave this one a slot: come back then.
				d = sch.Busy(busy.RetryAfter)
			} else {
				d = sch.Retry(attempt)
				attempt++
			}
			l.log.Warn("relaylink: connect failed", "err", err, "retry_in", d)
			if !l.sleep(d) {
				return
			}
			continue
		}
		if w := c.ReconnectWindow(); w != 0 {
			sch.Window = w
		} else {
			sch.Window = l.cfg.ReconnectWindow // a relay predating the hint
		}
		up := time.Now()
		l.setConn(c, hello)
		l.log.Info("relaylink: connected")
		if f := l.cfg.OnConnect; f != nil {
			l.events.post(func() { f(hello) })
		}
		l.sendPushOnConnect(c)
		err = l.hold(c, hello, l.network())
		l.setConn(nil, nil)
		if l.ctx.Err() != nil {
			return
		}
		if f := l.cfg.OnDisconnect; f != nil {
			l.events.post(func() { f(err) })
		}
		if isRevoked(err) {
			l.stopRevoked(err)
			return
		}
		replaced := isCode(err, wire.ErrorCode_ERROR_CODE_REPLACED)
		if time.Since(up) >= stableAfter && !replaced {
			attempt = 0
		}
		var d time.Duration
		switch {
		case replaced:
			// Another connection of this device took over (spec/relay.md
			// §8.4, §10). Reconnecting replaces it in turn, so back off and
			// never reset: two processes of one device settle at
			// maxReplacedBackoff instead of fighting.
			d = jitter(l.cfg.MinBackoff, max(l.cfg.MaxBackoff, maxReplacedBackoff), attempt)
			attempt++
		case isHerdLoss(err):
			// Every connection of the relay ended with this one: spread
			// the first attempt over the relay's window so that they do
			// not all come back at once, then retry quickly.
			attempt = 0
			d = sch.Spread()
		default:
			if isTokenRefusal(err) {
				l.invalidateToken()
			}
			d = sch.Retry(attempt)
			attempt++
		}
		l.log.Info("relaylink: disconnected", "err", err, "retry_in", d)
		if !l.sleep(d) {
			return
		}
	}
}

// dial fetches a token and opens a connection (spec/relay.md §2.3).
func (l *Link) dial() (*relayclient.Conn, *wire.Hello, error) {
	ctx, cancel := context.WithTimeout(l.ctx, dialTimeout)
	defer cancel()
	tok, err := l.cfg.Token(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("relaylink: token: %w", err)
	}
	c, hello, local, err := l.dialRelay(ctx, tok)
	if err == nil {
		l.mu.Lock()
		l.local = local
		l.mu.Unlock()
	}
	return c, hello, err
}

// errSilent reports a connection that stopped answering: no Pong within
// the pong timeout (spec/push.md §9.3).
var errSilent = errors.New("relaylink: no pong from the relay in time")

// hold keeps c alive with Pings until it ends or the link closes, and
// returns why it ended.
//
// spec/push.md §9 (adaptive heartbeat), spec/relay.md §9: the link waits
// the current interval after the last Pong (or the connect), sends a Ping
// and waits up to the pong timeout for its Pong. Pongs in time widen the
// interval step by step; no Pong in time, or no frame at all for the
// idle timeout (relayclient's reader bounds each read by it), is a
// silent death: the connection is closed and the interval remembered as
// bad for network.
func (l *Link) hold(c *relayclient.Conn, hello *wire.Hello, network string) error {
	relayEvery := time.Duration(hello.HeartbeatIntervalMs) * time.Millisecond
	idle := time.Duration(hello.IdleTimeoutMs) * time.Millisecond
	pong := l.pongTimeout(relayEvery, idle)
	hb := newAdaptive(relayEvery, idle, pong, l.loadHeartbeat(network), time.Now())
	l.setHeartbeat(hb.Interval())
	t := time.NewTimer(hb.Interval())
	defer t.Stop()
	for {
		select {
		case <-c.Done():
			err := c.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				// Nothing received for the idle timeout.
				l.silent(hb, network)
			}
			return err
		case <-l.ctx.Done():
			c.Close() // normal closure
			return ErrClosed
		case <-t.C:
			ctx, cancel := context.WithTimeout(l.ctx, pong)
			err := c.PingPong(ctx)
			cancel()
			switch {
			case err == nil:
				if hb.Pong(time.Now()) {
					l.log.Debug("relaylink: heartbeat widened", "interval", hb.Interval())
					l.storeHeartbeat(network, hb.Memory())
					l.setHeartbeat(hb.Interval())
				}
			case l.ctx.Err() != nil:
				c.Close()
				return ErrClosed
			case isDone(c):
				// Ended meanwhile: the next round reports why.
			default:
				// No Pong within the pong timeout (or the Ping could not
				// be written in it): the connection is stuck.
				interval := hb.Interval()
				l.silent(hb, network)
				c.CloseNow()
				return fmt.Errorf("%w within %v at a %v heartbeat: %w", errSilent, pong, interval, err)
			}
			t.Reset(hb.Interval())
		}
	}
}

// pongTimeout returns Config.PongTimeout, or its default, at most idle.
func (l *Link) pongTimeout(relayEvery, idle time.Duration) time.Duration {
	p := l.cfg.PongTimeout
	if p == 0 {
		p = min(max(relayEvery, 2*time.Second), 10*time.Second)
	}
	if idle > 0 {
		p = min(p, idle)
	}
	return p
}

// silent records a silent death at hb's interval (spec/push.md §9.3).
func (l *Link) silent(hb *adaptive, network string) {
	bad := hb.Interval()
	hb.Silent(time.Now())
	l.log.Info("relaylink: connection died silently; heartbeat narrowed", "bad", bad, "interval", hb.Interval())
	l.storeHeartbeat(network, hb.Memory())
}

// jitter returns a delay drawn uniformly from (0, min(hi, lo·2ⁿ)]: "full
// jitter", so that clients that failed together do not retry together.
// Jitter is not secret (math/rand/v2).
func jitter(lo, hi time.Duration, n int) time.Duration {
	return rand.N(relayclient.Ceiling(lo, hi, n)) + 1
}

func (l *Link) invalidateToken() {
	if f := l.cfg.InvalidateToken; f != nil {
		f()
	}
}

// isCode reports whether err is an Error frame from the relay with code.
func isCode(err error, code wire.ErrorCode) bool {
	var re *relayclient.RemoteError
	return errors.As(err, &re) && re.Code == code
}

// isRevoked reports whether err says this device is revoked: the relay's
// device_revoked (spec/relay.md §2.4), or a Token error wrapping
// ErrRevoked (the key server refused to issue one).
func isRevoked(err error) bool {
	return isCode(err, wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED) || errors.Is(err, ErrRevoked)
}

// stopRevoked stops the link for good: a revoked device has nothing to
// reconnect for. Waiters in current get ErrRevoked.
func (l *Link) stopRevoked(err error) {
	l.log.Warn("relaylink: this device is revoked; not reconnecting", "err", err)
	l.mu.Lock()
	l.revoked = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if f := l.cfg.OnRevoked; f != nil {
		l.events.post(f)
	}
}

// isTokenRefusal reports whether the relay refused the token
// (spec/relay.md §2.3, §10).
func isTokenRefusal(err error) bool {
	return isCode(err, wire.ErrorCode_ERROR_CODE_INVALID_TOKEN) ||
		isCode(err, wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED) ||
		isCode(err, wire.ErrorCode_ERROR_CODE_WRONG_AUDIENCE)
}

// isHerdLoss reports whether err ended a connection in a way that ends
// the relay's other connections too (spec/relay.md §2.5): the relay is
// stopping (shutting_down, going away), its store failed (unavailable,
// internal), or the connection dropped without an Error frame (the relay
// crashed, the network failed, or the relay went silent past idle_timeout).
func isHerdLoss(err error) bool {
	if isGoingAway(err) || isCode(err, wire.ErrorCode_ERROR_CODE_UNAVAILABLE) || isCode(err, wire.ErrorCode_ERROR_CODE_INTERNAL) {
		return true
	}
	var re *relayclient.RemoteError
	return !errors.As(err, &re)
}

// isGoingAway reports whether the relay ended the connection because it is
// stopping: Error{shutting_down}, or a WebSocket close with status 1001.
func isGoingAway(err error) bool {
	return isCode(err, wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN) ||
		websocket.CloseStatus(err) == websocket.StatusGoingAway
}

// notifier runs callbacks one at a time, in the order posted, on a
// goroutine of its own, so that a slow callback never holds up the connect
// loop. It drops what is pending once ctx ends.
type notifier struct {
	ctx  context.Context
	mu   sync.Mutex
	q    []func()
	wake chan struct{}
}

func newNotifier(ctx context.Context) *notifier {
	n := &notifier{ctx: ctx, wake: make(chan struct{}, 1)}
	go n.run()
	return n
}

func (n *notifier) post(f func()) {
	n.mu.Lock()
	n.q = append(n.q, f)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		}
		for {
			n.mu.Lock()
			if len(n.q) == 0 || n.ctx.Err() != nil {
				n.mu.Unlock()
				break
			}
			f := n.q[0]
			n.q = n.q[1:]
			n.mu.Unlock()
			f()
		}
	}
}
