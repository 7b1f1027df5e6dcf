package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

const relayName = "test.example"

// issuer is the test key server's token key.
var issuer = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// relayEnv is a relay served over TLS 1.3 on a SQLite queue.
type relayEnv struct {
	t      testing.TB
	path   string // the SQLite file
	q      *sqlite.Queue
	s      *Server
	srv    *httptest.Server
	url    string
	clock  *clock
	lim    Limits
	closed bool
}

// startRelay starts a relay on a fresh SQLite file in t's temp dir.
func startRelay(t testing.TB, lim Limits) *relayEnv {
	t.Helper()
	return startRelayAt(t, filepath.Join(t.TempDir(), "relay.db"), newClock(), lim)
}

// startRelayAt starts a relay on the SQLite file at path.
func startRelayAt(t testing.TB, path string, clk *clock, lim Limits) *relayEnv {
	t.Helper()
	q, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Name: relayName, Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)},
		Limits: lim, Now: clk.Now,
		SendTokens: testSendTokens().v,
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		q.Close()
		t.Fatal(err)
	}
	e := serveRelay(t, q, s, clk)
	e.path = path
	return e
}

// serveRelay serves s over TLS 1.3 until the test ends.
func serveRelay(t testing.TB, q *sqlite.Queue, s *Server, clk *clock) *relayEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	e := &relayEnv{t: t, q: q, s: s, srv: srv, url: "wss" + strings.TrimPrefix(srv.URL, "https") + Path, clock: clk, lim: s.lim}
	t.Cleanup(e.stop)
	return e
}

// stop shuts the relay down and closes its store.
func (e *relayEnv) stop() {
	if e.closed {
		return
	}
	e.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.s.Shutdown(ctx); err != nil {
		e.t.Errorf("Shutdown: %v", err)
	}
	e.srv.Close()
	if err := e.q.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
}

// mint issues a token for handle/device valid now on the relay's clock.
func (e *relayEnv) mint(handle string, device uint32) string {
	return mintFor(e.t, handle, device, "relay:"+relayName, e.clock.Now(), e.clock.Now().Add(time.Hour), issuer)
}

func mintFor(t testing.TB, handle string, device uint32, aud string, iat, exp time.Time, key ed25519.PrivateKey) string {
	t.Helper()
	tok, err := token.Issue(testrand.New("relay token "+handle), key, token.Claims{
		Handle: handle, Device: keys.DeviceID(device), Audience: aud,
		IssuedAt: iat.UTC().Truncate(time.Second), Expiry: exp.UTC().Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode()
}

// client is a raw test client of the relay protocol.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan *wire.Frame
	done   chan struct{}
	err    error         // why the connection ended, once done is closed
	held   []*wire.Frame // frames read past by sendEnv, returned first by next
	silent atomic.Bool   // do not answer Pings
	pings  atomic.Int64  // Pings received
}

// loop reads frames into c.frames, answering the relay's Pings like a
// client (spec/relay.md §9), until the connection ends.
func (c *client) loop() {
	defer close(c.done)
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.MessageBinary {
			c.err = fmt.Errorf("message type %v", typ)
			return
		}
		f, err := wire.Decode(b, 0)
		if err != nil {
			c.err = err
			return
		}
		if p, ok := f.Body.(*wire.Frame_Ping); ok {
			c.pings.Add(1)
			if c.silent.Load() {
				continue
			}
			b, _ := wire.Encode(&wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: p.Ping.Nonce}}})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.ws.Write(ctx, websocket.MessageBinary, b)
			cancel()
			continue
		}
		c.frames <- f
	}
}

// dialRaw opens a WebSocket without authenticating.
func (e *relayEnv) dialRaw() *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{
		HTTPClient: e.srv.Client(), Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	c := &client{t: e.t, ws: ws, frames: make(chan *wire.Frame, 4096), done: make(chan struct{})}
	go c.loop()
	e.t.Cleanup(func() { ws.CloseNow(); <-c.done })
	return c
}

// connect dials and authenticates as handle/device, returning the Hello.
func (e *relayEnv) connect(handle string, device uint32) (*client, *wire.Hello) {
	e.t.Helper()
	c := e.dialRaw()
	c.send(&wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: e.mint(handle, device)}}})
	f := c.read()
	h, ok := f.Body.(*wire.Frame_Hello)
	if !ok {
		e.t.Fatalf("answer to Auth: %v", f)
	}
	return c, h.Hello
}

