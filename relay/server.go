// Package relay is Sealpost's relay (spec/relay.md): store-and-forward of
// sealed envelopes over a WebSocket on TLS 1.3. It authenticates each
// connection with an access token verified offline (an anonymous
// connection instead pays each send with a send token, spec/relay.md §15),
// stores sends durably in a store.Queue before answering them, and pushes every device's queue to
// its connection, at most a window of unacknowledged envelopes at a time:
// envelopes stored through this relay straight from the send's commit
// (store.Send.Committed), others by fetching them (spec/relay.md §12).
//
// Per connection: a reader goroutine (frames in; sends and acks go to the
// store beside it, at most 64 at once, so the store can group-commit a
// pipelining client), a writer goroutine that exists only while there is
// something to write (queued frames in order, then envelopes to push, then
// the close), and one timer (auth timeout, then heartbeat, idle timeout
// and token expiry). One dispatcher goroutine routes the queue's wake-ups
// to connections; one sweeper deletes expired envelopes. An idle
// connection holds no buffers and no goroutine: its reader parks, and one
// poller goroutine starts a new reader when the socket has news (park.go);
// frames are read and encoded in pooled buffers.
package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// Path is the WebSocket endpoint (spec/relay.md §5.2).
const Path = "/v1/relay"

// Subprotocol is the WebSocket subprotocol (spec/relay.md §5.2).
const Subprotocol = "sealpost.relay.v1"

// Config configures a Server. Name, Queue and TokenKeys are required.
type Config struct {
	// Name is the relay's name: tokens are for audience "relay:<Name>".
	Name string
	// Queue stores the envelopes. The Server does not close it.
	Queue store.Queue
	// TokenKeys are the key server's token keys the relay accepts.
	TokenKeys []ed25519.PublicKey
	// Limits are the relay's limits; zero fields take DefaultLimits.
	Limits Limits
	// Logger receives the relay's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the relay's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Now is the clock of tokens, arrivals and expiries; nil means time.Now.
	Now func() time.Time
	// Revocations, when set, is the key server's revocation feed: the
	// relay reads it every RevocationPoll, refuses the tokens of revoked
	// devices and closes their connections (spec/relay.md §2.4). Nil means
	// a revoked device's token works until it expires.
	Revocations RevocationSource
	// RevocationPoll is how often the feed is read; 0 means
	// DefaultRevocationPoll.
	RevocationPoll time.Duration
	// EphemeralBus carries ephemeral items to and from the other nodes
	// sharing the store (spec/relay.md §7.4, §12). Nil means Queue's, if
	// it implements store.EphemeralBus (PostgreSQL), else none: an item
	// for a device not connected to this node is dropped.
	EphemeralBus store.EphemeralBus
	// SendTokens, when set, checks the send tokens that pay for anonymous
	// sends (spec/relay.md §15); a *sendtoken.Verifier with the key
	// server's issuer keys. Nil means the relay refuses anonymous
	// connections (anonymous_disabled).
	SendTokens SendTokenVerifier
	// Links keeps the link mailboxes (spec/relay.md §17). Nil means
	// Queue's, if it implements store.Links (both engines do), else none:
	// AuthLink is refused (internal) and LinkFetch ends the connection.
	Links store.Links
	// Push, when set, turns on wake-ups of devices that are not connected
	// (spec/push.md); nil means SetPush is answered disabled.
	Push *PushConfig
}

// SendTokenVerifier checks a send token offline (spec/anonymous.md §6
// steps 1 to 5) and returns what it is spent under; the relay spends it
// (step 6). *sendtoken.Verifier implements it.
type SendTokenVerifier interface {
	Verify(token []byte, now time.Time) (sendtoken.Spent, error)
}

