package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/push/egress"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/push/webpush/webpushtest"
	"github.com/sealpost/sealpost/relay/store/postgres"
)

// startPGPushNode starts a relay node with wake-ups on the database at
// dsn, sending Web Push to svc with vkey.
func startPGPushNode(t *testing.T, dsn string, svc *webpushtest.Server, vkey *webpush.VAPIDKey, pc PushConfig) *pgNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pq, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := webpush.NewSender(webpush.SenderConfig{
		Key: vkey, Subject: "mailto:ops@relay.example",
		Client: egress.NewClient(egress.Config{AllowPrivate: true, RootCAs: svc.CertPool()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	pc.WebPush = WebPushWaker(sender, time.Hour)
	pc.CheckEndpoint = func(u string) error { return egress.CheckURL(u, true) }
	pc.VAPIDPublicKey = vkey.PublicKey()
	clk := newClock()
	s, err := New(Config{
		Name: relayName, Queue: pq, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)},
		Now: time.Now, Registerer: prometheus.NewRegistry(), Push: &pc,
	})
	if err != nil {
		pq.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	n := &pgNode{relayEnv: &relayEnv{
		t: t, s: s, srv: srv, url: "wss" + strings.TrimPrefix(srv.URL, "https") + Path, clock: clk, lim: s.lim, closed: true,
	}, pq: pq}
	t.Cleanup(n.stop)
	return n
}

// Two relay nodes share one PostgreSQL database (spec/push.md §3.1,
// §3.2): a device connected to one node, getting mail stored by the
// other, is not woken (the other node waits Delay, and finds the mail
// acked); when both nodes owe the same device a wake-up at once, it gets
// one, not two.
func TestWakeAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	svc := webpushtest.New(t)
	vkey, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	svc.ExpectVAPID(vkey.PublicKey())
	pc := PushConfig{Interval: time.Hour, Delay: 500 * time.Millisecond}
	n1 := startPGPushNode(t, dsn, svc, vkey, pc)
	n2 := startPGPushNode(t, dsn, svc, vkey, pc)
	bob := addr("bob", 1)
	sub := svc.NewSubscription()

	b, _ := n2.connect("bob", 1)
	if st := b.setPush(setPushFrame(sub)); st != 1 {
		t.Fatalf("SetPush: %v", st)
	}
	a, _ := n1.connect("alice", 1)
	for i := range 5 {
		a.sendEnv(byte(i), []byte{byte(i)}, bob)
		d := b.deliveries(1)
		b.ack(d[0].Id)
	}
	waitFor(t, func() bool { return n1.depth(bob) == 0 })
	time.Sleep(time.Second) // past Delay
	if n := len(svc.Messages(sub)); n != 0 {
		t.Fatalf("%d wake-ups for a device connected to the other node", n)
	}

	// Bob leaves node 2 with an envelope unacked, while node 1 stores
	// another: both nodes owe him a wake-up; the store lets one claim it.
	a.sendEnv(10, []byte("x"), bob)
	b.deliveries(1)
	b.ws.CloseNow()
	a.sendEnv(11, []byte("y"), bob)
	waitLonger(t, 5*time.Second, func() bool { return len(svc.Messages(sub)) == 1 })
	time.Sleep(time.Second)
	if n := len(svc.Messages(sub)); n != 1 {
		t.Fatalf("%d wake-ups from two nodes within the interval, want 1", n)
	}
	sent := testutil.ToFloat64(n1.s.m.push.wakes.WithLabelValues("web_push", "delivered")) +
		testutil.ToFloat64(n2.s.m.push.wakes.WithLabelValues("web_push", "delivered"))
	if sent != 1 {
		t.Fatalf("the nodes count %v delivered wake-ups", sent)
	}
}