func (c *client) send(f *wire.Frame) {
	c.t.Helper()
	b, err := wire.Encode(f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeRaw(b)
}

func (c *client) writeRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// errQuiet is next's error when no frame came in time.
var errQuiet = errors.New("no frame in time")

// next returns the next frame (the relay's Pings are answered and skipped),
// or why the connection ended, or errQuiet after timeout.
func (c *client) next(timeout time.Duration) (*wire.Frame, error) {
	if len(c.held) > 0 {
		f := c.held[0]
		c.held = c.held[1:]
		return f, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f := <-c.frames:
		return f, nil
	case <-t.C:
		return nil, errQuiet
	case <-c.done:
		select {
		case f := <-c.frames:
			return f, nil
		default:
			return nil, c.err
		}
	}
}

func (c *client) read() *wire.Frame {
	c.t.Helper()
	f, err := c.next(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// expectError reads until an Error frame and then the close, and checks
// the code and the close status.
func (c *client) expectError(code wire.ErrorCode, status websocket.StatusCode) {
	c.t.Helper()
	for {
		f, err := c.next(10 * time.Second)
		if err != nil {
			c.t.Fatalf("want Error %v, got %v", code, err)
		}
		if e, ok := f.Body.(*wire.Frame_Error); ok {
			if e.Error.Code != code {
				c.t.Fatalf("Error code %v, want %v (%q)", e.Error.Code, code, e.Error.Message)
			}
			break
		}
	}
	_, err := c.next(10 * time.Second)
	if got := websocket.CloseStatus(err); got != status {
		c.t.Fatalf("close status %v (%v), want %v", got, err, status)
	}
}

// sendEnv sends one envelope per recipient under id and returns the answer.
func (c *client) sendEnv(id byte, env []byte, to ...[]byte) *wire.SendResult {
	c.t.Helper()
	c.send(sendFrame(id, env, to...))
	var held []*wire.Frame
	defer func() { c.held = append(c.held, held...) }()
	for {
		f, err := c.next(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for SendResult: %v", err)
		}
		if r, ok := f.Body.(*wire.Frame_SendResult); ok {
			return r.SendResult
		}
		if e, ok := f.Body.(*wire.Frame_Error); ok {
			c.t.Fatalf("Error %v", e.Error.Code)
		}
		held = append(held, f)
	}
}

func sendFrame(id byte, env []byte, to ...[]byte) *wire.Frame {
	m := &wire.Send{MessageId: msgID(id)}
	for _, r := range to {
		m.Items = append(m.Items, &wire.Item{Recipient: r, Envelope: env})
	}
	return &wire.Frame{Body: &wire.Frame_Send{Send: m}}
}

func msgID(id byte) []byte {
	b := make([]byte, wire.MessageIDSize)
	b[0], b[15] = id, 0xee
	return b
}

// deliveries reads frames until it has n deliveries.
func (c *client) deliveries(n int) []*wire.Delivery {
	c.t.Helper()
	var out []*wire.Delivery
	for len(out) < n {
		f := c.read()
		d, ok := f.Body.(*wire.Frame_Deliver)
		if !ok {
			c.t.Fatalf("want Deliver, got %v", f)
		}
		out = append(out, d.Deliver.Deliveries...)
	}
	if len(out) != n {
		c.t.Fatalf("got %d deliveries, want %d", len(out), n)
	}
	return out
}

// quiet checks that nothing but pings arrives for d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	f, err := c.next(d)
	if err == nil {
		c.t.Fatalf("unexpected frame %v", f)
	}
	if !errors.Is(err, errQuiet) {
		c.t.Fatalf("connection ended: %v", err)
	}
}

func (c *client) ack(ids ...uint64) {
	c.t.Helper()
	c.send(&wire.Frame{Body: &wire.Frame_Ack{Ack: &wire.Ack{Ids: ids}}})
}

func addr(handle string, device uint32) []byte { return wire.FormatAddress(handle, device) }

// depth is the queue depth of a mailbox.
func (e *relayEnv) depth(a []byte) store.Stats {
	e.t.Helper()
	st, err := e.q.Stats(context.Background(), a)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}
