package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store/postgres"
	"github.com/sealpost/sealpost/relay/wire"
)

// crossNodeDelay bounds a delivery across nodes: the relay never polls, so
// only a LISTEN/NOTIFY wake-up from the other node delivers in time.
const crossNodeDelay = 3 * time.Second

// pgNode is one relay node on its own PostgreSQL Queue, served over TLS 1.3.
type pgNode struct {
	*relayEnv
	pq  *postgres.Queue
	tap *tapQueue
}

// startPGNode starts a relay node on the database at dsn; the node is shut
// down and its Queue closed when the test ends.
func startPGNode(t *testing.T, dsn string, clk *clock) *pgNode {
	t.Helper()
	return startPGNodeWith(t, dsn, clk, Limits{})
}

// startPGNodeWith is startPGNode with limits lim.
func startPGNodeWith(t *testing.T, dsn string, clk *clock, lim Limits) *pgNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pq, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapQueue{Queue: pq}
	s, err := New(Config{
		Name: relayName, Queue: tap, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}, Now: clk.Now, Limits: lim,
		EphemeralBus: pq, Links: pq, Registerer: prometheus.NewRegistry(),
		SendTokens: testSendTokens().v,
	})
	if err != nil {
		pq.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	// closed: relayEnv.stop would close a SQLite queue; pgNode.stop does.
	n := &pgNode{relayEnv: &relayEnv{
		t: t, s: s, srv: srv, url: "wss" + strings.TrimPrefix(srv.URL, "https") + Path, clock: clk, lim: s.lim, closed: true,
	}, pq: pq, tap: tap}
	t.Cleanup(n.stop)
	return n
}

func (n *pgNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.s.Shutdown(ctx); err != nil {
		n.t.Errorf("Shutdown: %v", err)
	}
	n.srv.Close()
	if err := n.pq.Close(); err != nil {
		n.t.Errorf("Close: %v", err)
	}
}

func (n *pgNode) depth(a []byte) int {
	n.t.Helper()
	st, err := n.pq.Stats(context.Background(), a)
	if err != nil {
		n.t.Fatal(err)
	}
	return st.Count
}

// collect reads deliveries until it has want of them, failing if they take
// longer than d in all.
func collect(t *testing.T, c *client, want int, d time.Duration) []*wire.Delivery {
	t.Helper()
	deadline := time.Now().Add(d)
	var out []*wire.Delivery
	for len(out) < want {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("%d of %d deliveries within %v: %v", len(out), want, d, err)
		}
		dl := f.GetDeliver()
		if dl == nil {
			t.Fatalf("want Deliver, got %v", f)
		}
		out = append(out, dl.Deliveries...)
	}
	if len(out) != want {
		t.Fatalf("got %d deliveries, want %d", len(out), want)
	}
	return out
}

// Two relay nodes sharing one PostgreSQL database (spec/relay.md §12): a
// device connected to one receives at once what is sent through the
// other, acks hold on both, and a retried send answered by one node is a
// duplicate on the other.
func TestNodesShareOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	clk := newClock()
	n1, n2 := startPGNode(t, dsn, clk), startPGNode(t, dsn, clk)
	bob, nobody := addr("bob", 1), addr("nobody", 9)

	b, _ := n1.connect("bob", 1)
	// Bob's first fetch (of nothing) is done: from now on node 1 fetches
	// for him only on a wake-up or an ack.
	waitFor(t, func() bool { return n1.tap.fetched.Load() >= 1 })
	a, _ := n2.connect("alice", 7) // creates alice's mailbox

	const count = 5
	start := time.Now()
	for i := range count {
		r := a.sendEnv(byte(i), fmt.Appendf(nil, "envelope %d", i), bob)
		if r.Duplicate || !slices.Equal(r.Statuses, []wire.Status{wire.Status_STATUS_STORED}) {
			t.Fatalf("send %d through node 2: %v", i, r)
		}
	}
	ds := collect(t, b, count, crossNodeDelay)
	t.Logf("%d envelopes across nodes in %v", count, time.Since(start))
	ids := make([]uint64, count)
	for i, d := range ds {
		if want := fmt.Sprintf("envelope %d", i); string(d.Envelope) != want {
			t.Fatalf("delivery %d: %q, want %q", i, d.Envelope, want)
		}
		if i > 0 && d.Id <= ids[i-1] {
			t.Fatalf("ids not increasing: %d after %d", d.Id, ids[i-1])
		}
		ids[i] = d.Id
	}
	b.ack(ids...)
	waitFor(t, func() bool { return n2.depth(bob) == 0 })
	b.quiet(100 * time.Millisecond)
	b.ws.CloseNow()

	// Acked on node 1: nothing comes again on node 2.
	b, _ = n2.connect("bob", 1)
	b.quiet(300 * time.Millisecond)

	// A retry through node 1 of a send node 2 answered is a duplicate with
	// the first answer, and stores nothing: of one acked already...
	a1, _ := n1.connect("alice", 7)
	if r := a1.sendEnv(0, []byte("envelope 0"), bob); !r.Duplicate ||
		!slices.Equal(r.Statuses, []wire.Status{wire.Status_STATUS_STORED}) {
		t.Fatalf("retry of an acked send through node 1: %v", r)
	}
	// ...and of one still queued, with a refused recipient.
	first := a.sendEnv(20, []byte("once"), bob, nobody)
	want := []wire.Status{wire.Status_STATUS_STORED, wire.Status_STATUS_NO_MAILBOX}
	if first.Duplicate || !slices.Equal(first.Statuses, want) {
		t.Fatalf("send through node 2: %v", first)
	}
	d := collect(t, b, 1, crossNodeDelay)
	if string(d[0].Envelope) != "once" {
		t.Fatalf("delivery %q, want %q", d[0].Envelope, "once")
	}
	if r := a1.sendEnv(20, []byte("once"), bob, nobody); !r.Duplicate || !slices.Equal(r.Statuses, want) {
		t.Fatalf("retry through node 1: %v, want duplicate %v", r, want)
	}
	b.quiet(300 * time.Millisecond)
	if got := n1.depth(bob); got != 1 {
		t.Fatalf("queue depth %d after the retry, want 1", got)
	}
	b.ack(d[0].Id)
	waitFor(t, func() bool { return n1.depth(bob) == 0 })
}
