package relay

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

const (
	stored = wire.Status_STATUS_STORED
	quota  = wire.Status_STATUS_QUOTA
)

func wantStatuses(t *testing.T, what string, r *wire.SendResult, dup bool, want ...wire.Status) {
	t.Helper()
	if !slices.Equal(r.Statuses, want) || r.Duplicate != dup {
		t.Fatalf("%s: statuses %v duplicate %v, want %v %v", what, r.Statuses, r.Duplicate, want, dup)
	}
	if q := slices.Contains(want, quota); q != (r.RetryAfterMs > 0) {
		t.Fatalf("%s: retry_after_ms %d", what, r.RetryAfterMs)
	}
}

// quotaLimits: a share of 4 envelopes of each mailbox (10% of 40).
var quotaLimits = Limits{MaxQueueCount: 40, QuotaSharePercent: 10}

// A send over quota is answered quota with a retry-after and stores
// nothing; a retry of the same id stores it once the share is free again
// (spec/relay.md §6.1, §7.2), whole or split, on both engines.
func TestQuotaRetrySameID(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testQuotaRetry(t, startRelay(t, quotaLimits)) })
	t.Run("postgres", func(t *testing.T) {
		testQuotaRetry(t, startPGNodeWith(t, pgtest.DSN(t), newClock(), quotaLimits).relayEnv)
	})
}

func testQuotaRetry(t *testing.T, e *relayEnv) {
	bob, carol := addr("bob", 1), addr("carol", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()
	e.connect("carol", 1)
	m, _ := e.connect("mallory", 1)

	r := m.sendEnv(1, []byte("j"), bob, bob, bob)
	wantStatuses(t, "3 of a share of 4", r, false, stored, stored, stored)

	// Split: one item fits the share, the next is over; carol's proceeds.
	r = m.sendEnv(2, []byte("s"), bob, bob, carol)
	wantStatuses(t, "split", r, false, stored, quota, stored)
	if r.RetryAfterMs != uint32(DefaultLimits().QuotaShareRetry.Milliseconds()) {
		t.Fatalf("share retry_after_ms %d", r.RetryAfterMs)
	}
	// Whole: every item over.
	r = m.sendEnv(3, []byte("w"), bob)
	wantStatuses(t, "whole", r, false, quota)
	if st := storeDepth(t, e, bob); st.Count != 4 {
		t.Fatalf("bob's queue %+v after refusals", st)
	}
	// Retries while over: nothing more stored. An item over quota is
	// answered quota whether or not an earlier attempt stored it (the
	// relay does not look); carol's is a duplicate.
	wantStatuses(t, "split retry", m.sendEnv(2, []byte("s"), bob, bob, carol), true, quota, quota, stored)
	wantStatuses(t, "whole retry", m.sendEnv(3, []byte("w"), bob), false, quota)
	if bc, cc := storeDepth(t, e, bob).Count, storeDepth(t, e, carol).Count; bc != 4 || cc != 1 {
		t.Fatalf("queues bob %d carol %d after retries", bc, cc)
	}

	// Bob comes online and acks everything: the share is free.
	b, _ = e.connect("bob", 1)
	var ids []uint64
	for _, d := range collect(t, b, 4, crossNodeDelay) {
		ids = append(ids, d.Id)
	}
	b.ack(ids...)
	waitFor(t, func() bool { return storeDepth(t, e, bob).Count == 0 })
	b.quiet(50e6)

	wantStatuses(t, "split retry after", m.sendEnv(2, []byte("s"), bob, bob, carol), false, stored, stored, stored)
	wantStatuses(t, "whole retry after", m.sendEnv(3, []byte("w"), bob), false, stored)
	// And again: all duplicates now, nothing stored twice.
	wantStatuses(t, "split again", m.sendEnv(2, []byte("s"), bob, bob, carol), true, stored, stored, stored)
	wantStatuses(t, "whole again", m.sendEnv(3, []byte("w"), bob), true, stored)
	if bc, cc := storeDepth(t, e, bob).Count, storeDepth(t, e, carol).Count; bc != 2 || cc != 1 {
		t.Fatalf("queues bob %d carol %d: want one envelope per send item", bc, cc)
	}
	got := collect(t, b, 2, crossNodeDelay)
	if string(got[0].Envelope) != "s" || string(got[1].Envelope) != "w" {
		t.Fatalf("bob got %q %q", got[0].Envelope, got[1].Envelope)
	}
}

// The rate per (sender, recipient account) counts envelopes: over it,
// quota with the time until the next token; other recipients and the
// sender's own devices are unaffected.
func TestQuotaRate(t *testing.T) {
	e := startRelay(t, Limits{QuotaRate: 1, QuotaBurst: 3})
	bob1, bob2, carol, self2 := addr("bob", 1), addr("bob", 2), addr("carol", 1), addr("alice", 2)
	e.connect("bob", 1)
	e.connect("bob", 2)
	e.connect("carol", 1)
	e.connect("alice", 2)
	a, _ := e.connect("alice", 1)
	// Three envelopes in one frame spend the burst toward bob's account,
	// whichever device.
	wantStatuses(t, "burst", a.sendEnv(1, []byte("x"), bob1, bob2, bob1), false, stored, stored, stored)
	r := a.sendEnv(2, []byte("x"), bob2, carol)
	wantStatuses(t, "over rate", r, false, quota, stored)
	if r.RetryAfterMs < 500 || r.RetryAfterMs > 1000 {
		t.Fatalf("retry_after_ms %d, want about 1 s", r.RetryAfterMs)
	}
	if n := storeDepth(t, e, bob2).Count; n != 1 {
		t.Fatalf("bob's device 2 holds %d", n)
	}
	// Own devices: never limited against the sender itself.
	for i := range 10 {
		wantStatuses(t, "own device", a.sendEnv(byte(10+i), []byte("o"), self2), false, stored)
	}
}

// Own sends are not limited by the share either: ten times the share to
// the sender's own other device.
func TestQuotaOwnDevicesExempt(t *testing.T) {
	e := startRelay(t, quotaLimits)
	e.connect("alice", 2)
	a, _ := e.connect("alice", 1)
	r := a.sendEnv(1, []byte("o"), repeatAddr(addr("alice", 2), 40)...)
	if slices.ContainsFunc(r.Statuses, func(s wire.Status) bool { return s != stored }) {
		t.Fatalf("own sends: %v", r.Statuses)
	}
}

// BenchmarkQuotaAdmitSettle: the quota accounting of one single-item send
// (admit, then settle as stored), alone, over 1000 (sender, recipient)
// pairs: its cost per envelope beside BenchmarkSendDeliverAck's.
func BenchmarkQuotaAdmitSettle(b *testing.B) {
	l := DefaultLimits()
	l.QuotaRate, l.QuotaBurst = 1<<30, 1<<30
	l.MaxQueueCount = 1 << 30
	q := newQuotas(l.withDefaults(), nil)
	const pairs = 1000
	items := make([][]store.Item, pairs)
	budgets := make([]senderBudget, pairs)
	for i := range pairs {
		items[i] = []store.Item{{Recipient: addr(fmt.Sprintf("rcpt%d", i%100), 1), Envelope: make([]byte, 1024)}}
		budgets[i] = accountBudget(fmt.Sprintf("sndr%d", i/100))
	}
	stored := func(int) bool { return true }
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		p := i % pairs
		a := q.admit(ctx, budgets[p], "", items[p], time.Now())
		q.settle(budgets[p], a, items[p], stored)
	}
}

