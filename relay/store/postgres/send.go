package postgres

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Group commit. Send hands its request to one of DefaultWriters writer
// goroutines, chosen by its first recipient; each writer takes every
// request pending for it (up to maxBatch sends or maxBatchBytes envelope
// bytes) and commits them in one transaction (batch.go), then answers
// them all. A transaction costs a
// few statements whatever its size, so batching turns the per-send cost
// of statements, round trips and commit records into a per-batch one;
// several writers keep batches forming while one waits for its WAL flush,
// and PostgreSQL flushes their commits together.
const (
	// DefaultWriters is the number of writer goroutines, each with at most
	// one transaction in flight.
	DefaultWriters = 4
	maxBatch       = 256
	maxBatchBytes  = 16 << 20
	// batchTimeout bounds one batch transaction, which runs under no
	// caller's context.
	batchTimeout = 30 * time.Second
)

// request is one Send waiting for a writer.
type request struct {
	ctx  context.Context
	s    store.Send
	done chan response // capacity 1
}

type response struct {
	r   store.SendResult
	err error
}

// Send stores s atomically and durably, committed with the Sends pending
// alongside it, and, once committed, wakes the readers of every mailbox
// that gained an envelope on other relays. A Send whose context
// ends while it waits for its batch returns the context's error; it may
// or may not have been stored (a retry is answered from its dedup record).
func (q *Queue) Send(ctx context.Context, s store.Send) (store.SendResult, error) {
	if !q.enter() {
		return store.SendResult{}, store.ErrClosed
	}
	defer q.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return store.SendResult{}, wrap("send", err)
	}
	if s.Shared {
		if _, err := s.Body(); err != nil {
			return store.SendResult{}, err
		}
	}
	req := &request{ctx: ctx, s: s, done: make(chan response, 1)}
	select {
	case q.requests[writerOf(&s)] <- req:
	case <-ctx.Done():
		return store.SendResult{}, wrap("send", ctx.Err())
	}
	select {
	case resp := <-req.done:
		return resp.r, resp.err
	case <-ctx.Done():
		return store.SendResult{}, wrap("send", ctx.Err())
	}
}

// writerOf picks the writer of s by its first recipient, so that writers
// mostly lock disjoint mailboxes: batches that lock the same mailboxes
// would wait for each other's commits.
func writerOf(s *store.Send) int {
	h := fnv.New32a()
	if len(s.Items) > 0 {
		h.Write(s.Items[0].Recipient)
	}
	return int(h.Sum32() % DefaultWriters)
}

// writer commits batches of the requests on its channel until it is
// closed.
func (q *Queue) writer(requests chan *request) {
	defer q.writers.Done()
	for req := range requests {
		reqs := []*request{req}
		size := requestBytes(req)
	drain:
		for len(reqs) < maxBatch && size < maxBatchBytes {
			select {
			case r, ok := <-requests:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
				size += requestBytes(r)
			default:
				break drain
			}
		}
		q.runBatch(reqs)
	}
}

func requestBytes(r *request) int {
	if r.s.Shared && len(r.s.Items) > 0 {
		// The body once, and a few bytes per reference (spec/relay.md §16).
		return len(r.s.Items[0].Envelope) + 64*len(r.s.Items)
	}
	n := 0
	for _, it := range r.s.Items {
		n += len(it.Envelope)
	}
	return n
}

// runBatch commits reqs, retrying after deadlocks, and answers them. When
// a batch of several fails otherwise, each request is tried alone, so that
// one bad request fails only itself.
func (q *Queue) runBatch(reqs []*request) {
	live := reqs[:0]
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.done <- response{err: wrap("send", err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	sends := make([]*store.Send, len(live))
	for i, r := range live {
		sends[i] = &r.s
	}
	results, woken, err := q.commitWithRetry(sends)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			q.runBatch([]*request{r})
		}
		return
	}
	if err != nil {
		live[0].done <- response{err: wrap("send", err)}
		return
	}
	// This relay pushes what it stored itself (store.SendResult); the
	// others hear of it by NOTIFY.
	q.notify.add(woken)
	for i, r := range live {
		if c := r.s.Committed; c != nil && !results[i].Duplicate {
			c(results[i])
		}
	}
	for i, r := range live {
		r.done <- response{r: results[i]}
	}
}

// commitWithRetry runs commitBatch, again after a deadlock or
// serialization failure.
func (q *Queue) commitWithRetry(sends []*store.Send) ([]store.SendResult, [][]byte, error) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		results, woken, err := q.commitBatch(ctx, sends)
		cancel()
		if err == nil || attempt >= maxAttempts || !retryable(err) {
			return results, woken, err
		}
	}
}
