package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/push/egress"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/push/webpush/webpushtest"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

const testGateway = "https://gw.example"

// gatewayWaker records the gateway wake-ups the relay sends.
type gatewayWaker struct {
	mu    sync.Mutex
	calls []store.PushTarget
}

func (w *gatewayWaker) Wake(_ context.Context, t store.PushTarget) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, t)
	return nil
}

func (w *gatewayWaker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

// pushServers starts the servers with wake-ups on: Web Push to svc (a
// real test push service over TLS that decrypts what it gets), gateway
// wake-ups to gw, at most one per device every interval.
func pushServers(t *testing.T, interval time.Duration) (*servers, *webpushtest.Server, *gatewayWaker, *webpush.VAPIDKey) {
	t.Helper()
	svc := webpushtest.New(t)
	vkey, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	svc.ExpectVAPID(vkey.PublicKey())
	sender, err := webpush.NewSender(webpush.SenderConfig{
		Key: vkey, Subject: "mailto:ops@relay.example",
		Client: egress.NewClient(egress.Config{AllowPrivate: true, RootCAs: svc.CertPool()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := &gatewayWaker{}
	s := startServersWith(t, engineSQLite, func(c *relay.Config) {
		c.Push = &relay.PushConfig{
			WebPush:        relay.WebPushWaker(sender, time.Hour),
			CheckEndpoint:  func(u string) error { return egress.CheckURL(u, true) },
			VAPIDPublicKey: vkey.PublicKey(),
			Gateways:       []string{testGateway},
			Gateway:        gw,
			Interval:       interval,
		}
	})
	return s, svc, gw, vkey
}

// registration returns the relay's push registration of handle's device.
func (s *servers) registration(t *testing.T, handle string, device uint32) *store.PushRegistration {
	t.Helper()
	r, err := s.q.(store.PushQueue).Push(ctxT(t), wire.FormatAddress(handle, device))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPushWakeThenSync (issue 18, end to end): bob registers a Web Push
// subscription of a test push service and goes offline; alice sends 50
// messages; the push service gets between 1 and a handful of wake-ups,
// each only the wake marker; bob, woken, opens and Syncs, and gets all 50
// once.
func TestPushWakeThenSync(t *testing.T) {
	s, svc, _, vkey := pushServers(t, time.Second)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	device := bob.DeviceID()
	ctx := ctxT(t)

	info, err := bob.PushInfo(ctx)
	if err != nil {
		t.Fatalf("PushInfo: %v", err)
	}
	if string(info.VAPIDPublicKey) != string(vkey.PublicKey()) || len(info.Gateways) != 1 || info.Gateways[0] != testGateway || info.WakeInterval != time.Second {
		t.Errorf("PushInfo = %+v", info)
	}
	sub := svc.NewSubscription()
	if err := bob.SetPush(ctx, &PushTarget{Kind: PushWebPush, Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}); err != nil {
		t.Fatalf("SetPush: %v", err)
	}
	if r := s.registration(t, "bob", device); r == nil || r.Target.Endpoint != sub.Endpoint {
		t.Fatalf("relay's registration: %+v", r)
	}
	bob.Close()

	const n = 50
	start := time.Now()
	for i := range n {
		send(t, alice, "bob", fmt.Sprint("while away ", i))
	}
	waitFor(t, func() bool { return len(svc.Messages(sub)) > 0 })
	time.Sleep(1500 * time.Millisecond) // room for more wake-ups, if any came
	// At most one per interval (1 s) while mail waits, however many
	// messages: the sends take longer under the race detector.
	wakes := svc.Messages(sub)
	if most := int(time.Since(start)/time.Second) + 2; len(wakes) < 1 || len(wakes) > most {
		t.Errorf("%d wake-ups for %d messages in %v, want 1 to %d", len(wakes), n, time.Since(start).Round(time.Millisecond), most)
	}
	for _, w := range wakes {
		if string(w.Plaintext) != webpush.WakeMarker {
			t.Errorf("wake-up carries %q, want only the marker", w.Plaintext)
		}
	}

	// Woken: Open, Sync, read, Close.
	bob = s.open(bobDir)
	got, err := bob.Sync(ctx)
	if err != nil || got != n {
		t.Fatalf("Sync = %d, %v; want %d", got, err, n)
	}
	seen := map[string]bool{}
	for range n {
		m := recv(t, bob)
		if seen[string(m.Plaintext)] {
			t.Fatalf("%q twice", m.Plaintext)
		}
		seen[string(m.Plaintext)] = true
	}
	noMessage(t, bob, 300*time.Millisecond)
	waitFor(t, func() bool { return s.mailbox(t, "bob", device) == 0 })
}

// TestSetPushRefusedKeepsTarget: a refused target is a *PushRefusedError
// wrapping ErrPushRefused with the reason, and neither the relay nor the
// store changes; a malformed one is ErrInvalidPushTarget; nil removes
// the registration; Config.Push registers by itself on every Open.
func TestSetPushRefusedKeepsTarget(t *testing.T) {
	s, _, gw, _ := pushServers(t, time.Second)
	bob, bobDir := s.newUserDir("bob")
	device := bob.DeviceID()
	ctx := ctxT(t)
	good := &PushTarget{Kind: PushGateway, Endpoint: testGateway, Token: []byte("apns-device-token")}
	if err := bob.SetPush(ctx, good); err != nil {
		t.Fatalf("SetPush: %v", err)
	}
	err := bob.SetPush(ctx, &PushTarget{Kind: PushGateway, Endpoint: "https://other.example", Token: []byte("x")})
	var refused *PushRefusedError
	if !errors.As(err, &refused) || refused.Status != PushGatewayUnknown || !errors.Is(err, ErrPushRefused) {
		t.Fatalf("unknown gateway: %v, want PushRefusedError{gateway unknown}", err)
	}
	if r := s.registration(t, "bob", device); r == nil || string(r.Target.Token) != "apns-device-token" {
		t.Errorf("relay's registration after a refusal: %+v", r)
	}
	bob.store.View(ctx, func(tx localstore.Tx) error {
		p, err := tx.PushTarget()
		if err != nil || p.Endpoint != testGateway || string(p.Token) != "apns-device-token" || p.Status != uint8(wire.PushStatus_PUSH_STATUS_OK) {
			t.Errorf("stored target after a refusal: %+v, %v", p, err)
		}
		return nil
	})
	for _, bad := range []*PushTarget{
		{Kind: PushWebPush, Endpoint: "https://push.example/x", P256dh: make([]byte, 65), Auth: make([]byte, 16)}, // not a point
		{Kind: PushWebPush, Endpoint: "http://push.example/x", P256dh: append([]byte{4}, make([]byte, 64)...), Auth: make([]byte, 16)},
		{Kind: PushGateway, Endpoint: testGateway},
		{Kind: 9, Endpoint: testGateway, Token: []byte("x")},
	} {
		if err := bob.SetPush(ctx, bad); !errors.Is(err, ErrInvalidPushTarget) {
			t.Errorf("SetPush(%+v): %v, want ErrInvalidPushTarget", bad, err)
		}
	}

	// Offline with mail: the gateway is asked to wake bob.
	bob.Close()
	alice := s.newUser("alice")
	send(t, alice, "bob", "ping")
	waitFor(t, func() bool { return gw.count() > 0 })

	// Config.Push: sent after Open without SetPush.
	cfg := s.config(bobDir)
	cfg.Push = &PushTarget{Kind: PushGateway, Endpoint: testGateway, Token: []byte("fcm-token")}
	bob2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	waitFor(t, func() bool {
		r := s.registration(t, "bob", device)
		return r != nil && string(r.Target.Token) == "fcm-token"
	})
	if err := bob2.SetPush(ctx, nil); err != nil {
		t.Fatalf("SetPush(nil): %v", err)
	}
	if r := s.registration(t, "bob", device); r != nil {
		t.Errorf("registration after SetPush(nil): %+v", r)
	}
	bob2.store.View(ctx, func(tx localstore.Tx) error {
		if _, err := tx.PushTarget(); !errors.Is(err, localstore.ErrNotFound) {
			t.Errorf("stored target after SetPush(nil): %v, want ErrNotFound", err)
		}
		return nil
	})

	bad := s.config(t.TempDir())
	bad.Push = &PushTarget{Kind: PushGateway, Endpoint: testGateway}
	if _, err := Open(ctx, bad); !errors.Is(err, ErrInvalidPushTarget) {
		t.Errorf("Open with a gateway target without token: %v, want ErrInvalidPushTarget", err)
	}
}

// TestPushDisabledRelay: a relay without wake-ups answers a target
// disabled; PushInfo says it sends none; removing is no error.
func TestPushDisabledRelay(t *testing.T) {
	s := startServers(t, engineSQLite)
	bob := s.newUser("bob")
	ctx := ctxT(t)
	err := bob.SetPush(ctx, &PushTarget{Kind: PushGateway, Endpoint: testGateway, Token: []byte("t")})
	var refused *PushRefusedError
	if !errors.As(err, &refused) || refused.Status != PushDisabled || !errors.Is(err, ErrPushRefused) {
		t.Fatalf("SetPush on a relay without push: %v, want PushRefusedError{disabled}", err)
	}
	info, err := bob.PushInfo(ctx)
	if err != nil || info.WakeInterval != 0 || info.VAPIDPublicKey != nil || len(info.Gateways) != 0 {
		t.Errorf("PushInfo = %+v, %v; want nothing", info, err)
	}
	if err := bob.SetPush(ctx, nil); err != nil {
		t.Errorf("SetPush(nil): %v", err)
	}
}

// TestPushRefusedAfterConnect: a target the relay refuses after a
// connect (Config.Push naming a gateway this relay does not know) is
// reported once, as EventPushRefused with the reason, and nothing is
// registered.
func TestPushRefusedAfterConnect(t *testing.T) {
	s, _, _, _ := pushServers(t, time.Second)
	first, dir := s.newUserDir("bob")
	first.Close()
	cfg := s.config(dir)
	cfg.Push = &PushTarget{Kind: PushGateway, Endpoint: "https://other-gateway.example", Token: []byte("t")}
	bob, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	e := waitEvent(t, bob, EventPushRefused)
	var refused *PushRefusedError
	if !errors.As(e.Err, &refused) || refused.Status != PushGatewayUnknown || !errors.Is(e.Err, ErrPushRefused) {
		t.Fatalf("EventPushRefused error %v, want PushRefusedError{gateway unknown}", e.Err)
	}
	if r := s.registration(t, "bob", bob.DeviceID()); r != nil {
		t.Fatalf("registration %+v", r)
	}
}