// Server is one relay node. Create it with New, serve Handler, stop it with
// Shutdown.
type Server struct {
	q        store.Queue
	lim      Limits
	log      *slog.Logger
	now      func() time.Time
	verifier *token.Verifier
	m        *metrics
	quota    *quotas            // spec/relay.md §6.1
	hello    *wire.Limits       // announced in every Hello
	start    time.Time          // monotonic base of conn.lastRead
	admit    *upgradePacer      // spec/relay.md §2.5
	bus      store.EphemeralBus // nil: one node (spec/relay.md §7.4)
	ephPairs *ephemeralPairs    // spec/relay.md §7.4
	tokens   SendTokenVerifier  // nil: no anonymous connections (spec/relay.md §15)
	push     *pusher            // nil: no wake-ups (spec/push.md)
	name     string
	// Link mailboxes (spec/relay.md §17): the Queue's, nil if it keeps
	// none (every AuthLink is then refused internal).
	links     store.Links
	linkOpens *linkOpens

	// ctx bounds store calls; cancelled when Shutdown gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closing  bool
	conns    map[string]*conn   // authenticated, by address
	all      map[*conn]struct{} // every open connection
	perIP    map[string]int
	buckets  map[string]*bucket     // send buckets by address
	ebuckets map[string]*bucket     // ephemeral buckets by address
	revoked  map[[32]byte]time.Time // revoked devices (revocation.DeviceHash) and when
	inflight sync.WaitGroup         // sends and acks in flight
	open     sync.WaitGroup         // connection readers; added to under mu while not closing

	stop   chan struct{} // closed by Shutdown: stops the sweeper and dispatcher
	bgDone sync.WaitGroup
}

// New returns a Server for cfg, or every problem with cfg (errors.Join).
// It starts the sweeper and the wake-up dispatcher; Shutdown stops them.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.Queue == nil {
		errs = append(errs, errors.New("relay: Queue is required"))
	}
	if len(cfg.TokenKeys) == 0 {
		errs = append(errs, errors.New("relay: TokenKeys is required"))
	}
	v, err := token.NewVerifier("relay:"+cfg.Name, token.ClockSkew, cfg.TokenKeys...)
	if err != nil && len(cfg.TokenKeys) > 0 {
		errs = append(errs, fmt.Errorf("relay: Name or TokenKeys: %w", err))
	}
	lim := cfg.Limits.withDefaults()
	if err := lim.check(); err != nil {
		errs = append(errs, err)
	}
	poll := cfg.RevocationPoll
	if poll == 0 {
		poll = DefaultRevocationPoll
	}
	if poll < 10*time.Millisecond || poll > time.Hour {
		errs = append(errs, fmt.Errorf("relay: RevocationPoll %v not in [10ms, 1h]", poll))
	}
	if cfg.Push != nil {
		errs = append(errs, cfg.Push.check(cfg.Queue)...)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		errs = append(errs, fmt.Errorf("relay: metrics: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Server{
		q: cfg.Queue, lim: lim, log: cfg.Logger, now: cfg.Now, verifier: v, m: m,
		hello: lim.wire(), start: time.Now(), admit: newUpgradePacer(lim.ReconnectRate, time.Now()),
		conns: make(map[string]*conn), all: make(map[*conn]struct{}),
		perIP: make(map[string]int), buckets: make(map[string]*bucket), revoked: make(map[[32]byte]time.Time),
		ebuckets: make(map[string]*bucket), ephPairs: newEphemeralPairs(lim), bus: cfg.EphemeralBus,
		stop: make(chan struct{}), tokens: cfg.SendTokens, name: cfg.Name,
	}
	if s.bus == nil {
		s.bus, _ = cfg.Queue.(store.EphemeralBus)
	}
	s.links = cfg.Links
	if s.links == nil {
		s.links, _ = cfg.Queue.(store.Links)
	}
	s.linkOpens = newLinkOpens(lim.LinkOpensPerMinute, lim.LinkOpenBurst)
	if cfg.Push != nil {
		_, shared := cfg.Queue.(store.EphemeralBus)
		s.push = newPusher(s, cfg.Queue.(store.PushQueue), cfg.Push.withDefaults(shared))
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.quota = newQuotas(lim, s.q.Stats)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.bgDone.Add(2)
	go s.dispatch()
	go s.sweeper()
	if s.bus != nil {
		s.bgDone.Add(1)
		go s.ephemeralFromBus(s.bus.Ephemeral())
	}
	if cfg.Revocations != nil {
		s.bgDone.Add(1)
		go s.pollRevocations(cfg.Revocations, poll)
	}
	if s.push != nil {
		s.push.start()
	}
	return s, nil
}

// Handler serves GET /v1/relay, the WebSocket endpoint (spec/relay.md §2).
// It does not serve /healthz or /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, s.serveWS)
	mux.HandleFunc("GET "+InfoPath, s.serveInfo)
	return mux
}

// Shutdown stops accepting connections, lets the sends in flight finish and
// be answered, closes every connection with Error{shutting_down} and
// StatusGoingAway, and stops the sweeper. It does not close the Queue. If
// ctx ends first, it cancels the store calls still running, closes the
// connections at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("relay: Shutdown called twice")
	}
	s.closing = true
	s.mu.Unlock()

	var err error
	if werr := wait(ctx, &s.inflight); werr != nil {
		err = werr
		s.cancel()
	}
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.all))
	for c := range s.all {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.fail(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, "relay shutting down")
	}
	if werr := wait(ctx, &s.open); werr != nil && err == nil {
		err = werr
		for _, c := range conns {
			c.ws.CloseNow()
		}
	}
	close(s.stop)
	s.bgDone.Wait()
	s.cancel()
	return err
}

