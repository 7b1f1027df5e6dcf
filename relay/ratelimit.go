package relay

import (
	"sync"
	"time"
)

// bucket is the send token bucket of one address (spec/relay.md §6): it
// refills at SendsPerSecond and holds at most SendBurst. It outlives a
// connection, so reconnecting does not refill it.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(burst int, now time.Time) *bucket {
	return &bucket{tokens: float64(burst), last: now}
}

func (b *bucket) refill(now time.Time, rate, burst int) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d.Seconds()*float64(rate))
		b.last = now
	}
}

// take takes one token at now, reporting whether there was one.
func (b *bucket) take(now time.Time, rate, burst int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket holds burst tokens at now.
func (b *bucket) full(now time.Time, rate, burst int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now, rate, burst)
	return b.tokens >= float64(burst)
}
