package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/push/egress"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/push/webpush/webpushtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

const testGateway = "https://gw.example"

// pushEnv is a relay with wake-ups on, sending Web Push to a real test
// push service over TLS (webpushtest checks every request as a push
// service would and decrypts it), and gateway wake-ups to gw.
type pushEnv struct {
	*relayEnv
	svc  *webpushtest.Server
	vkey *webpush.VAPIDKey
	gw   *scriptedWaker
}

// scriptedWaker stands in for a push gateway client in tests of the
// relay's outcome handling; the gateway itself is tested against the
// APNs and FCM stand-ins in push/gateway.
type scriptedWaker struct {
	mu    sync.Mutex
	calls []store.PushTarget
	err   func(n int) error // the answer to call n (0-based); nil: delivered
	hang  atomic.Bool
}

func (w *scriptedWaker) Wake(ctx context.Context, t store.PushTarget) error {
	w.mu.Lock()
	n := len(w.calls)
	w.calls = append(w.calls, t)
	f := w.err
	w.mu.Unlock()
	if w.hang.Load() {
		<-ctx.Done()
		return &PushRetryError{Err: ctx.Err()}
	}
	if f != nil {
		return f(n)
	}
	return nil
}

func (w *scriptedWaker) setErr(f func(n int) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = f
}

func (w *scriptedWaker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

func startPushRelay(t *testing.T, path string, vkey *webpush.VAPIDKey, svc *webpushtest.Server, pc PushConfig, more ...*webpushtest.Server) *pushEnv {
	t.Helper()
	if svc == nil {
		svc = webpushtest.New(t)
	}
	if vkey == nil {
		var err error
		if vkey, err = webpush.GenerateVAPIDKey(); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	for _, v := range append([]*webpushtest.Server{svc}, more...) {
		v.ExpectVAPID(vkey.PublicKey())
		pool.AppendCertsFromPEM(v.CertPEM())
	}
	sender, err := webpush.NewSender(webpush.SenderConfig{
		Key: vkey, Subject: "mailto:ops@relay.example",
		Client: egress.NewClient(egress.Config{AllowPrivate: true, RootCAs: pool}),
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := &scriptedWaker{}
	pc.WebPush = WebPushWaker(sender, time.Hour)
	pc.CheckEndpoint = func(u string) error { return egress.CheckURL(u, true) }
	pc.VAPIDPublicKey = vkey.PublicKey()
	pc.Gateways, pc.Gateway = []string{testGateway}, gw
	q, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s, err := New(Config{
		Name: relayName, Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)},
		// The wall clock: wake-up intervals are measured in real time.
		Now: time.Now, Registerer: prometheus.NewRegistry(), Push: &pc,
		// Quotas out of the way: one sender floods one mailbox.
		Limits: Limits{QuotaSharePercent: 100, QuotaRate: 1 << 20, QuotaBurst: 1 << 20, QuotaBytesRate: 1 << 30, QuotaBytesBurst: 1 << 30},
	})
	if err != nil {
		q.Close()
		t.Fatal(err)
	}
	e := serveRelay(t, q, s, clk)
	e.path = path
	return &pushEnv{relayEnv: e, svc: svc, vkey: vkey, gw: gw}
}

func setPushFrame(sub webpush.Subscription) *wire.Frame {
	return &wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{
		Kind: wire.PushKind_PUSH_KIND_WEB_PUSH, Endpoint: sub.Endpoint, P256Dh: sub.P256dh, Auth: sub.Auth,
	}}}
}

// setPush sends f and returns the status of the PushSet that answers it.
func (c *client) setPush(f *wire.Frame) wire.PushStatus {
	c.t.Helper()
	c.send(f)
	for {
		r := c.read()
		if r.GetDeliver() != nil {
			continue // queued mail, not acked: delivered again later
		}
		ps := r.GetPushSet()
		if ps == nil {
			c.t.Fatalf("want PushSet, got %v", r)
		}
		return ps.Status
	}
}

