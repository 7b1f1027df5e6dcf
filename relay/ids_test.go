package relay

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/wire"
)

// Envelope ids are per mailbox (spec/relay.md §8.1): the ids a device is
// delivered reveal nothing of other mailboxes' traffic. Exactly: bob is
// delivered five envelopes on two fresh relays; on one, carol is delivered
// 1, 2, 3, 4, 5 envelopes after bob's first, second, ...; the ids bob is
// delivered must be equal on both. On SQLite and on PostgreSQL.
func TestEnvelopeIDsRevealNoOtherTraffic(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			run := func(busy bool) []uint64 {
				var e *relayEnv
				if engine == "sqlite" {
					e = startRelay(t, Limits{})
				} else {
					e = startPGNode(t, pgtest.DSN(t), newClock()).relayEnv
				}
				bob, carol := addr("bob", 1), addr("carol", 2)
				b, _ := e.connect("bob", 1)
				c, _ := e.connect("carol", 2)
				a, _ := e.connect("alice", 7)
				var ids []uint64
				msg := byte(0)
				for r := range 5 {
					msg++
					a.sendEnv(msg, fmt.Appendf(nil, "bob %d", r), bob)
					d := b.deliveries(1)[0]
					if string(d.Envelope) != fmt.Sprintf("bob %d", r) {
						t.Fatalf("bob got %q", d.Envelope)
					}
					ids = append(ids, d.Id)
					b.ack(d.Id)
					if !busy {
						continue
					}
					for i := range r + 1 {
						msg++
						a.sendEnv(msg, fmt.Appendf(nil, "carol %d %d", r, i), carol)
						c.ack(c.deliveries(1)[0].Id)
					}
				}
				return ids
			}
			quiet, busy := run(false), run(true)
			if !slices.Equal(quiet, busy) {
				t.Fatalf("bob's ids depend on carol's traffic: %v with envelopes for carol between them, %v without", busy, quiet)
			}
		})
	}
}

// A device delivered envelopes by one node that reconnects to another
// carries its acks there (spec/relay.md §8.3, §12): the other node takes
// them, whatever node gave the ids; acks of ids the mailbox does not hold
// (another mailbox's, never given, out of range) change nothing and end
// nothing.
func TestAcksCarriedAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	clk := newClock()
	n1, n2 := startPGNode(t, dsn, clk), startPGNode(t, dsn, clk)
	bob, carol := addr("bob", 1), addr("carol", 2)
	b, _ := n1.connect("bob", 1)
	c, _ := n2.connect("carol", 2)
	a, _ := n2.connect("alice", 7)
	for i := range 4 {
		a.sendEnv(byte(i), fmt.Appendf(nil, "bob %d", i), bob)
		a.sendEnv(byte(10+i), fmt.Appendf(nil, "carol %d", i), carol)
	}
	first := collect(t, b, 4, crossNodeDelay)
	carols := collect(t, c, 4, crossNodeDelay)
	b.ws.CloseNow()

	// On node 2: the same envelopes, ids and order, from the lowest.
	b, _ = n2.connect("bob", 1)
	again := collect(t, b, 4, crossNodeDelay)
	for i := range again {
		if again[i].Id != first[i].Id || string(again[i].Envelope) != string(first[i].Envelope) {
			t.Fatalf("redelivery %d on node 2: id %d %q, node 1 gave id %d %q",
				i, again[i].Id, again[i].Envelope, first[i].Id, first[i].Envelope)
		}
	}
	// Forged acks first: carol's ids bob does not have, ids never given.
	var forged []uint64
	for _, d := range carols {
		if !slices.ContainsFunc(first, func(x *wire.Delivery) bool { return x.Id == d.Id }) {
			forged = append(forged, d.Id)
		}
	}
	forged = append(forged, first[3].Id+1, first[3].Id+1000, math.MaxInt64, math.MaxUint64)
	b.ack(forged...)
	// Then node 1's ids, carried: two of them.
	b.ack(first[0].Id, first[2].Id)
	waitFor(t, func() bool { return n1.depth(bob) == 2 })
	if got := n1.depth(carol); got != 4 {
		t.Fatalf("carol's queue depth %d after bob's acks, want 4", got)
	}
	// The connection lives on: a new envelope is pushed to it.
	a.sendEnv(20, []byte("late"), bob)
	if d := collect(t, b, 1, crossNodeDelay); string(d[0].Envelope) != "late" || d[0].Id <= first[3].Id {
		t.Fatalf("after the acks: %q id %d", d[0].Envelope, d[0].Id)
	}
	b.ws.CloseNow()
	b, _ = n1.connect("bob", 1)
	rest := collect(t, b, 3, crossNodeDelay)
	if rest[0].Id != first[1].Id || rest[1].Id != first[3].Id || string(rest[2].Envelope) != "late" {
		t.Fatalf("on node 1 again: ids %d %d %q", rest[0].Id, rest[1].Id, rest[2].Envelope)
	}
	b.quiet(200 * time.Millisecond)
}
