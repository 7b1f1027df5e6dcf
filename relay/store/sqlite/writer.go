package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// The writer goroutine and its batches (group commit, see the package
// comment).

// request is one write waiting for the writer goroutine.
type request struct {
	ctx context.Context
	// op runs the write in b's transaction, writing its answer into
	// variables of its caller. It may run twice (when its first batch
	// fails), so it sets every answer each time.
	op func(b *batch) error
	// ack, for an Ack, replaces op: a batch runs its Acks together,
	// first (batch.ack). It may run twice too.
	ack *ackOp
	// committed, if not nil, runs on the writer goroutine once op's
	// batch has committed, in batch order.
	committed func()
	// send: op is a Send's (writeSend), which reads no envelope row, so
	// the envelope rows of the Sends before it may still be pending
	// (batch.pending).
	send  bool
	bytes int        // envelope bytes, for maxBatchBytes
	done  chan error // buffered: the writer never blocks on it
	// group marks a shared send to a group (Send): it commits ahead of
	// the many Acks gathered with it (run).
	group bool
}

// startWriter starts the writer goroutine.
func (q *Queue) startWriter() {
	q.reqs = make(chan *request)
	q.quit = make(chan struct{})
	q.stopped = make(chan struct{})
	go q.writer()
}

// stopWriter stops the writer goroutine after it has run the requests it
// has taken.
func (q *Queue) stopWriter() {
	close(q.quit)
	<-q.stopped
}

// write hands op to the writer goroutine and waits for its answer. A
// request taken by the writer is always answered, and soon: its batch
// checks ctx before running it, and never runs for long.
func (q *Queue) write(ctx context.Context, bytes int, op func(b *batch) error) error {
	return q.submit(ctx, &request{ctx: ctx, op: op, bytes: bytes, done: make(chan error, 1)})
}

// writeSend is write for a Send's op, with a function to run on the
// writer goroutine once op's batch has committed; group marks a shared
// send to a group (request.group).
func (q *Queue) writeSend(ctx context.Context, bytes int, group bool, op func(b *batch) error, committed func()) error {
	return q.submit(ctx, &request{ctx: ctx, op: op, committed: committed, send: true, group: group, bytes: bytes, done: make(chan error, 1)})
}

// writeAck hands an Ack to the writer goroutine and waits for its answer.
func (q *Queue) writeAck(ctx context.Context, a *ackOp) error {
	return q.submit(ctx, &request{ctx: ctx, ack: a, done: make(chan error, 1)})
}

// submit hands r to the writer goroutine and waits for its answer.
func (q *Queue) submit(ctx context.Context, r *request) error {
	if q.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case q.reqs <- r:
	case <-q.quit:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

func (q *Queue) writer() {
	defer close(q.stopped)
	for {
		var first *request
		select {
		case first = <-q.reqs:
		case <-q.quit:
			return
		}
		group, size := []*request{first}, first.bytes
		// Let the callers just answered send their next requests: they
		// then share this batch instead of each waiting a commit.
		runtime.Gosched()
	gather:
		for len(group) < q.opts.maxBatch && size < q.opts.maxBatchBytes {
			select {
			case r := <-q.reqs:
				group = append(group, r)
				size += r.bytes
			default:
				break gather
			}
		}
		q.run(group)
	}
}

// run runs group and answers each of its requests.
func (q *Queue) run(group []*request) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if first, then := groupFirst(live); then != nil {
		q.runGroup(first)
		q.runGroup(then)
		return
	}
	q.runGroup(live)
}

// groupFirst splits a group holding a shared send to a group and many
// Acks (its recipients acking the messages before it): the Acks go in a
// batch of their own, after, so that the message waits for its own
// writes and not for theirs. The message is then decided before those
// Acks, as if it had come first: the requests of a group are concurrent.
// It costs a second commit, only when a group's acks pile up. Otherwise
// then is nil.
func groupFirst(group []*request) (first, then []*request) {
	acks, shared := 0, false
	for _, r := range group {
		if r.ack != nil {
			acks++
		}
		shared = shared || r.group
	}
	if !shared || acks < groupFrom {
		return group, nil
	}
	for _, r := range group {
		if r.ack != nil {
			then = append(then, r)
		} else {
			first = append(first, r)
		}
	}
	return first, then
}

// runGroup runs group in one batch and answers each of its requests.
func (q *Queue) runGroup(live []*request) {
	err := q.runBatch(live)
	if err != nil && len(live) > 1 {
		// Find out which one failed: each runs alone.
		for _, r := range live {
			r.done <- q.runBatch([]*request{r})
		}
		return
	}
	for _, r := range live {
		r.done <- err
	}
}