// wait waits for wg or ctx, whichever ends first.
func wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dispatch routes the queue's wake-ups to the connection of each address
// (spec/relay.md §8.2, §12): one goroutine, never blocking on a
// connection.
func (s *Server) dispatch() {
	defer s.bgDone.Done()
	wake := s.q.Wake()
	for {
		select {
		case <-s.stop:
			return
		case addr, ok := <-wake:
			if !ok {
				return
			}
			if len(addr) == 0 {
				// The store may have missed notifications (its channel
				// reconnected): re-check every connected mailbox
				// (spec/relay.md §12).
				s.mu.Lock()
				all := make([]*conn, 0, len(s.conns))
				for _, c := range s.conns {
					all = append(all, c)
				}
				s.mu.Unlock()
				for _, c := range all {
					c.poke()
				}
				continue
			}
			s.mu.Lock()
			c := s.conns[string(addr)]
			s.mu.Unlock()
			if c != nil {
				c.poke()
			}
		}
	}
}

// offer hands each envelope that res reports stored for req to the
// connection of its recipient on this node, if there is one
// (spec/relay.md §8.2): it is pushed without a fetch.
func (s *Server) offer(req *store.Send, res *store.SendResult) {
	if len(res.IDs) != len(req.Items) || len(res.Prevs) != len(req.Items) {
		return // refused when Send returns
	}
	// The connections looked up under one lock: a shared send offers to
	// every device of a group (spec/relay.md §16), from the store's
	// commit, and the conns map is what every connection's arrival and
	// departure locks too.
	conns := make([]*conn, len(req.Items))
	s.mu.Lock()
	for i, it := range req.Items {
		if res.IDs[i] != 0 {
			conns[i] = s.conns[string(it.Recipient)]
		}
	}
	s.mu.Unlock()
	for i, it := range req.Items {
		if res.IDs[i] == 0 {
			continue
		}
		if c := conns[i]; c != nil {
			c.offer(pushed{
				env:  store.Envelope{ID: res.IDs[i], Data: it.Envelope, Arrived: req.Now, Expiry: req.Expiry},
				prev: res.Prevs[i],
			})
		} else if s.push != nil {
			s.push.note(it.Recipient) // spec/push.md §3.1
		}
	}
}

// wakeRecipients makes the connections of items' recipients on this node
// fetch: a Send that failed may have stored them.
func (s *Server) wakeRecipients(items []store.Item) {
	for _, it := range items {
		s.mu.Lock()
		c := s.conns[string(it.Recipient)]
		s.mu.Unlock()
		if c != nil {
			c.poke()
		} else if s.push != nil {
			s.push.note(it.Recipient)
		}
	}
}

