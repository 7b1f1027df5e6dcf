package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

func openTemp(tb testing.TB, opts ...Option) *Queue {
	tb.Helper()
	return openPath(tb, filepath.Join(tb.TempDir(), "relay.db"), opts...)
}

func openPath(tb testing.TB, path string, opts ...Option) *Queue {
	tb.Helper()
	q, err := Open(path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { q.Close() })
	return q
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Queue { return openTemp(t) },
		storetest.WithReopen(func(t *testing.T) func() store.Queue {
			path := filepath.Join(t.TempDir(), "relay.db")
			return func() store.Queue { return openPath(t, path) }
		}))
}

func BenchmarkSend(b *testing.B) {
	var q *Queue
	storetest.BenchmarkSend(b, func(b *testing.B) store.Queue { q = openTemp(b); return q })
	b.ReportMetric(float64(q.batched.Load())/float64(max(q.batches.Load(), 1)), "sends/batch")
}

func BenchmarkSendAck(b *testing.B) {
	var q *Queue
	storetest.BenchmarkSendAck(b, func(b *testing.B) store.Queue { q = openTemp(b); return q })
	b.ReportMetric(float64(q.batched.Load())/float64(max(q.batches.Load(), 1)), "requests/batch")
}

// BenchmarkShared: storetest.BenchmarkShared, with the bytes of the pages
// in use (page_count - freelist_count) as the footprint: tables and
// indexes, what a send adds to the database file.
func BenchmarkShared(b *testing.B) {
	storetest.BenchmarkShared(b, func(b *testing.B) store.Queue { return openTemp(b) }, func(q store.Queue) int64 {
		var pages, free, size int64
		w := q.(*Queue).w
		if err := w.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
			b.Fatal(err)
		}
		if err := w.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil {
			b.Fatal(err)
		}
		if err := w.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil {
			b.Fatal(err)
		}
		return (pages - free) * size
	})
}

func BenchmarkClaimWakes(b *testing.B) {
	storetest.BenchmarkClaimWakes(b, func(b *testing.B) store.Queue { return openTemp(b) })
}
