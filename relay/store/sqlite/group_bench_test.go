package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

// BenchmarkGroupBehindAcks: a group message to 1000 devices sent while
// those devices ack the message before (the fan-out's steady state):
// the time of the Send alone (issue 13, docs/performance.md, "Fan-out").
func BenchmarkGroupBehindAcks(b *testing.B) {
	q, err := Open(filepath.Join(b.TempDir(), "r.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	now := time.Now()
	const n = 1000
	addrs := make([][]byte, n)
	for i := range addrs {
		addrs[i] = storetest.Addr(fmt.Sprintf("m%04d", i), 1)
		if err := q.OpenMailbox(ctx, addrs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	body := make([]byte, 1024)
	k := 0
	send := func() store.SendResult {
		k++
		items := make([]store.Item, n)
		for i, a := range addrs {
			items[i] = store.Item{Recipient: a, Envelope: body}
		}
		var id [16]byte
		id[0], id[1] = byte(k), byte(k>>8)
		r, err := q.Send(ctx, store.Send{Sender: storetest.Addr("s", 1), MessageID: id, Items: items, Now: now, Expiry: now.Add(time.Hour),
			DedupUntil: now.Add(time.Hour), MaxEnvelope: 4096, MaxQueueCount: 1 << 30, MaxQueueBytes: 1 << 50, Shared: true})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	prev := send()
	var ds []time.Duration
	for b.Loop() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				if _, err := q.Ack(ctx, addrs[i], prev.IDs[i:i+1]); err != nil {
					b.Error(err)
				}
			})
		}
		close(start)
		time.Sleep(time.Millisecond)
		t0 := time.Now()
		r := send()
		ds = append(ds, time.Since(t0))
		wg.Wait()
		prev = r
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "send-p50-ms")
	b.ReportMetric(float64(ds[len(ds)*9/10].Microseconds())/1000, "send-p90-ms")
	b.ReportMetric(0, "ns/op")
}
