package relay

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

// maxInflight bounds the sends and acks one connection has at the store at
// once: enough for the store's group commit to batch a pipelining client,
// small enough to push back on a flood (the reader stops reading).
const maxInflight = 64

// maxOutbound bounds the frames queued to a connection's writer. Sends and
// acks in flight are at most maxInflight, so answers are never dropped;
// only Pong answers to a client pinging faster than it reads are.
const maxOutbound = maxInflight + 64

// conn is one WebSocket connection. Its fields are grouped by owner; it
// holds no buffer while idle (read and write buffers are pooled).
type conn struct {
	// Set before the reader starts, then read-only.
	s   *Server
	ws  *websocket.Conn
	nc  net.Conn        // under ws, for deadlines
	br  *bufio.Reader   // ws's read buffer, probed by park
	bw  *batchWriter    // under ws's write buffer
	raw syscall.RawConn // the socket, nil if park cannot wait on it
	pc  *parkConn       // under ws: hands a parked reader to the poller
	ip  string

	// Held by park while it probes c.br and by the writer's close
	// handshake, the only two readers of c.br outside ws.Reader.
	rl sync.Mutex

	// Set by the reader at Auth, before anything else reads them.
	anon    bool   // an anonymous connection (spec/relay.md §15): no address
	addr    string // the device address (raw bytes)
	account string // the token's handle
	budget  senderBudget
	dev     [32]byte // revocation.DeviceHash of the token's device
	expiry  time.Time
	bucket  *bucket
	ebucket *bucket // ephemeral items (spec/relay.md §7.4)
	// A link connection (spec/relay.md §17): addr is its link address.
	link       bool
	linkToken  bool      // opened with an access token
	linkExpiry time.Time // the link mailbox's expiry
	linkItems  int       // items sent, counted without a token (§17.3)

	// Written by the reader, read by the timer.
	lastRead atomic.Int64 // ns since s.start of the last frame received
	authed   atomic.Bool
	// The client has sent a Ping: it keeps the heartbeat from now on, and
	// the relay sends no more Pings of its own (spec/relay.md §9,
	// spec/push.md §9).
	clientPings atomic.Bool

	// Owned by the reader: one slot per send or ack at the store. pending
	// counts them too, for the writer to wait on before it closes; the
	// reader adds to it only under mu while not closing.
	inflight chan struct{}
	pending  sync.WaitGroup
	// accessDone is closed once the last SetAccess or SetPush of this connection
	// has been answered or failed (spec/relay.md §15.8); nil before the
	// first. The next one waits for it, so they apply in order.
	accessDone chan struct{}

	// Owned by the timer callback (heartbeat, idle, token expiry, auth
	// timeout).
	timer    *time.Timer
	lastPing atomic.Int64 // ns since s.start
	nonce    uint64

	// Shared with the writer, under mu.
	mu       sync.Mutex
	out      []*wire.Frame  // frames waiting for the writer, in order
	writing  bool           // a writer goroutine is running
	fetch    bool           // the store may hold envelopes above after that pushed lacks
	closing  bool           // the connection is ending: queue nothing but answers
	closed   bool           // the writer is closing the WebSocket: queue nothing
	code     wire.ErrorCode // the Error to send last, 0 for none
	msg      string
	room     *sync.Cond    // answers waiting for room in out; made at Auth
	after    int64         // highest envelope id delivered on this connection
	drains   int           // Drain frames not yet answered (spec/push.md §8)
	unacked  []int64       // ids delivered and not acked, increasing
	pushed   []pushed      // envelopes stored by this relay's Sends, to deliver without a fetch; ids increasing
	gap      *time.Timer   // while the first of pushed waits for the offer of one before it (takePushed)
	acks     []int64       // acked ids waiting for the store Ack running (ack)
	acking   bool          // a store Ack of this connection runs
	finished chan struct{} // closed when the writer has closed the WebSocket
	bye      bool          // close normally (1000) without an Error (LinkClose)
	// Ephemeral envelopes in out (pushEphemeral): how many, and the last
	// DeliverEphemeral queued with its encoded size, which later ones
	// join while it waits. Reset whenever the writer takes out.
	ephQueued int
	ephLast   *wire.DeliverEphemeral
	ephSize   int
}

