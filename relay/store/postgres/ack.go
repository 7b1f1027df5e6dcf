package postgres

import (
	"bytes"
	"context"
	"slices"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/relay/store"
)

// Ack batching. Every recipient device of a group message acks it at
// about the same moment (spec/relay.md §16.4): a thousand Acks, each of
// them a transaction with its own WAL flush, whose mailbox row locks the
// next Send waits for. So Ack hands its request to one of DefaultAckWriters
// ack writers, as Send does to the writers: each takes every Ack waiting
// at that moment (up to maxAckBatch Acks or maxAckIDs ids) and runs them
// in one transaction, one commit and one WAL flush, then answers each
// with its own count. An Ack is answered only after the transaction that
// deleted its envelopes committed (synchronous_commit stays on), so an
// Ack answered without an error is durable. When a batch of several
// fails, each Ack is run again alone, so that one bad Ack fails only
// itself.
const (
	// DefaultAckWriters is the number of ack writer goroutines, each with
	// at most one transaction in flight. One: the Acks that arrive while
	// its transaction runs all go into the next, so a group message's
	// thousand Acks make a few large transactions, and the next Send,
	// which locks the same mailboxes, waits behind a few commits, not
	// dozens (sealpost-bench --fanout 1000 on PostgreSQL: p50 72 – 187 ms
	// with one, 81 – 464 ms with four, alternated on a loaded machine;
	// docs/performance.md, Fan-out).
	DefaultAckWriters = 1
	maxAckBatch       = 1024
	maxAckIDs         = 16384
)

// ackRequest is one Ack waiting for an ack writer.
type ackRequest struct {
	ctx  context.Context
	addr []byte
	ids  []int64
	done chan ackResponse // capacity 1
}

type ackResponse struct {
	n      int
	bodies []int64 // the shared bodies of the deleted references
	err    error
}

// ackBatches counts the ack transactions committed (for the tests).
type ackBatches struct{ n atomic.Int64 }

// Ack deletes the envelopes of addr with the given IDs and takes them off
// the mailbox's count and bytes (spec/relay.md §8.3), in one transaction
// with the Acks pending alongside it, and returns how many it deleted once
// that transaction committed. It then releases the shared bodies left
// without references (releaseBodies, spec/relay.md §16.4). An Ack whose
// context ends while it waits returns the context's error; its envelopes
// may or may not have been deleted (a repeat is harmless, §8.3; a body
// it left without references is deleted by the sweep at its expiry).
func (q *Queue) Ack(ctx context.Context, addr []byte, ids []int64) (int, error) {
	if !q.enter() {
		return 0, store.ErrClosed
	}
	defer q.mu.RUnlock()
	if len(ids) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, wrap("ack", err)
	}
	req := &ackRequest{ctx: ctx, addr: nonNil(addr), ids: ids, done: make(chan ackResponse, 1)}
	select {
	case q.ackRequests <- req:
	case <-ctx.Done():
		return 0, wrap("ack", ctx.Err())
	}
	var resp ackResponse
	select {
	case resp = <-req.done:
	case <-ctx.Done():
		return 0, wrap("ack", ctx.Err())
	}
	if resp.err != nil {
		return 0, wrap("ack", resp.err)
	}
	if err := q.releaseBodies(ctx, resp.bodies); err != nil {
		return resp.n, wrap("ack: release bodies", err)
	}
	return resp.n, nil
}

// ackWriter runs batches of the Acks on requests until it is closed.
func (q *Queue) ackWriter(requests chan *ackRequest) {
	defer q.writers.Done()
	for req := range requests {
		reqs := []*ackRequest{req}
		n := len(req.ids)
	drain:
		for len(reqs) < maxAckBatch && n < maxAckIDs {
			select {
			case r, ok := <-requests:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
				n += len(r.ids)
			default:
				break drain
			}
		}
		q.runAcks(reqs)
	}
}

