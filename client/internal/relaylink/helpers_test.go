package relaylink

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/revocation"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

const relayName = "test.example"

// issuer is the test key server's token key; stranger is a key the relay
// does not know.
var (
	issuer   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	stranger = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
)

// Relay timings of the tests (spec/relay.md §9), short so that dead
// connections are found in well under a second.
const (
	heartbeat = 100 * time.Millisecond
	idle      = 500 * time.Millisecond
)

// relayEnv is a real relay on a SQLite file, served over TLS 1.3 on
// 127.0.0.1, that can be stopped and started again on the same store,
// certificate and address.
type relayEnv struct {
	t    *testing.T
	dir  string // relay.db and the TLS certificate
	addr string
	tls  *tls.Config // client config pinned to the relay's certificate

	q       *sqlite.Queue
	s       *relay.Server
	srv     *httptest.Server
	revoked feed // the revocation feed the relay reads (spec/relay.md §2.4)
	// wrap, if set, wraps the store the relay uses (fault injection).
	wrap func(store.Queue) store.Queue
	// reconnectRate, if set, is the relay's Limits.ReconnectRate.
	reconnectRate int
	// heartbeat and idle, if set, replace the tests' relay timings.
	heartbeat, idle time.Duration
}

// feed is a revocation feed for the relay, as the key server's would be
// read in process: entries appended by the test.
type feed struct {
	mu      sync.Mutex
	entries []revocation.Entry
}

// revoke adds handle/device to the feed.
func (f *feed) revoke(handle string, device uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, revocation.Entry{Index: int64(len(f.entries)), Device: revocation.DeviceHash(handle, device), Time: time.Now()})
}

func (f *feed) Revocations(_ context.Context, from int64) ([]revocation.Entry, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if from >= int64(len(f.entries)) {
		return nil, from, nil
	}
	return slices.Clone(f.entries[from:]), int64(len(f.entries)), nil
}

func startRelay(t *testing.T) *relayEnv {
	t.Helper()
	return startRelayWith(t, func(*relayEnv) {})
}

