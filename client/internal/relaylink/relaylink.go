// Package relaylink keeps one device's connection to the relay
// (spec/relay.md) alive for the client library: it dials, authenticates,
// heartbeats and reconnects, retries sends under their message id until the
// relay answers, and hands deliveries to the client one at a time, acking
// each only after the client has taken it.
//
// Flow:
//
//	Start ──► connect loop (one goroutine):
//	            Token() ─► relayclient.Dial ─► Hello
//	              │ refused (invalid_token, token_expired, wrong_audience):
//	              │   InvalidateToken(), backoff, dial again with a fresh token
//	              ▼
//	            connected: OnConnect(hello); the push target, if any, in a
//	            SetPush (spec/push.md §8.1); Ping at the adaptive interval
//	            and wait for the Pong (spec/push.md §9): widened after 3
//	            pongs in time, up to below idle_timeout; no Pong within
//	            the pong timeout, or no frame for idle_timeout, is a silent
//	            death: the interval is remembered bad for the network
//	              │ ended: OnDisconnect(err), then
//	              │   lost with the relay's other connections (shutting_down,
//	              │     going away, unavailable, internal, or dropped without
//	              │     an Error) ─► first attempt at a uniform random point of
//	              │     the relay's reconnect window (spec/relay.md §2.5)
//	              │   replaced ─► exponential backoff up to 30 s, never reset
//	              │   anything else ─► exponential backoff, full jitter
//	              ▼
//	            dial again, until Close; a failed dial backs off from
//	            MinBackoff doubling to max(MaxBackoff (2 s), the window), full
//	            jitter, or waits the relay's retry hint after a 503 (its pacing)
//
//	deliver loop (one goroutine): for each Delivery of the current connection,
//	  in the relay's order: Deliver(d) until it returns nil (backoff between
//	  tries, never skipping), then Ack d.Id (batched while more deliveries are
//	  waiting; acks not sent when a connection ends are sent on the next one).
//
//	ephemeral loop (one goroutine, with OnEphemeral): for each ephemeral
//	  envelope of the current connection, in order: OnEphemeral(envelope);
//	  at most relayclient.EphemeralBuffer wait, more are dropped.
//
//	Drain(ctx): wait for a connection, Drain, Drained: N deliveries of the
//	  connection are covered; return when the deliver loop has passed N
//	  to Deliver and written their acks; on a new connection if it ends
//	  (spec/push.md §8.2).
//
//	SendEphemeral(items): on the current connection, or ErrNotConnected at
//	  once; never queued, never resent (spec/relay.md §7.4).
//
//	Send(id, items): wait for a connection, send; if the connection fails
//	  before the answer, send the same id again on the next connection: the
//	  relay stores a message id once and answers a retry with the first
//	  answer's statuses (spec/relay.md §7.2).
//
// Reconnect timing (spec/relay.md §2.5, relayclient.Reconnect). The relay
// announces on each upgrade a reconnect window W: the time it takes to
// admit all its open connections again at its reconnect rate (100 ms for
// a few clients, 10 s for 10,000 at the default 1,000 per second, never
// more than its max reconnect window). A client that loses its connection
// together with the others makes its first attempt at a uniform random
// point of [0, W], then retries with full jitter capped at max(MaxBackoff,
// W). So the client of a small relay tries at least every 2 s and is back
// about a second (on average) after the relay is reachable again, however
// long it was away, while the clients of a big relay arrive spread over
// its window, at about the rate it can admit; beyond that rate the relay
// answers 503 with a retry hint, a slot of its own for each client, which
// the link honours. The old fixed 30 s cap kept every client away for up
// to 30 s and did not spread a herd better than the window does.
//
// Nothing here logs envelopes or tokens.
package relaylink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// Defaults of Config.
const (
	// DefaultMinBackoff and DefaultMaxBackoff bound the delays between
	// failed attempts: with the 2 s cap, the client of a small relay tries
	// at least every 2 s, so it is back on average within about a second
	// of the relay being reachable again (spec/relay.md §2.5). A big
	// relay's herd is spread by its reconnect window (which also caps the
	// retries when longer) and its pacing, not by a long fixed backoff.
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
	// DefaultReconnectWindow is the reconnect window when the relay
	// announces none (a relay predating spec/relay.md §2.5).
	DefaultReconnectWindow = time.Second
)

const (
	// dialTimeout bounds one token fetch plus dial and authentication.
	dialTimeout = 20 * time.Second
	// maxReplacedBackoff caps the backoff after replaced (spec/relay.md
	// §8.4): another process of this device holds the connection, and
	// coming back soon would only take it away again.
	maxReplacedBackoff = 30 * time.Second
	// stableAfter is how long a connection must have stayed up for the
	// reconnect backoff to start again from MinBackoff.
	stableAfter = 10 * time.Second
	// maxDeliverBackoff caps the wait between two Deliver calls of one
	// delivery: a retry is local and cheap, and the client should not sit
	// on a message long after it can take it again.
	maxDeliverBackoff = 5 * time.Second
	// ackTimeout bounds the writing of one Ack frame.
	ackTimeout = 10 * time.Second
	// maxCarriedAcks bounds the acks kept for the next connection when a
	// connection ends before they were sent (a lost ack only causes a
	// redelivery, spec/relay.md §10).
	maxCarriedAcks = 4 * wire.MaxAckIDs
)