// runBatch runs reqs in one transaction and commits it if all succeed.
func (q *Queue) runBatch(reqs []*request) (err error) {
	ctx := context.Background()      // a cancelled statement could abort the shared transaction
	tx, err := q.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	b := &batch{ctx: ctx, tx: tx, q: q, boxes: map[string]*box{}}
	defer func() {
		if err != nil {
			// What the database holds is not known for sure (a failed
			// commit may have reached the disk): read the rows again.
			q.boxCache = nil
		}
	}()
	if err := b.loadCache(); err != nil {
		return err
	}
	// The Acks first, together: the requests of a batch are concurrent,
	// and Sends then see the room the Acks made.
	var acks []*ackOp
	for _, r := range reqs {
		if r.ack != nil {
			acks = append(acks, r.ack)
		}
	}
	if len(acks) > 0 {
		if err := b.ack(acks); err != nil {
			return err
		}
	}
	for _, r := range reqs {
		if r.op == nil {
			continue
		}
		if !r.send {
			// It may read or delete envelope rows.
			if err := b.insertPending(); err != nil {
				return err
			}
		}
		if err := r.op(b); err != nil {
			return err
		}
	}
	if err := b.insertPending(); err != nil {
		return err
	}
	if err := b.flush(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	b.saveCache()
	q.kickCheckpointer()
	q.batches.Add(1)
	q.batched.Add(int64(len(reqs)))
	for _, r := range reqs {
		if r.committed != nil {
			r.committed()
		}
	}
	return nil
}

// batch is the state of one write transaction: the mailbox rows it has
// read, with its changes not yet written back.
type batch struct {
	ctx   context.Context
	tx    *sql.Tx
	q     *Queue
	bound [numStmts]*sql.Stmt // q.stmts bound to tx, made on first use
	boxes map[string]*box
	// The envelope rows of the batch's Sends not yet inserted
	// (insertPending), and the arguments of the last insert.
	pending     []envelopeRow
	insertBound [len(insertRows)]*sql.Stmt // q.stmts.inserts bound to tx
	args        []any
}

// box is a mailbox row as the batch sees it.
type box struct {
	exists bool
	count  int
	bytes  int64
	last   int64 // the highest envelope id the mailbox has given (last_id), 0 if none
	dirty  bool  // count, bytes, last or tat differ from the row
	// The access setting and the first-contact allowance's theoretical
	// arrival time, unix ms (spec/relay.md §15.8). SetAccess writes
	// access itself; tat is written back with the depth.
	access store.Access
	tat    int64
	// link is the expiry (unix ms) of a link mailbox, 0 for a device
	// mailbox (spec/relay.md §17).
	link int64
}

// stmt returns statement i bound to the batch's transaction.
func (b *batch) stmt(i stmtID) *sql.Stmt {
	if b.bound[i] == nil {
		b.bound[i] = b.tx.StmtContext(b.ctx, b.q.stmts.s[i])
	}
	return b.bound[i]
}

// maxCachedBoxes bounds the mailbox rows kept between batches.
const maxCachedBoxes = 1 << 16

// The mailbox rows a batch reads and changes are kept after its commit
// (Queue.boxCache), so that the next batches do not read them again: the
// writer goroutine is the only writer of this relay, and a change by
// another connection (another process on the file) changes PRAGMA
// data_version, which empties the cache. A batch works on copies, so one
// that fails leaves the cache as the last commit left it; a failed batch
// empties it anyway (runBatch).

// loadCache empties the cache if another connection has committed since
// the last batch.
func (b *batch) loadCache() error {
	q := b.q
	var v int64
	if err := b.stmt(stmtDataVersion).QueryRowContext(b.ctx).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: data version: %w", err)
	}
	if q.boxCache == nil || v != q.dataVersion {
		q.boxCache = make(map[string]box)
		q.dataVersion = v
	}
	return nil
}

// saveCache keeps the committed batch's mailbox rows.
func (b *batch) saveCache() {
	q := b.q
	if q.boxCache == nil {
		return
	}
	for addr, x := range b.boxes {
		if _, ok := q.boxCache[addr]; !ok && len(q.boxCache) >= maxCachedBoxes {
			clear(q.boxCache)
		}
		q.boxCache[addr] = *x
	}
}

// box returns the mailbox row of addr, reading it on first use.
func (b *batch) box(addr []byte) (*box, error) {
	if x, ok := b.boxes[string(addr)]; ok {
		return x, nil
	}
	if c, ok := b.q.boxCache[string(addr)]; ok {
		x := &c
		b.boxes[string(addr)] = x
		return x, nil
	}
	x := &box{exists: true}
	var mode uint8
	var until int64
	err := b.stmt(stmtMailbox).QueryRowContext(b.ctx, addr).Scan(&x.count, &x.bytes, &x.last,
		&mode, &x.access.Current, &x.access.Previous, &until, &x.tat, &x.link)
	x.access.Mode, x.access.PreviousUntil = store.AccessMode(mode), time.UnixMilli(until)
	if err == sql.ErrNoRows {
		x.exists, err = false, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read mailbox: %w", err)
	}
	b.boxes[string(addr)] = x
	return x, nil
}

// flush writes the changed mailbox rows back.
func (b *batch) flush() error {
	for addr, x := range b.boxes {
		if !x.dirty {
			continue
		}
		if _, err := b.stmt(stmtSetDepth).ExecContext(b.ctx, x.count, x.bytes, x.last, x.tat, []byte(addr)); err != nil {
			return fmt.Errorf("sqlite: update mailbox: %w", err)
		}
		x.dirty = false
	}
	return nil
}