// serveWS accepts a WebSocket on /v1/relay and starts its reader.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !offersSubprotocol(r) {
		http.Error(w, "relay: WebSocket subprotocol "+Subprotocol+" required", http.StatusBadRequest)
		return
	}
	if s.isClosing() {
		http.Error(w, "relay: shutting down", http.StatusServiceUnavailable)
		return
	}
	if ok, after := s.admit.admit(time.Now()); !ok {
		s.m.refusal("busy")
		refuseBusy(w, after)
		return
	}
	w.Header().Set(wire.HeaderReconnectWindow, wire.FormatHint(s.reconnectWindow(s.openConns()+1)))
	sb := &smallBuffers{ResponseWriter: w}
	ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("relay: upgrade refused", "err", err)
		return
	}
	// A hijacked connection keeps the http.Server's deadlines; the relay
	// sets its own.
	sb.conn.SetDeadline(time.Time{})
	// The reader stops at MaxFrame+1 bytes itself; this is a backstop.
	ws.SetReadLimit(int64(s.lim.MaxFrame) + 1)
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	c := &conn{s: s, ws: ws, nc: sb.conn, br: sb.br, bw: sb.bw, raw: rawConnOf(sb.conn), pc: sb.conn, ip: ip, inflight: make(chan struct{}, maxInflight), finished: make(chan struct{})}
	sb.conn.c = c
	c.lastRead.Store(s.mono())
	code, ok := s.register(c)
	if !ok {
		c.fail(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, "")
		return
	}
	// The reader runs on a goroutine of its own: this one, net/http's, has
	// a stack grown by the TLS handshake and holds the request; returning
	// frees both.
	go c.run(code)
}

// run starts the connection's reader, from upgrade to close; code, if not
// 0, refuses the connection at once.
func (c *conn) run(code wire.ErrorCode) {
	c.s.m.conn(1)
	if code != 0 {
		c.fail(code, "")
		c.end()
		return
	}
	c.timer = time.AfterFunc(c.s.lim.AuthTimeout, c.tick)
	c.read()
}

// end waits for the writer to close the WebSocket and unregisters the
// connection; the reader's last act.
func (c *conn) end() {
	s := c.s
	<-c.finished
	s.unregister(c)
	c.mu.Lock()
	code := c.code
	c.mu.Unlock()
	s.log.Debug("relay: connection closed", "ip", c.ip, "code", code.String())
	s.m.conn(-1)
	s.open.Done()
}