// registerOffline connects handle/1, registers sub and goes away.
func (e *pushEnv) registerOffline(t *testing.T, handle string, sub webpush.Subscription) {
	t.Helper()
	c, _ := e.connect(handle, 1)
	if st := c.setPush(setPushFrame(sub)); st != wire.PushStatus_PUSH_STATUS_OK {
		t.Fatalf("SetPush: %v", st)
	}
	c.ws.CloseNow()
	waitFor(t, func() bool { return !e.s.connected(string(addr(handle, 1))) })
}

func waitLonger(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Bob registers a Web Push subscription and goes offline; alice sends
// 2050 envelopes (50 sends of one, two of 1000): bob's push service gets
// exactly one wake-up within the interval, encrypted to bob (RFC 8291),
// signed with the relay's VAPID key, carrying the wake marker and nothing
// else; bob's mailbox holds them all (spec/push.md §3.2). Carol's
// registration, made on her own connection, is untouched by bob's.
func TestWakeOfflineDeviceOnce(t *testing.T) {
	e := startPushRelay(t, filepath.Join(t.TempDir(), "relay.db"), nil, nil, PushConfig{Interval: time.Hour})
	carolSub := e.svc.NewSubscription()
	e.registerOffline(t, "carol", carolSub)
	sub := e.svc.NewSubscription()
	e.registerOffline(t, "bob", sub)
	bob := addr("bob", 1)
	a, _ := e.connect("alice", 1)
	for i := range 50 {
		a.sendEnv(byte(i), []byte{byte(i), 0xaa}, bob)
	}
	many := make([][]byte, 1000)
	for i := range many {
		many[i] = bob
	}
	for i := range 2 {
		r := a.sendEnv(byte(100+i), []byte{0xbb}, many...)
		for _, st := range r.Statuses {
			if st != wire.Status_STATUS_STORED {
				t.Fatalf("status %v", st)
			}
		}
	}
	waitLonger(t, 5*time.Second, func() bool { return len(e.svc.Messages(sub)) >= 1 })
	time.Sleep(300 * time.Millisecond)
	msgs := e.svc.Messages(sub)
	if len(msgs) != 1 {
		t.Fatalf("%d wake-ups for 50 envelopes within the interval, want 1", len(msgs))
	}
	m := msgs[0]
	if string(m.Plaintext) != webpush.WakeMarker || m.Urgency != WakeUrgency || m.Topic != WakeTopic {
		t.Fatalf("wake-up %q urgency %q topic %q", m.Plaintext, m.Urgency, m.Topic)
	}
	if n := e.svc.Rejected(); n != 0 {
		t.Fatalf("the push service rejected %d requests: %v", n, e.svc.Rejections())
	}
	if got := testutil.ToFloat64(e.s.m.push.wakes.WithLabelValues("web_push", "delivered")); got != 1 {
		t.Fatalf("delivered wake-ups metric %v", got)
	}
	if got := testutil.ToFloat64(e.s.m.push.coalesced); got < 1 {
		t.Fatalf("coalesced metric %v, want some of 49 later notes", got)
	}
	if st := e.depth(bob); st.Count != 2050 {
		t.Fatalf("bob's mailbox holds %d", st.Count)
	}
	if r, err := e.q.Push(context.Background(), addr("carol", 1)); err != nil || r == nil || r.Target.Endpoint != carolSub.Endpoint || r.Woken != 0 {
		t.Fatalf("carol's registration: %+v, %v", r, err)
	}
	if n := len(e.svc.Messages(carolSub)); n != 0 {
		t.Fatalf("carol, who has no mail, was woken %d times", n)
	}
	// Delivered and covered: nothing more is owed until new mail.
	reg, err := e.q.Push(context.Background(), bob)
	if err != nil || reg == nil || reg.Woken == 0 || reg.Failures != 0 {
		t.Fatalf("registration after delivery: %+v, %v", reg, err)
	}
}

// Mail arriving steadily for an offline device wakes it at most once per
// interval, and again for mail newer than what the last wake-up covered.
func TestWakeOncePerInterval(t *testing.T) {
	e := startPushRelay(t, filepath.Join(t.TempDir(), "relay.db"), nil, nil, PushConfig{Interval: 400 * time.Millisecond})
	sub := e.svc.NewSubscription()
	e.registerOffline(t, "bob", sub)
	bob := addr("bob", 1)
	a, _ := e.connect("alice", 1)
	start := time.Now()
	for i := 0; time.Since(start) < 1500*time.Millisecond; i++ {
		a.sendEnv(byte(i), []byte{byte(i)}, bob)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond)
	msgs := e.svc.Messages(sub)
	if len(msgs) < 2 || len(msgs) > 6 {
		t.Fatalf("%d wake-ups over 1.5 s of mail at a 400 ms interval, want 2 to 6", len(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if d := msgs[i].Time.Sub(msgs[i-1].Time); d < 250*time.Millisecond { // claimed ≥ 400 ms apart; delivery times vary
			t.Fatalf("wake-ups %d and %d only %v apart", i-1, i, d)
		}
	}
	// No new mail: no more wake-ups.
	n := len(msgs)
	time.Sleep(900 * time.Millisecond)
	if got := len(e.svc.Messages(sub)); got != n {
		t.Fatalf("%d wake-ups without new mail", got-n)
	}
}

// A connected device is not woken; when its connection ends with mail it
// did not ack, it is.
func TestWakeAfterConnectionEnds(t *testing.T) {
	e := startPushRelay(t, filepath.Join(t.TempDir(), "relay.db"), nil, nil, PushConfig{Interval: time.Hour})
	sub := e.svc.NewSubscription()
	b, _ := e.connect("bob", 1)
	if st := b.setPush(setPushFrame(sub)); st != wire.PushStatus_PUSH_STATUS_OK {
		t.Fatalf("SetPush: %v", st)
	}
	bob := addr("bob", 1)
	a, _ := e.connect("alice", 1)
	a.sendEnv(1, []byte("x"), bob)
	d := b.deliveries(1)
	b.ack(d[0].Id)
	a.sendEnv(2, []byte("y"), bob)
	b.deliveries(1) // not acked
	time.Sleep(200 * time.Millisecond)
	if n := len(e.svc.Messages(sub)); n != 0 {
		t.Fatalf("%d wake-ups for a connected device", n)
	}
	b.ws.CloseNow()
	waitLonger(t, 5*time.Second, func() bool { return len(e.svc.Messages(sub)) == 1 })
}

// SetPush answers: ok for a reachable endpoint, a known gateway and kind
// none (which removes); endpoint_refused and gateway_unknown store
// nothing; a relay without push answers disabled.
func TestSetPushStatuses(t *testing.T) {
	e := startPushRelay(t, filepath.Join(t.TempDir(), "relay.db"), nil, nil, PushConfig{})
	e.s.push.cfg.CheckEndpoint = func(u string) error { return egress.CheckURL(u, false) } // as in production
	c, _ := e.connect("bob", 1)
	bob := addr("bob", 1)
	reg := func() *store.PushRegistration {
		r, err := e.q.Push(context.Background(), bob)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	local := e.svc.NewSubscription() // https://127.0.0.1:port/...: loopback
	if st := c.setPush(setPushFrame(local)); st != wire.PushStatus_PUSH_STATUS_ENDPOINT_REFUSED {
		t.Fatalf("loopback endpoint: %v", st)
	}
	public := local
	public.Endpoint = "https://push.example/send/abc"
	if st := c.setPush(setPushFrame(public)); st != wire.PushStatus_PUSH_STATUS_OK {
		t.Fatalf("public endpoint: %v", st)
	}
	if r := reg(); r == nil || r.Target.Endpoint != public.Endpoint {
		t.Fatalf("registration %+v", r)
	}
	gen := reg().Gen
	if st := c.setPush(setPushFrame(public)); st != wire.PushStatus_PUSH_STATUS_OK || reg().Gen != gen {
		t.Fatalf("same target again: %v, gen %d → %d", st, gen, reg().Gen)
	}
	for _, bad := range []*wire.Frame{
		setPushFrame(local),
		{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_GATEWAY, Endpoint: "https://other.example", Token: []byte{1}}}},
	} {
		c.setPush(bad)
		if r := reg(); r == nil || r.Target.Endpoint != public.Endpoint || r.Gen != gen {
			t.Fatalf("a refused SetPush changed the registration: %+v", r)
		}
	}
	gwFrame := &wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_GATEWAY, Endpoint: testGateway, Token: []byte("tok")}}}
	if st := c.setPush(gwFrame); st != wire.PushStatus_PUSH_STATUS_OK || reg().Target.Kind != store.PushGateway {
		t.Fatalf("gateway: %v", st)
	}
	if st := c.setPush(&wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_NONE}}}); st != wire.PushStatus_PUSH_STATUS_OK || reg() != nil {
		t.Fatalf("none: %v, %+v", st, reg())
	}
	if got := testutil.ToFloat64(e.s.m.push.sets.WithLabelValues("web_push", "endpoint_refused")); got != 2 {
		t.Fatalf("endpoint_refused metric %v", got)
	}

	// A relay without push.
	plain := startRelay(t, Limits{})
	p, _ := plain.connect("bob", 1)
	if st := p.setPush(setPushFrame(public)); st != wire.PushStatus_PUSH_STATUS_DISABLED {
		t.Fatalf("relay without push: %v", st)
	}
	if r, err := plain.q.Push(context.Background(), bob); err != nil || r != nil {
		t.Fatalf("relay without push stored %+v, %v", r, err)
	}
}

