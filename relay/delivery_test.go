package relay

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

// The walk of spec/relay.md §1: send to an offline device (whose mailbox
// exists since it authenticated once), connect, receive in order, ack,
// reconnect and receive nothing again.
func TestOfflineDeliveryAckReconnect(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1) // creates bob's mailbox
	b.ws.CloseNow()

	a, hello := e.connect("alice", 7)
	if hello.Limits.MaxEnvelope != wire.DefaultMaxEnvelope || hello.Limits.DeliveryWindow != 128 ||
		hello.HeartbeatIntervalMs != 30000 || hello.IdleTimeoutMs != 90000 || hello.Limits.TtlSeconds != 30*24*3600 {
		t.Fatalf("Hello %v", hello)
	}
	if d := time.UnixMilli(int64(hello.ServerTimeUnixMs)).Sub(e.clock.Now()); d < -time.Second || d > time.Second {
		t.Fatalf("server time off by %v", d)
	}
	for i := range 5 {
		r := a.sendEnv(byte(i), fmt.Appendf(nil, "envelope %d", i), bob)
		if len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED || r.Duplicate {
			t.Fatalf("send %d: %v", i, r)
		}
	}
	if st := e.depth(bob); st.Count != 5 {
		t.Fatalf("queue depth %d, want 5", st.Count)
	}

	b, _ = e.connect("bob", 1)
	ds := b.deliveries(5)
	for i, d := range ds {
		if want := fmt.Appendf(nil, "envelope %d", i); !bytes.Equal(d.Envelope, want) {
			t.Fatalf("delivery %d: %q, want %q", i, d.Envelope, want)
		}
		if i > 0 && d.Id <= ds[i-1].Id {
			t.Fatalf("ids not increasing: %d after %d", d.Id, ds[i-1].Id)
		}
		if d.ArrivedUnixMs != uint64(e.clock.Now().UnixMilli()) {
			t.Fatalf("arrived %d, want %d", d.ArrivedUnixMs, e.clock.Now().UnixMilli())
		}
	}
	var ids []uint64
	for _, d := range ds {
		ids = append(ids, d.Id)
	}
	b.ack(ids...)
	waitFor(t, func() bool { return e.depth(bob).Count == 0 })
	b.ws.CloseNow()

	b, _ = e.connect("bob", 1)
	b.quiet(300 * time.Millisecond)

	// Online now: a new send is pushed at once.
	a.sendEnv(9, []byte("live"), bob)
	if d := b.deliveries(1); string(d[0].Envelope) != "live" {
		t.Fatalf("live delivery %q", d[0].Envelope)
	}
}

// Envelopes delivered and not acked come again on the next connection,
// from the lowest id; acked ones do not.
func TestUnackedRedelivered(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	for i := range 4 {
		a.sendEnv(byte(i), []byte{byte(i)}, bob)
	}
	ds := b.deliveries(4)
	b.ack(ds[1].Id)
	waitFor(t, func() bool { return e.depth(bob).Count == 3 })
	b.ws.CloseNow()

	b, _ = e.connect("bob", 1)
	again := b.deliveries(3)
	for i, want := range []byte{0, 2, 3} {
		if again[i].Envelope[0] != want || again[i].Id != ds[want].Id {
			t.Fatalf("redelivery %d: envelope %d id %d", i, again[i].Envelope[0], again[i].Id)
		}
	}
}

// At most DeliveryWindow envelopes are outstanding; acks let more through.
func TestDeliveryWindow(t *testing.T) {
	e := startRelay(t, Limits{DeliveryWindow: 3})
	bob := addr("bob", 1)
	b, hello := e.connect("bob", 1)
	if hello.Limits.DeliveryWindow != 3 {
		t.Fatalf("window %d", hello.Limits.DeliveryWindow)
	}
	a, _ := e.connect("alice", 1)
	for i := range 7 {
		a.sendEnv(byte(i), []byte{byte(i)}, bob)
	}
	ds := b.deliveries(3)
	b.quiet(200 * time.Millisecond)
	b.ack(ds[0].Id, ds[0].Id, 999999) // repeats and unknown ids are ignored
	more := b.deliveries(1)
	if more[0].Envelope[0] != 3 {
		t.Fatalf("next delivery %d, want 3", more[0].Envelope[0])
	}
	b.quiet(200 * time.Millisecond)
	b.ack(ds[1].Id, ds[2].Id, more[0].Id)
	rest := b.deliveries(3)
	for i, d := range rest {
		if d.Envelope[0] != byte(4+i) {
			t.Fatalf("delivery %d: %d", i, d.Envelope[0])
		}
	}
}