// runAcks commits reqs in one transaction, retrying after deadlocks, and
// answers them; when a batch of several fails otherwise, each is run
// alone.
func (q *Queue) runAcks(reqs []*ackRequest) {
	live := reqs[:0]
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.done <- ackResponse{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	var resps []ackResponse
	var err error
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		resps, err = q.commitAcks(ctx, live)
		cancel()
		if err == nil || attempt >= maxAttempts || !retryable(err) {
			break
		}
	}
	if err != nil && len(live) > 1 {
		for _, r := range live {
			q.runAcks([]*ackRequest{r})
		}
		return
	}
	if err != nil {
		live[0].done <- ackResponse{err: err}
		return
	}
	q.acked.n.Add(1)
	for i, r := range live {
		r.done <- resps[i]
	}
}

// The statements of an ack transaction, in one round trip:
// BEGIN; joinByIndex; lockAcked; deleteAcked; COMMIT.
//
// lockAcked locks the mailbox rows of the Acks in address order, as a
// Send batch and Sweep do, so that lock order is always mailboxes (in
// address order) then envelopes and ack batches neither deadlock each
// other nor Sends. deleteAcked deletes the named envelopes of each
// mailbox (never another's, spec/relay.md §8.3; ids not there are
// ignored), takes them off their mailbox's count and bytes, and returns,
// per Ack (its index n in the batch), how many it deleted and the shared
// bodies they referenced. An envelope named by two Acks of the batch is
// deleted once, and counted for one of them.
const (
	lockAcked = `SELECT FROM relay_mailboxes WHERE address = ANY($1::bytea[]) ORDER BY address FOR NO KEY UPDATE`

	deleteAcked = `WITH d AS (
			DELETE FROM relay_envelopes e
			USING unnest($1::bytea[], $2::bigint[], $3::integer[]) AS k(address, id, n)
			WHERE e.address = k.address AND e.id = k.id
			RETURNING k.n, e.address, e.size, e.body),
		s AS (
			SELECT address, count(*) AS c, sum(size) AS b FROM d GROUP BY address),
		u AS (
			UPDATE relay_mailboxes m SET count = m.count - s.c, bytes = m.bytes - s.b
			FROM s WHERE m.address = s.address)
		SELECT n, count(*), coalesce(array_agg(body) FILTER (WHERE body IS NOT NULL), '{}') FROM d GROUP BY n`
)

// commitAcks runs reqs in one transaction and returns their answers, in
// order.
func (q *Queue) commitAcks(ctx context.Context, reqs []*ackRequest) ([]ackResponse, error) {
	var addrs, keyAddrs [][]byte
	var keyIDs []int64
	var keyN []int32
	for i, r := range reqs {
		addrs = append(addrs, r.addr)
		for _, id := range r.ids {
			keyAddrs, keyIDs, keyN = append(keyAddrs, r.addr), append(keyIDs, id), append(keyN, int32(i))
		}
	}
	slices.SortFunc(addrs, bytes.Compare)
	addrs = slices.CompactFunc(addrs, bytes.Equal)

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(joinByIndex)
	b.Queue(lockAcked, addrs)
	b.Queue(deleteAcked, keyAddrs, keyIDs, keyN)
	b.Queue("COMMIT")
	br := q.pool.SendBatch(ctx, b)
	resps, err := readAcks(br, len(reqs))
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return resps, nil
}

// readAcks reads the results of commitAcks's batch for n Acks.
func readAcks(br pgx.BatchResults, n int) ([]ackResponse, error) {
	for range 3 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	resps := make([]ackResponse, n)
	var i int32
	var count int
	var bodies []int64
	_, err = pgx.ForEachRow(rows, []any{&i, &count, &bodies}, func() error {
		if i < 0 || int(i) >= n {
			return errBatchShape
		}
		resps[i] = ackResponse{n: count, bodies: bodies}
		bodies = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	_, err = br.Exec()
	return resps, err
}