// A push service that answers gone removes the registration; one that
// answers 429 with Retry-After is tried again no sooner; one that fails
// MaxFailures times in a row loses the registration.
func TestWakeOutcomes(t *testing.T) {
	e := startPushRelay(t, filepath.Join(t.TempDir(), "relay.db"), nil, nil, PushConfig{Interval: 50 * time.Millisecond, MaxFailures: 3})
	e.s.push.minBackoff = 20 * time.Millisecond
	a, _ := e.connect("alice", 1)
	bob := addr("bob", 1)

	t.Run("gone", func(t *testing.T) {
		sub := e.svc.NewSubscription()
		e.registerOffline(t, "bob", sub)
		e.svc.Gone(sub)
		a.sendEnv(1, []byte("x"), bob)
		waitLonger(t, 5*time.Second, func() bool {
			r, _ := e.q.Push(context.Background(), bob)
			return r == nil
		})
		if got := testutil.ToFloat64(e.s.m.push.removed.WithLabelValues("gone")); got != 1 {
			t.Fatalf("removed{gone} %v", got)
		}
	})
	t.Run("retry after", func(t *testing.T) {
		sub := e.svc.NewSubscription()
		e.svc.SetFault(sub, webpushtest.Fault{Status: 429, RetryAfter: "1"})
		start := time.Now()
		e.registerOffline(t, "bob", sub)
		a.sendEnv(2, []byte("y"), bob)
		waitLonger(t, 5*time.Second, func() bool {
			r, _ := e.q.Push(context.Background(), bob)
			return r != nil && r.Failures == 1
		})
		e.svc.SetFault(sub, webpushtest.Fault{})
		waitLonger(t, 5*time.Second, func() bool { return len(e.svc.Messages(sub)) == 1 })
		if d := time.Since(start); d < time.Second {
			t.Fatalf("retried after %v, before the service's Retry-After of 1 s", d)
		}
		waitLonger(t, 5*time.Second, func() bool {
			r, _ := e.q.Push(context.Background(), bob)
			return r != nil && r.Failures == 0 && r.Woken != 0
		})
	})
	t.Run("failures", func(t *testing.T) {
		e.gw.setErr(func(int) error { return errors.New("refused") })
		c, _ := e.connect("bob", 1)
		if st := c.setPush(&wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_GATEWAY, Endpoint: testGateway, Token: []byte("t")}}}); st != wire.PushStatus_PUSH_STATUS_OK {
			t.Fatal(st)
		}
		c.ws.CloseNow()
		waitLonger(t, 5*time.Second, func() bool {
			r, _ := e.q.Push(context.Background(), bob)
			return r == nil
		})
		if n := e.gw.count(); n != 3 {
			t.Fatalf("%d tries before the registration was removed, want MaxFailures = 3", n)
		}
		if got := testutil.ToFloat64(e.s.m.push.removed.WithLabelValues("failures")); got != 1 {
			t.Fatalf("removed{failures} %v", got)
		}
		if got := testutil.ToFloat64(e.s.m.push.wakes.WithLabelValues("gateway", "failed")); got != 3 {
			t.Fatalf("wakeups{gateway, failed} %v", got)
		}
	})
}