// startRelayWith is startRelay with set applied to the environment first.
func startRelayWith(t *testing.T, set func(*relayEnv)) *relayEnv {
	t.Helper()
	e := &relayEnv{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	set(e)
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *relayEnv) start() {
	t := e.t
	t.Helper()
	cert, _, err := tlsconfig.LoadOrCreate(e.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := tlsconfig.ServerConfig(cert)
	if err != nil {
		t.Fatal(err)
	}
	e.tls = tlsconfig.ClientConfig(tlsconfig.FingerprintOf(cert.Certificate[0]))
	q, err := sqlite.Open(filepath.Join(e.dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	var rq store.Queue = q
	if e.wrap != nil {
		rq = e.wrap(q)
	}
	s, err := relay.New(relay.Config{
		Name: relayName, Queue: rq, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)},
		Limits:         relay.Limits{HeartbeatInterval: cmp.Or(e.heartbeat, heartbeat), IdleTimeout: cmp.Or(e.idle, idle), ReconnectRate: e.reconnectRate},
		Logger:         slog.New(slog.DiscardHandler),
		Revocations:    &e.revoked,
		RevocationPoll: 50 * time.Millisecond,
	})
	if err != nil {
		q.Close()
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", e.addr); !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		q.Close()
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = scfg
	srv.StartTLS()
	e.q, e.s, e.srv = q, s, srv
}

// stop shuts the relay down (Error{shutting_down}, going away) and closes
// its store.
func (e *relayEnv) stop() {
	if e.s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.s.Shutdown(ctx); err != nil {
		e.t.Errorf("Shutdown: %v", err)
	}
	e.srv.Close()
	if err := e.q.Close(); err != nil {
		e.t.Errorf("queue Close: %v", err)
	}
	e.q, e.s, e.srv = nil, nil, nil
}

func (e *relayEnv) url() string { return "wss://" + e.addr + relay.Path }

// depth returns the queue depth of handle/device.
func (e *relayEnv) depth(handle string, device uint32) int {
	e.t.Helper()
	st, err := e.q.Stats(context.Background(), wire.FormatAddress(handle, device))
	if errors.Is(err, store.ErrNoMailbox) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Count
}

// plain connects a bare relayclient as handle/device.
func (e *relayEnv) plain(handle string, device uint32) *relayclient.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := relayclient.Dial(ctx, e.url(), e.tls, mint(e.t, handle, device, issuer, time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.CloseNow() })
	return c
}

// mint issues a relay token for handle/device signed by key, valid from
// now for ttl.
func mint(t testing.TB, handle string, device uint32, key ed25519.PrivateKey, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := token.Issue(rand.Reader, key, token.Claims{
		Handle: handle, Device: keys.DeviceID(device), Audience: "relay:" + relayName,
		IssuedAt: now.Add(-time.Second), Expiry: now.Add(ttl),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode()
}

// linkConfig is a Config for handle/device on e's relay, with fast
// backoff and logs in the test's output.
func linkConfig(t *testing.T, e *relayEnv, handle string, device uint32, deliver func(context.Context, *wire.Delivery) error) Config {
	return Config{
		URL: e.url(), TLS: e.tls,
		Token: func(context.Context) (string, error) {
			return mint(t, handle, device, issuer, time.Hour), nil
		},
		Deliver:    deliver,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func start(t *testing.T, cfg Config) *Link {
	t.Helper()
	l, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func waitConnected(t *testing.T, l *Link) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.WaitConnected(ctx); err != nil {
		t.Fatalf("WaitConnected: %v", err)
	}
}

// inbox collects deliveries.
type inbox chan *wire.Delivery

func newInbox() inbox { return make(inbox, 1024) }

func (in inbox) deliver(_ context.Context, d *wire.Delivery) error {
	in <- d
	return nil
}

// next returns the next delivery, failing after a few seconds.
func (in inbox) next(t *testing.T) *wire.Delivery {
	t.Helper()
	select {
	case d := <-in:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
		return nil
	}
}

// quiet checks that nothing is delivered for d.
func (in inbox) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case x := <-in:
		t.Fatalf("unexpected delivery %d %q", x.Id, x.Envelope)
	case <-time.After(d):
	}
}

func discard(context.Context, *wire.Delivery) error { return nil }

// item is one envelope for handle/device.
func item(handle string, device uint32, envelope string) []*wire.Item {
	return []*wire.Item{{Recipient: wire.FormatAddress(handle, device), Envelope: []byte(envelope)}}
}

// eventually polls cond until it holds, failing after a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proxy is a TCP proxy in front of the relay whose existing connections can
// be made to drop what they carry, as a dead network path or NAT would,
// while new connections pass.
type proxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	conns []*proxied
}

type proxied struct {
	down, up net.Conn    // to the client, to the relay
	dropDown atomic.Bool // drop relay → client bytes
	dropUp   atomic.Bool // drop client → relay bytes
}

func startProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.down.Close()
			c.up.Close()
		}
	})
	return p
}

func (p *proxy) url() string { return "wss://" + p.ln.Addr().String() + relay.Path }

func (p *proxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			down.Close()
			continue
		}
		c := &proxied{down: down, up: up}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go c.pipe(c.up, c.down, &c.dropDown)
		go c.pipe(c.down, c.up, &c.dropUp)
	}
}

// pipe copies src to dst, dropping the bytes while drop is set.
func (c *proxied) pipe(src, dst net.Conn, drop *atomic.Bool) {
	defer c.down.Close()
	defer c.up.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !drop.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// blackhole makes every connection open now drop the relay's bytes, and
// the client's too if both.
func (p *proxy) blackhole(both bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.dropDown.Store(true)
		if both {
			c.dropUp.Store(true)
		}
	}
}

// recorder counts a link's connects and disconnects.
type recorder struct {
	connects    atomic.Int64
	disconnects chan error
}

func newRecorder() *recorder { return &recorder{disconnects: make(chan error, 1024)} }

func (r *recorder) hook(cfg *Config) {
	cfg.OnConnect = func(*wire.Hello) { r.connects.Add(1) }
	cfg.OnDisconnect = func(err error) { r.disconnects <- err }
}
