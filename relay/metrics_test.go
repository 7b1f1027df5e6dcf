package relay

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

// The metrics count connections, sends, stored envelopes, refusals,
// deliveries and acks.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s, err := New(Config{Name: relayName, Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}, Registerer: reg, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := serveRelay(t, q, s, clk)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	if got := testutil.ToFloat64(s.m.connections); got != 2 {
		t.Fatalf("connections %v", got)
	}
	r := a.sendEnv(1, []byte("x"), addr("bob", 1), addr("nobody", 1))
	if r.Statuses[1] != wire.Status_STATUS_NO_MAILBOX {
		t.Fatal(r)
	}
	d := b.deliveries(1)
	b.ack(d[0].Id)
	waitFor(t, func() bool { return testutil.ToFloat64(s.m.acks) == 1 })
	for name, want := range map[string]float64{
		"sends": testutil.ToFloat64(s.m.sends), "stored": testutil.ToFloat64(s.m.stored),
		"deliveries": testutil.ToFloat64(s.m.deliveries), "no-mailbox": testutil.ToFloat64(s.m.refusals.WithLabelValues("no_mailbox")),
	} {
		if want != 1 {
			t.Errorf("%s = %v, want 1", name, want)
		}
	}
	if n := testutil.CollectAndCount(s.m.storeTime); n < 3 {
		t.Errorf("store latency series %d, want open, send, fetch, ack", n)
	}
	b.ws.CloseNow()
	waitFor(t, func() bool { return testutil.ToFloat64(s.m.connections) == 1 })
}
