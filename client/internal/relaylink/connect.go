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
		err = l.hold(c, hello)
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
	return relayclient.DialVia(ctx, l.cfg.URL, l.cfg.TLS, tok, l.cfg.Dial)
}

// hold keeps c alive with Pings until it ends or the link closes, and
// returns why it ended.
//
// spec/relay.md §9: the client pings at the heartbeat interval (at most
// half the idle timeout, so the relay always hears from it in time), and
// considers the connection dead after idle_timeout without a frame:
// relayclient's reader enforces that, each read bounded by the Hello's
// idle timeout, and ends the connection when it passes.
func (l *Link) hold(c *relayclient.Conn, hello *wire.Hello) error {
	every := time.Duration(hello.HeartbeatIntervalMs) * time.Millisecond
	if idle := time.Duration(hello.IdleTimeoutMs) * time.Millisecond; idle/2 < every {
		every = idle / 2
	}
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	var nonce uint64
	for {
		select {
		case <-c.Done():
			return c.Err()
		case <-l.ctx.Done():
			c.Close() // normal closure
			return ErrClosed
		case <-t.C:
			nonce++
			ctx, cancel := context.WithTimeout(l.ctx, every)
			err := c.Ping(ctx, nonce)
			cancel()
			if err != nil && !isDone(c) && l.ctx.Err() == nil {
				// A Ping that cannot be written in a whole interval: the
				// connection is stuck.
				l.log.Debug("relaylink: ping failed", "err", err)
				c.CloseNow()
			}
		}
	}
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