// A relay stopped with a wake-up owed sends it after it restarts
// (spec/push.md §3.4): the store, not memory, holds what is owed.
func TestWakeOwedSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	svc := webpushtest.New(t)
	vkey, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	// The first relay waits an hour before it wakes anyone.
	e := startPushRelay(t, path, vkey, svc, PushConfig{Interval: time.Hour, Delay: time.Hour})
	sub := svc.NewSubscription()
	e.registerOffline(t, "bob", sub)
	a, _ := e.connect("alice", 1)
	a.sendEnv(1, []byte("x"), addr("bob", 1))
	e.stop()
	if n := len(svc.Messages(sub)); n != 0 {
		t.Fatalf("%d wake-ups before the restart", n)
	}
	e2 := startPushRelay(t, path, vkey, svc, PushConfig{Interval: time.Hour})
	waitLonger(t, 5*time.Second, func() bool { return len(svc.Messages(sub)) == 1 })
	// Delivered: a second restart owes nothing.
	e2.stop()
	startPushRelay(t, path, vkey, svc, PushConfig{Interval: time.Hour})
	time.Sleep(300 * time.Millisecond)
	if n := len(svc.Messages(sub)); n != 1 {
		t.Fatalf("%d wake-ups after a second restart, want still 1", n)
	}
}

