package storetest

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Shape of BenchmarkSend.
const (
	benchMailboxes = 64
	benchEnvelope  = 1024
	benchSenders   = 512 // Sends in flight
)

// BenchmarkSend measures parallel Sends of one 1 KiB envelope each to one
// of a few mailboxes, as many relay connections sending at once do (about
// benchSenders in flight), and reports envelopes/s. open must return a new, empty store and arrange for
// it to be closed with b.Cleanup.
func BenchmarkSend(b *testing.B, open func(b *testing.B) store.Queue) {
	q := open(b)
	ctx := context.Background()
	now := time.Now()
	addrs := make([][]byte, benchMailboxes)
	for i := range addrs {
		addrs[i] = Addr("bench", uint32(i+1))
		if err := q.OpenMailbox(ctx, addrs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	env := envelope("bench", benchEnvelope)
	var ids idSource
	var next atomic.Uint64
	b.SetBytes(benchEnvelope)
	b.SetParallelism(max(1, benchSenders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		sender := Addr("sender", uint32(next.Add(1)))
		for pb.Next() {
			i := next.Add(1)
			s := store.Send{
				Sender:        sender,
				MessageID:     ids.next(),
				Items:         []store.Item{{Recipient: addrs[i%benchMailboxes], Envelope: env}},
				Now:           now,
				Expiry:        now.Add(time.Hour),
				DedupUntil:    now.Add(time.Hour),
				MaxEnvelope:   benchEnvelope,
				MaxQueueCount: 1 << 30,
				MaxQueueBytes: 1 << 50,
			}
			r, err := q.Send(ctx, s)
			if err != nil {
				b.Error(err)
				return
			}
			if r.Duplicate || len(r.Statuses) != 1 || r.Statuses[0] != store.Stored {
				b.Errorf("answer %+v", r)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "envelopes/s")
}

// BenchmarkSendAck measures what a relay asks of its store per envelope
// delivered: parallel Sends of one 1 KiB envelope each to one of a few
// mailboxes, each acked once stored, by a few ids at a time as receivers
// do. It reports envelopes/s and the process's CPU time per envelope
// (where the platform tells it), which a busy machine disturbs less. open
// must return a new, empty store and arrange for it to be closed with
// b.Cleanup.
func BenchmarkSendAck(b *testing.B, open func(b *testing.B) store.Queue) {
	const ackBy = 4
	q := open(b)
	ctx := context.Background()
	now := time.Now()
	addrs := make([][]byte, benchMailboxes)
	for i := range addrs {
		addrs[i] = Addr("bench", uint32(i+1))
		if err := q.OpenMailbox(ctx, addrs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	env := envelope("bench", benchEnvelope)
	var ids idSource
	var next atomic.Uint64
	b.SetBytes(benchEnvelope)
	b.SetParallelism(max(1, benchSenders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start, cpu0 := time.Now(), CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		sender := Addr("sender", uint32(next.Add(1)))
		box := addrs[next.Add(1)%benchMailboxes]
		var stored []int64
		for pb.Next() {
			s := store.Send{
				Sender:        sender,
				MessageID:     ids.next(),
				Items:         []store.Item{{Recipient: box, Envelope: env}},
				Now:           now,
				Expiry:        now.Add(time.Hour),
				DedupUntil:    now.Add(time.Hour),
				MaxEnvelope:   benchEnvelope,
				MaxQueueCount: 1 << 30,
				MaxQueueBytes: 1 << 50,
			}
			r, err := q.Send(ctx, s)
			if err != nil {
				b.Error(err)
				return
			}
			if r.Duplicate || len(r.Statuses) != 1 || r.Statuses[0] != store.Stored {
				b.Errorf("answer %+v", r)
				return
			}
			if stored = append(stored, r.IDs[0]); len(stored) == ackBy {
				if n, err := q.Ack(ctx, box, stored); err != nil || n != len(stored) {
					b.Errorf("Ack: %d, %v", n, err)
					return
				}
				stored = stored[:0]
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "envelopes/s")
	if cpu := CPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/envelope")
	}
}

// BenchmarkShared measures a shared send (spec/relay.md §16) of one 1 KiB
// body to each of the recipient counts the issue names (200 and 2000
// device addresses), against the same recipients sent separately (one
// copy of the body per item), plus the acks of every recipient: the
// store's cost of a group message, end to end. It reports µs and the
// process's CPU µs per recipient for the send (send-us/recipient) and for
// the acks (ack-us/recipient), and, if footprint is not nil, the bytes the
// engine's tables grew by per recipient while the messages were queued
// (stored-B/recipient; footprint returns the engine's size on disk of its
// relay tables). open must return a new, empty store and arrange for it
// to be closed with b.Cleanup.
func BenchmarkShared(b *testing.B, open func(b *testing.B) store.Queue, footprint func(q store.Queue) int64) {
	for _, n := range []int{200, 2000} {
		for _, shared := range []bool{true, false} {
			name := fmt.Sprintf("shared-%d", n)
			if !shared {
				name = fmt.Sprintf("separate-%d", n)
			}
			b.Run(name, func(b *testing.B) { benchShared(b, open(b), n, shared, footprint) })
		}
	}
}

func benchShared(b *testing.B, q store.Queue, n int, shared bool, footprint func(store.Queue) int64) {
	ctx := context.Background()
	now := time.Now()
	addrs := make([][]byte, n)
	for i := range addrs {
		addrs[i] = Addr(fmt.Sprintf("member%04d", i/2), uint32(i%2+1))
		if err := q.OpenMailbox(ctx, addrs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	body := envelope("group", benchEnvelope)
	var ids idSource
	var sendTime, ackTime, sendCPU, ackCPU time.Duration
	var grown int64
	for b.Loop() {
		items := make([]store.Item, n)
		for i, a := range addrs {
			env := body
			if !shared {
				env = bytes.Clone(body)
			}
			items[i] = store.Item{Recipient: a, Envelope: env}
		}
		s := store.Send{
			Sender: Addr("sender", 1), MessageID: ids.next(), Items: items,
			Now: now, Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
			MaxEnvelope: benchEnvelope, MaxQueueCount: 1 << 30, MaxQueueBytes: 1 << 50,
			Shared: shared,
		}
		var before int64
		if footprint != nil {
			before = footprint(q)
		}
		t0, c0 := time.Now(), CPUTime()
		r, err := q.Send(ctx, s)
		sendTime += time.Since(t0)
		sendCPU += CPUTime() - c0
		if err != nil {
			b.Fatal(err)
		}
		if footprint != nil {
			grown += footprint(q) - before
		}
		// Every recipient acks, many at once as their connections do.
		t0, c0 = time.Now(), CPUTime()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					if k, err := q.Ack(ctx, addrs[i], r.IDs[i:i+1]); err != nil || k != 1 {
						b.Errorf("Ack: %d, %v", k, err)
						return
					}
				}
			})
		}
		wg.Wait()
		ackTime += time.Since(t0)
		ackCPU += CPUTime() - c0
	}
	per := float64(b.N * n)
	b.ReportMetric(float64(sendTime.Microseconds())/per, "send-us/recipient")
	b.ReportMetric(float64(sendCPU.Microseconds())/per, "send-cpu-us/recipient")
	b.ReportMetric(float64(ackTime.Microseconds())/per, "ack-us/recipient")
	b.ReportMetric(float64(ackCPU.Microseconds())/per, "ack-cpu-us/recipient")
	if footprint != nil {
		b.ReportMetric(float64(grown)/per, "stored-B/recipient")
	}
	b.ReportMetric(0, "ns/op")
}

// Shape of BenchmarkClaimWakes.
const (
	benchWakeMailboxes = 16
	benchWakeQueued    = 1000
	benchWakeInterval  = time.Millisecond
)

// BenchmarkClaimWakes measures the store's side of push wake-ups
// (store.PushQueue, spec/push.md §3) on deep queues: benchWakeMailboxes
// registered mailboxes of offline devices with benchWakeQueued 1 KiB
// envelopes queued each, a delivered wake-up covering all but the newest.
// "claim" is ClaimWakes of one mailbox whose wake-up is due (it claims
// it), "later" ClaimWakes of one whose wake-up is owed but not due (within
// the interval: nothing written), "pending" PendingWakes over all of them
// (the relay's scan at start). ns/op is per call. open must return a new,
// empty store and arrange for it to be closed with b.Cleanup.
func BenchmarkClaimWakes(b *testing.B, open func(b *testing.B) store.Queue) {
	q := open(b)
	pq, ok := q.(store.PushQueue)
	if !ok {
		b.Fatalf("%T does not implement store.PushQueue", q)
	}
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	env := envelope("bench", benchEnvelope)
	var ids idSource
	// fill stores n envelopes for addr, arrived at now.
	fill := func(addr []byte, n int, now time.Time) {
		for n > 0 {
			items := make([]store.Item, min(n, 100))
			for i := range items {
				items[i] = store.Item{Recipient: addr, Envelope: env}
			}
			n -= len(items)
			r, err := q.Send(ctx, store.Send{
				Sender: Addr("sender", 1), MessageID: ids.next(), Items: items,
				Now: now, Expiry: now.Add(24 * time.Hour), DedupUntil: now.Add(time.Hour),
				MaxEnvelope: benchEnvelope, MaxQueueCount: 1 << 30, MaxQueueBytes: 1 << 50,
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, st := range r.Statuses {
				if st != store.Stored {
					b.Fatalf("Send: %v", r.Statuses)
				}
			}
		}
	}
	addrs := make([][]byte, benchWakeMailboxes)
	for i := range addrs {
		addrs[i] = Addr("bench", uint32(i+1))
		if err := q.OpenMailbox(ctx, addrs[i], now); err != nil {
			b.Fatal(err)
		}
		if err := pq.SetPush(ctx, addrs[i], webTarget(fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
		fill(addrs[i], benchWakeQueued-1, now.Add(-2*time.Second))
	}
	// One delivered wake-up covers every mailbox's queue so far; then one
	// more envelope each is new mail.
	wakes, _, err := pq.ClaimWakes(ctx, addrs, now, benchWakeInterval)
	if err != nil || len(wakes) != len(addrs) {
		b.Fatalf("ClaimWakes: %d wake-ups, %v", len(wakes), err)
	}
	for _, w := range wakes {
		if err := pq.WakeDone(ctx, w.Addr, w.Gen, w.Through); err != nil {
			b.Fatal(err)
		}
	}
	for _, a := range addrs {
		fill(a, 1, now.Add(-time.Second))
	}
	clock := now.Add(benchWakeInterval)
	b.Run("claim", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if i%len(addrs) == 0 {
				clock = clock.Add(benchWakeInterval)
			}
			wakes, later, err := pq.ClaimWakes(ctx, addrs[i%len(addrs):i%len(addrs)+1], clock, benchWakeInterval)
			if err != nil || len(wakes) != 1 || len(later) != 0 {
				b.Fatalf("ClaimWakes: %d wake-ups, %d later, %v", len(wakes), len(later), err)
			}
			i++
		}
	})
	b.Run("later", func(b *testing.B) {
		clock = clock.Add(benchWakeInterval)
		if wakes, _, err := pq.ClaimWakes(ctx, addrs, clock, benchWakeInterval); err != nil || len(wakes) != len(addrs) {
			b.Fatalf("ClaimWakes: %d wake-ups, %v", len(wakes), err)
		}
		i := 0
		for b.Loop() {
			wakes, later, err := pq.ClaimWakes(ctx, addrs[i%len(addrs):i%len(addrs)+1], clock, benchWakeInterval)
			if err != nil || len(wakes) != 0 || len(later) != 1 {
				b.Fatalf("ClaimWakes: %d wake-ups, %d later, %v", len(wakes), len(later), err)
			}
			i++
		}
	})
	b.Run("pending", func(b *testing.B) {
		for b.Loop() {
			pending, err := pq.PendingWakes(ctx, nil, 1000, clock)
			if err != nil || len(pending) != len(addrs) {
				b.Fatalf("PendingWakes: %d, %v", len(pending), err)
			}
		}
	})
}