// ErrClosed is returned by Send and WaitConnected once Close was called.
var ErrClosed = errors.New("relaylink: closed")

// ErrRevoked is returned by Send and WaitConnected once the relay refused
// this device as revoked (device_revoked, spec/relay.md §2.4), or Token
// returned an error wrapping it: the link has stopped for good.
var ErrRevoked = errors.New("relaylink: this device is revoked")

// Config configures a Link. URL, Token and Deliver are required.
type Config struct {
	// URL is the relay's WebSocket endpoint, wss://HOST:PORT/v1/relay.
	URL string
	// TLS is the client TLS configuration (tlsconfig); nil means
	// the system roots with TLS 1.3.
	TLS *tls.Config
	// Token returns a valid relay access token (spec/token.md, audience
	// relay:NAME). It is called before every dial.
	Token func(ctx context.Context) (string, error)
	// InvalidateToken, if set, is called when the relay refused the token
	// (invalid_token, token_expired, wrong_audience), before the next dial.
	InvalidateToken func()
	// Deliver is called for each delivered envelope, one at a time, in the
	// relay's order. nil: the link acks d.Id (acks may be batched briefly,
	// but never sent before Deliver returned nil). An error means "not
	// now": the link waits (backoff from MinBackoff, at most 5 s) and calls
	// Deliver again with the same delivery, keeping order; it never skips
	// one. If the connection ends meanwhile, the relay delivers it again on
	// the next connection (spec/relay.md §8.3), so Deliver must recognise
	// repeats. ctx is cancelled on Close. Deliver must not call Close.
	Deliver func(ctx context.Context, d *wire.Delivery) error
	// OnConnect, if set, is called after each successful connect, and
	// OnDisconnect, if set, after each connection ended, in order, from a
	// goroutine of their own: they may call Send and may block, but must
	// not call Close. They are not called after Close.
	OnConnect    func(hello *wire.Hello)
	OnDisconnect func(err error)
	// OnRevoked, if set, is called once, like OnDisconnect, when the link
	// stops because the device is revoked (ErrRevoked).
	OnRevoked func()
	// OnEphemeral, if set, is called for each ephemeral envelope received
	// (spec/relay.md §7.4: typing, presence), in the relay's order, from
	// one goroutine of the link's own. It never holds up the connection's
	// reader or Deliver: up to relayclient.EphemeralBuffer envelopes wait
	// for it, and more are dropped. The envelope is the caller's. It must
	// return promptly and must not call Close. nil: they are dropped.
	OnEphemeral func(envelope []byte)
	// MinBackoff and MaxBackoff bound the reconnect and redelivery delays;
	// zero means DefaultMinBackoff and DefaultMaxBackoff. A retry hint from
	// the relay (spec/relay.md §2.5) may be longer than MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// ReconnectWindow is the window over which the first reconnect after a
	// lost connection is spread when the relay announces none; zero means
	// DefaultReconnectWindow.
	ReconnectWindow time.Duration
	// Dial, if set, opens the network connections (a proxy, for example);
	// nil means direct TCP connections.
	Dial relayclient.DialFunc
	// Logger receives the link's logs; nil means slog.Default().
	Logger *slog.Logger

	// Push, if set, is the push target sent to the relay after every
	// connect (spec/push.md §8.1), until SetPush changes it. A target of
	// kind none is sent until the relay answers (ok, or disabled: a relay
	// without wake-ups holds none), then forgotten.
	Push *wire.SetPush
	// OnPushStatus, if set, is called with the relay's answer to each
	// push target the link sent after a connect (not to SetPush's own),
	// from a goroutine of the link's own. It must not call Close.
	OnPushStatus func(p *wire.SetPush, status wire.PushStatus)

	// NetworkID, if set, names the network a connection runs over, for
	// the adaptive heartbeat's memory (spec/push.md §9.4); nil means the
	// local IP address of the connection's socket.
	NetworkID func() string
	// Heartbeats, if set, remembers each network's heartbeat across
	// connections and runs; nil means in memory, for this Link only.
	Heartbeats HeartbeatStore
	// PongTimeout is how long the link waits for the relay's Pong before
	// it takes the connection for silently dead; zero means
	// min(max(heartbeat interval, 2 s), 10 s), and it is never above the
	// idle timeout (spec/push.md §9.1).
	PongTimeout time.Duration
}

// HeartbeatStore remembers the heartbeat of networks (spec/push.md §9.4).
// Its methods are called from the link's goroutines, one at a time per
// connection, and must not block for long.
type HeartbeatStore interface {
	LoadHeartbeat(network string) (HeartbeatMemory, bool)
	StoreHeartbeat(network string, m HeartbeatMemory)
}

