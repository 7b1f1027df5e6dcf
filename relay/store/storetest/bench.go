package storetest

import (
	"context"
	"runtime"
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