// Two nodes sharing PostgreSQL (spec/relay.md §6.1): each node counts the
// shares it stored; a recipient that drains its mailbox on the other node
// frees the share at the next over-share item (the node reads the depth).
func TestQuotaShareAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	clk := newClock()
	n1, n2 := startPGNodeWith(t, dsn, clk, quotaLimits), startPGNodeWith(t, dsn, clk, quotaLimits)
	bob := addr("bob", 1)
	b, _ := n2.connect("bob", 1)
	b.ws.CloseNow()
	m1, _ := n1.connect("mallory", 1)
	m2, _ := n2.connect("mallory", 2)

	wantStatuses(t, "node 1 share", m1.sendEnv(1, []byte("a"), repeatAddr(bob, 5)...), false, stored, stored, stored, stored, quota)
	// Node 2 counts only what it stored: n × share in all.
	wantStatuses(t, "node 2 share", m2.sendEnv(1, []byte("b"), repeatAddr(bob, 5)...), false, stored, stored, stored, stored, quota)
	if n := n1.depth(bob); n != 8 {
		t.Fatalf("bob's queue %d, want 2 × share", n)
	}

	// Bob drains on node 2; node 1 learns it from the store's depth.
	b, _ = n2.connect("bob", 1)
	var ids []uint64
	for _, d := range collect(t, b, 8, crossNodeDelay) {
		ids = append(ids, d.Id)
	}
	b.ack(ids...)
	waitFor(t, func() bool { return n1.depth(bob) == 0 })
	time.Sleep(reconcileEvery) // the depth was read at most this long ago
	wantStatuses(t, "node 1 after the drain", m1.sendEnv(2, []byte("c"), bob), false, stored)
}