// validate fills in defaults and reports every problem with c.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("relaylink: "+format, args...))
	}
	if u, err := url.Parse(c.URL); err != nil || u.Scheme != "wss" || u.Host == "" {
		bad("URL %q is not a wss:// URL", c.URL)
	}
	if c.Token == nil {
		bad("Token is required")
	}
	if c.Deliver == nil {
		bad("Deliver is required")
	}
	if c.Push != nil {
		if err := wire.Check(&wire.Frame{Body: &wire.Frame_SetPush{SetPush: c.Push}}); err != nil {
			bad("Push: %v", err)
		}
	}
	if c.PongTimeout < 0 {
		bad("negative PongTimeout")
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 || c.ReconnectWindow < 0 {
		bad("negative backoff or window")
	}
	if c.ReconnectWindow == 0 {
		c.ReconnectWindow = DefaultReconnectWindow
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		bad("MaxBackoff %v below MinBackoff %v", c.MaxBackoff, c.MinBackoff)
	}
	if c.TLS == nil {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// Link is one device's connection to the relay, kept alive until Close.
// Its methods are safe for concurrent use.
type Link struct {
	cfg Config
	log *slog.Logger

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	loops   sync.WaitGroup // the connect and deliver loops
	closing sync.Once

	events *notifier // OnConnect / OnDisconnect, in order

	mu       sync.Mutex
	conn     *relayclient.Conn // the open connection, nil while down
	hello    *wire.Hello       // conn's Hello
	revoked  bool              // the device is revoked: the link has stopped
	changed  chan struct{}     // closed and replaced whenever conn changes
	inflight map[[wire.MessageIDSize]byte]struct{}
	local    string // the local IP of conn's socket, the default network id

	// pushMu serialises sending the push target: read and sent on a
	// connection under it, so that the relay ends with the latest.
	pushMu sync.Mutex
	push   *wire.SetPush // the target sent after each connect, nil: none

	// acks counts, for the connection the deliver loop works on, the
	// deliveries taken from it whose acks were written (Drain waits on
	// it); ackChanged is closed and replaced when it changes.
	ackMu      sync.Mutex
	ackConn    *relayclient.Conn
	ackCount   uint64
	ackChanged chan struct{}

	hbMu   sync.Mutex
	hbMem  map[string]HeartbeatMemory // without Config.Heartbeats
	hbLast time.Duration              // the interval of the current connection
}

// Start validates cfg and starts connecting in the background.
func Start(cfg Config) (*Link, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "relaylink"),
		ctx:        ctx,
		cancel:     cancel,
		changed:    make(chan struct{}),
		inflight:   make(map[[wire.MessageIDSize]byte]struct{}),
		push:       cfg.Push,
		ackChanged: make(chan struct{}),
		hbMem:      make(map[string]HeartbeatMemory),
	}
	l.events = newNotifier(ctx)
	l.loops.Add(2)
	go l.connectLoop()
	go l.deliverLoop()
	if cfg.OnEphemeral != nil {
		l.loops.Add(1)
		go l.ephemeralLoop()
	}
	return l, nil
}

// Close stops the link: it closes the connection with a normal closure and
// waits for its goroutines (a Deliver call in progress must return).
// Send and WaitConnected then return ErrClosed. Close is idempotent.
func (l *Link) Close() error {
	l.closing.Do(func() {
		l.cancel()
		l.loops.Wait()
	})
	return nil
}

// Connected reports whether the link has an open connection.
func (l *Link) Connected() bool {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	return c != nil && !isDone(c) && l.ctx.Err() == nil
}

// WaitConnected waits until the link has an open connection, ctx ends
// (its error) or the link is closed (ErrClosed).
func (l *Link) WaitConnected(ctx context.Context) error {
	_, _, err := l.current(ctx)
	return err
}

// current returns the open connection and its Hello, waiting for one.
func (l *Link) current(ctx context.Context) (*relayclient.Conn, *wire.Hello, error) {
	for {
		if l.ctx.Err() != nil {
			return nil, nil, ErrClosed
		}
		l.mu.Lock()
		c, h, changed, revoked := l.conn, l.hello, l.changed, l.revoked
		l.mu.Unlock()
		if revoked {
			return nil, nil, ErrRevoked
		}
		if c != nil && !isDone(c) {
			return c, h, nil
		}
		select {
		case <-changed:
		case <-l.ctx.Done():
			return nil, nil, ErrClosed
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// setConn publishes c (nil: down) and wakes those waiting in current.
func (l *Link) setConn(c *relayclient.Conn, h *wire.Hello) {
	l.mu.Lock()
	l.conn, l.hello = c, h
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func isDone(c *relayclient.Conn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// sleep waits d, or returns false if the link is closed first.
func (l *Link) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.ctx.Done():
		return false
	}
}
