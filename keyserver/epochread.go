package keyserver

import (
	"context"
	"sync"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// epochReadTimeout bounds one shared read of the latest epoch; it is not
// tied to any one lookup's context.
const epochReadTimeout = 10 * time.Second

// epochReader shares reads of the latest epoch among concurrent lookups.
// A lookup answers with "the latest epoch when the request was read"
// (spec/keyserver.md §9.1), which is a store read on every lookup, and on
// PostgreSQL most of a lookup's cost. Concurrent lookups can share one
// read, provided it starts after each of them arrived: a lookup joins the
// read that starts next, never one already running, so the epoch it gets
// is at least the latest of when it arrived, exactly as a read of its
// own. One read runs at a time; lookups arriving meanwhile wait for the
// next, which then serves them all.
type epochReader struct {
	st store.Store

	mu      sync.Mutex
	next    *epochRead // the read that starts next, with its waiters; nil if none
	running bool       // a goroutine is running reads (run)
}

// epochRead is one shared read; done is closed when epoch and err are set.
type epochRead struct {
	done    chan struct{}
	waiters int // joined before it started (epochReader.mu)
	epoch   uint64
	err     error
}

// latest returns the latest epoch, read after the call began.
func (r *epochReader) latest(ctx context.Context) (uint64, error) {
	r.mu.Lock()
	if r.next == nil {
		r.next = &epochRead{done: make(chan struct{})}
	}
	rd := r.next
	rd.waiters++
	if !r.running {
		r.running = true
		go r.run()
	}
	r.mu.Unlock()
	select {
	case <-rd.done:
		return rd.epoch, rd.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run runs the pending reads one after another until none is waiting.
func (r *epochReader) run() {
	for {
		r.mu.Lock()
		rd := r.next
		r.next = nil
		if rd == nil {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), epochReadTimeout)
		rd.epoch, rd.err = r.st.LatestEpoch(ctx)
		cancel()
		close(rd.done)
	}
}