// offersSubprotocol reports whether the upgrade request offers the relay's
// subprotocol (spec/relay.md §2.1).
func offersSubprotocol(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

// mono returns the relay's monotonic clock, ns since start.
func (s *Server) mono() int64 { return int64(time.Since(s.start)) }

// read is the reader loop: it reads frames until the connection ends or a
// frame ends it, then makes sure the writer closes the WebSocket. When the
// connection idles it parks: the goroutine returns, and the poller runs
// read again on a new one once the socket has news or the connection
// closes (park.go).
func (c *conn) read() {
	for !c.isClosing() {
		if c.park() {
			return
		}
		f, err := c.readFrame()
		if err != nil {
			var fe *wire.FrameError
			if errors.As(err, &fe) {
				c.fail(fe.Code, fe.Reason)
			} else {
				c.kill()
			}
			break
		}
		c.lastRead.Store(c.s.mono())
		if !c.handle(f) {
			break
		}
	}
	c.kill()
	c.timer.Stop()
	c.end()
}

// handle acts on one frame; false ends the reader.
func (c *conn) handle(f *wire.Frame) bool {
	if !c.authed.Load() {
		switch a := f.Body.(type) {
		case *wire.Frame_Auth:
			return c.auth(a.Auth.Token)
		case *wire.Frame_AuthAnonymous:
			return c.authAnonymous()
		case *wire.Frame_AuthLink:
			return c.authLink(a.AuthLink)
		}
		c.fail(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, "first frame must be Auth, AuthAnonymous or AuthLink")
		return false
	}
	if c.anon {
		return c.handleAnonymous(f)
	}
	if c.link {
		return c.handleLink(f)
	}
	switch b := f.Body.(type) {
	case *wire.Frame_Send:
		return c.send(b.Send)
	case *wire.Frame_Ack:
		return c.ack(b.Ack.Ids)
	case *wire.Frame_SetAccess:
		return c.setAccess(b.SetAccess)
	case *wire.Frame_SetPush:
		return c.setPush(b.SetPush)
	case *wire.Frame_Drain:
		return c.drain()
	case *wire.Frame_SendEphemeral:
		c.sendEphemeral(b.SendEphemeral.Items)
		return true
	case *wire.Frame_LinkFetch:
		return c.linkFetchOpen(b.LinkFetch)
	case *wire.Frame_Ping:
		c.clientPings.Store(true)
		c.enqueue(&wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: b.Ping.Nonce}}}, false)
		return true
	case *wire.Frame_Pong:
		return true
	case *wire.Frame_Error:
		// The client ends the connection; nothing is answered.
		c.s.log.Debug("relay: client sent error", "ip", c.ip, "code", b.Error.Code.String())
		c.kill()
		return false
	}
	c.fail(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, "frame not allowed from a client")
	return false
}

// tick runs on the connection's timer: auth timeout before Auth; then
// idle timeout, token expiry and heartbeat (spec/relay.md §2.3, §9).
func (c *conn) tick() {
	s := c.s
	if !c.authed.Load() {
		c.fail(wire.ErrorCode_ERROR_CODE_AUTH_TIMEOUT, "no Auth in time")
		return
	}
	now := s.mono()
	idleAt := c.lastRead.Load() + int64(s.lim.IdleTimeout)
	if now >= idleAt {
		c.fail(wire.ErrorCode_ERROR_CODE_IDLE_TIMEOUT, "")
		return
	}
	if !s.now().Before(c.expiry) {
		c.fail(wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED, "token expired")
		return
	}
	if c.link && !s.now().Before(c.linkExpiry) {
		// The link mailbox has expired (spec/relay.md §17.2).
		c.fail(wire.ErrorCode_ERROR_CODE_LINK_EXPIRED, "link mailbox expired")
		return
	}
	pingAt := c.lastPing.Load() + int64(s.lim.HeartbeatInterval)
	if c.clientPings.Load() {
		pingAt = idleAt // the client keeps the heartbeat
	} else if now >= pingAt {
		c.nonce++
		c.lastPing.Store(now)
		pingAt = now + int64(s.lim.HeartbeatInterval)
		c.enqueue(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: c.nonce}}}, false)
	}
	next := min(pingAt, idleAt) - now
	if c.link {
		if d := c.linkExpiry.Sub(s.now()); d > 0 && d < time.Duration(next) {
			next = int64(d) + int64(time.Millisecond)
		}
	}
	if d := time.Until(c.expiry); d > 0 && d < time.Duration(next) {
		// Wall clock: a token expiry close a little late is harmless.
		next = int64(d) + int64(time.Millisecond)
	}
	if !c.isClosing() {
		c.timer.Reset(time.Duration(next))
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// acquire takes an in-flight slot, blocking the reader (backpressure); it
// returns false if the connection is closing.
func (c *conn) acquire() bool {
	c.inflight <- struct{}{}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		<-c.inflight
		return false
	}
	c.pending.Add(1)
	return true
}

func (c *conn) release() {
	c.pending.Done()
	<-c.inflight
}