// A push service that hangs holds at most a quarter of the workers, each
// until the timeout; sends are answered at their usual speed meanwhile,
// and devices of other push services are woken at once (spec/push.md
// §3.3). Shutdown does not wait for the hanging requests.
func TestWakeHangingServiceBlocksNothing(t *testing.T) {
	good := webpushtest.New(t)
	e := startPushRelay(t, filepath.Join(t.TempDir(), "relay.db"), nil, nil, PushConfig{Interval: time.Hour, Timeout: time.Minute, Workers: 4}, good)
	a, _ := e.connect("alice", 1)
	var stuck []webpush.Subscription
	for i := range 6 {
		sub := e.svc.NewSubscription()
		e.svc.SetFault(sub, webpushtest.Fault{Hang: true})
		h := fmt.Sprintf("stuck%d", i)
		e.registerOffline(t, h, sub)
		stuck = append(stuck, sub)
		a.sendEnv(byte(i), []byte("x"), addr(h, 1))
	}
	ok := good.NewSubscription()
	e.registerOffline(t, "carol", ok)
	time.Sleep(100 * time.Millisecond) // the stuck wake-ups hang
	start := time.Now()
	for i := range 20 {
		a.sendEnv(byte(10+i), []byte("y"), addr("carol", 1))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20 sends took %v while a push service hung", d)
	}
	waitLonger(t, 2*time.Second, func() bool { return len(good.Messages(ok)) == 1 })
	stopped := make(chan struct{})
	go func() { e.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown waits for wake-ups hanging at a push service")
	}
	// Stopped, not failed: the registrations are owed still, no failure counted.
	q, err := sqlite.Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := range stuck {
		r, err := q.Push(context.Background(), addr(fmt.Sprintf("stuck%d", i), 1))
		if err != nil || r == nil || r.Failures != 0 {
			t.Fatalf("stuck%d after shutdown: %+v, %v", i, r, err)
		}
	}
}