// A new connection for an address replaces the old one (spec/relay.md
// §8.4), which gets Error{replaced} and a normal close; the new one gets
// the outstanding envelopes again.
func TestReplaced(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	old, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	a.sendEnv(1, []byte("x"), bob)
	old.deliveries(1)
	nu, _ := e.connect("bob", 1)
	old.expectError(wire.ErrorCode_ERROR_CODE_REPLACED, 1000)
	if d := nu.deliveries(1); string(d[0].Envelope) != "x" {
		t.Fatalf("redelivery %q", d[0].Envelope)
	}
	// The new connection is the one wake-ups reach.
	a.sendEnv(2, []byte("y"), bob)
	if d := nu.deliveries(1); string(d[0].Envelope) != "y" {
		t.Fatalf("live delivery %q", d[0].Envelope)
	}
}

// A sender may be its own recipient, and one send may hold several items.
func TestSendToSelfAndMany(t *testing.T) {
	e := startRelay(t, Limits{})
	a, _ := e.connect("alice", 1)
	b, _ := e.connect("bob", 2)
	r := a.sendEnv(1, []byte("hi"), addr("alice", 1), addr("bob", 2), addr("carol", 1))
	want := []wire.Status{wire.Status_STATUS_STORED, wire.Status_STATUS_STORED, wire.Status_STATUS_NO_MAILBOX}
	for i, st := range r.Statuses {
		if st != want[i] {
			t.Fatalf("statuses %v, want %v", r.Statuses, want)
		}
	}
	if d := a.deliveries(1); string(d[0].Envelope) != "hi" {
		t.Fatal("self delivery")
	}
	if d := b.deliveries(1); string(d[0].Envelope) != "hi" {
		t.Fatal("bob delivery")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Pipelined sends are each answered once (in any order, matched by message
// id), and every envelope answered stored arrives in order.
func TestPipelinedSends(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	const n = 300
	for i := range n {
		m := &wire.Send{MessageId: make([]byte, 16), Items: []*wire.Item{{Recipient: bob, Envelope: []byte{byte(i), byte(i >> 8)}}}}
		m.MessageId[0], m.MessageId[1] = byte(i), byte(i>>8)
		a.send(&wire.Frame{Body: &wire.Frame_Send{Send: m}})
	}
	seen := make(map[int]bool)
	for len(seen) < n {
		r := a.read().GetSendResult()
		if r == nil || r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("answer %v", r)
		}
		id := int(r.MessageId[0]) | int(r.MessageId[1])<<8
		if seen[id] {
			t.Fatalf("send %d answered twice", id)
		}
		seen[id] = true
	}
	// Receive all, acking as they come; envelope order is the store's
	// (arrival) order, ids strictly increasing.
	var last uint64
	got := 0
	for got < n {
		f := b.read()
		d := f.GetDeliver()
		if d == nil {
			t.Fatalf("got %v", f)
		}
		var ids []uint64
		for _, dl := range d.Deliveries {
			if dl.Id <= last {
				t.Fatalf("id %d after %d", dl.Id, last)
			}
			last = dl.Id
			ids = append(ids, dl.Id)
		}
		got += len(ids)
		b.ack(ids...)
	}
	waitFor(t, func() bool { return e.depth(bob).Count == 0 })
}

// A relay served by an http.Server with read and write timeouts keeps its
// WebSockets past them: the relay clears the deadlines a hijacked
// connection inherits.
func TestServerTimeoutsDoNotApply(t *testing.T) {
	q, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s, err := New(Config{Name: relayName, Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	// Long enough for a TLS handshake on a loaded machine (-race), short
	// enough to pass well before the sleep below ends.
	srv.Config.ReadTimeout = 500 * time.Millisecond
	srv.Config.WriteTimeout = 500 * time.Millisecond
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	e := &relayEnv{t: t, q: q, s: s, srv: srv, url: "wss" + strings.TrimPrefix(srv.URL, "https") + Path, clock: clk, lim: s.lim}
	t.Cleanup(e.stop)
	b, _ := e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	time.Sleep(1500 * time.Millisecond)
	a.sendEnv(1, []byte("late"), addr("bob", 1))
	if d := b.deliveries(1); string(d[0].Envelope) != "late" {
		t.Fatalf("delivered %q", d[0].Envelope)
	}
}
