package keyserver

import (
	"math"
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by a string (a client address or
// a token subject): each key gets rate requests per second and bursts of
// up to burst (spec/keyserver.md §4). A rate of 0 disables it.
type limiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

// maxBuckets is how many buckets a limiter holds before it forgets the
// refilled ones at once rather than at the next periodic sweep.
const maxBuckets = 100_000

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	if burst < 1 {
		burst = 1
	}
	return &limiter{rate: rate, burst: float64(burst), buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket at now. When none is left it
// returns false and how long until one is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	return l.allowN(key, 1, now)
}

// allowN takes n tokens from key's bucket at now. When fewer are left it
// takes none and returns false and how long until n are (n above the burst
// waits for a full bucket).
func (l *limiter) allowN(key string, n float64, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	need := math.Min(n, l.burst)
	if b.tokens >= need {
		b.tokens -= n
		return true, 0
	}
	wait := time.Duration((need - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// charge takes n more tokens from key's bucket at now, even below zero:
// a cost learnt after the request was allowed (a lookup's miss). The debt
// is capped at one burst.
func (l *limiter) charge(key string, n float64, now time.Time) {
	if l.rate <= 0 || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	b.tokens = math.Max(b.tokens-n, -l.burst)
}

// bucketLocked returns key's bucket refilled to now, making a full one if
// there is none.
func (l *limiter) bucketLocked(key string, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	return b
}

// sweep forgets buckets that have refilled: they hold nothing a new bucket
// would not.
func (l *limiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// retryAfter is the Retry-After header value for a wait: whole seconds,
// rounded up, at least 1.
func retryAfter(wait time.Duration) int {
	s := int(math.Ceil(wait.Seconds()))
	return max(s, 1)
}