// connected reports whether addr has a connection on this node.
func (s *Server) connected(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[addr] != nil
}

// sweeper deletes expired envelopes and dedup records every SweepInterval
// (spec/relay.md §11) and forgets refilled send buckets and quotas.
func (s *Server) sweeper() {
	defer s.bgDone.Done()
	t := time.NewTicker(s.lim.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		start := time.Now()
		n, err := s.q.Sweep(s.ctx, s.now())
		s.m.store("sweep", start)
		if err != nil {
			s.log.Error("relay: sweep failed", "err", err)
		} else if n > 0 {
			s.m.drop("expired", n)
			s.log.Debug("relay: swept expired envelopes", "count", n)
		}
		if s.links != nil {
			// Expired link mailboxes and their envelopes (spec/relay.md
			// §17.2).
			start := time.Now()
			n, err := s.links.SweepLinks(s.ctx, s.now())
			s.m.store("sweep_links", start)
			if err != nil {
				s.log.Error("relay: sweep of link mailboxes failed", "err", err)
			}
			s.m.link("expired", n)
		}
		s.linkOpens.prune(time.Now())
		s.pruneBuckets()
		s.quota.prune(time.Now())
		s.ephPairs.prune(time.Now())
	}
}

// register adds c to the open connections, unless the relay is closing
// (false). A code other than 0 refuses c: its IP address is at its cap.
func (s *Server) register(c *conn) (wire.ErrorCode, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return 0, false
	}
	s.open.Add(1)
	s.all[c] = struct{}{}
	s.perIP[c.ip]++
	if s.perIP[c.ip] > s.lim.MaxConnsPerIP {
		return wire.ErrorCode_ERROR_CODE_TOO_MANY_CONNECTIONS, true
	}
	return 0, true
}

// unregister removes a finished connection.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.all, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	left := c.addr != "" && s.conns[c.addr] == c
	if left {
		delete(s.conns, c.addr)
	}
	s.mu.Unlock()
	if left && s.push != nil && !c.link {
		// Mail it did not ack is owed a wake-up (spec/push.md §3.1).
		s.push.note([]byte(c.addr))
	}
}

// bind makes c the connection of its address and returns the one it
// replaces, if any (spec/relay.md §8.4), and the address's send bucket; or
// the code refusing c: the relay is closing, or c's device is revoked
// (checked under s.mu, like revoke records revocations).
func (s *Server) bind(c *conn) (old *conn, b *bucket, code wire.ErrorCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, nil, wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN
	}
	if s.isRevokedLocked(c.dev) {
		return nil, nil, wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED
	}
	old = s.conns[c.addr]
	s.conns[c.addr] = c
	b = s.buckets[c.addr]
	if b == nil {
		b = newBucket(s.lim.SendBurst, time.Now())
		s.buckets[c.addr] = b
	}
	c.ebucket = s.ebuckets[c.addr]
	if c.ebucket == nil {
		c.ebucket = newBucket(s.lim.EphemeralBurst, time.Now())
		s.ebuckets[c.addr] = c.ebucket
	}
	return old, b, 0
}

// pruneBuckets forgets the send and ephemeral buckets of addresses with no connection
// whose bucket has refilled: a new one would be the same.
func (s *Server) pruneBuckets() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, b := range s.buckets {
		if s.conns[a] == nil && b.full(now, s.lim.SendsPerSecond, s.lim.SendBurst) {
			delete(s.buckets, a)
		}
	}
	for a, b := range s.ebuckets {
		if s.conns[a] == nil && b.full(now, s.lim.EphemeralPerSecond, s.lim.EphemeralBurst) {
			delete(s.ebuckets, a)
		}
	}
}

// beginOp counts a store operation in flight unless Shutdown has begun
// (Shutdown waits for those counted).
func (s *Server) beginOp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.inflight.Add(1)
	return true
}

// isClosing reports whether Shutdown has begun.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}
