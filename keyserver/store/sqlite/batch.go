package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group commit. Every write goes to one goroutine that owns the writer
// connection. It takes the writes waiting at that moment (up to
// maxBatch), runs each inside its own SAVEPOINT of one transaction, and
// commits them together: one fsync for the whole group instead of one per
// write. A write that fails is rolled back to its savepoint and leaves the
// others alone; a write is answered only after the commit that makes it
// durable, so each one is still atomic and durable on its own.

// maxBatch bounds how many writes share one transaction.
const maxBatch = 128

// errClosed reports a write on a closed store.
var errClosed = errors.New("sqlite: store closed")

// writeReq is one write waiting for the writer goroutine.
type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // buffered: the writer never blocks on it
}

// startWriter starts the writer goroutine.
func (s *Store) startWriter() {
	s.reqs = make(chan *writeReq)
	s.quit = make(chan struct{})
	s.stopped = make(chan struct{})
	go s.writer()
}

// stopWriter stops the writer goroutine after the group it is running.
func (s *Store) stopWriter() {
	if s.quit == nil {
		return
	}
	s.closeOnce.Do(func() { close(s.quit) })
	<-s.stopped
}

// write runs fn in a write transaction; the changes fn makes are committed
// if and only if it returns nil. fn must use the context it is given: it
// carries ctx's values but not its cancellation, since cancelling a
// statement (sqlite3_interrupt) can roll back the whole transaction, which
// the group shares.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.reqs <- req:
	case <-s.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, a write is always answered, and soon: the group it is
	// in checks ctx before running it.
	return <-req.done
}

func (s *Store) writer() {
	defer close(s.stopped)
	for {
		var group []*writeReq
		select {
		case r := <-s.reqs:
			group = append(group, r)
		case <-s.quit:
			return
		}
	gather:
		for len(group) < maxBatch {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break gather
			}
		}
		s.runGroup(group)
	}
}

// runGroup runs the writes of group in one transaction and answers each.
func (s *Store) runGroup(group []*writeReq) {
	results := make([]error, len(group))
	answer := func() {
		for i, r := range group {
			r.done <- results[i]
		}
	}
	fail := func(err error) {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
		answer()
	}
	tx, err := s.w.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	defer tx.Rollback()
	bg := context.Background()
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.ExecContext(bg, `SAVEPOINT write`); err != nil {
			fail(fmt.Errorf("sqlite: savepoint: %w", err))
			return
		}
		if results[i] = r.fn(context.WithoutCancel(r.ctx), tx); results[i] != nil {
			if _, err := tx.ExecContext(bg, `ROLLBACK TO write`); err != nil {
				fail(fmt.Errorf("sqlite: rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := tx.ExecContext(bg, `RELEASE write`); err != nil {
			fail(fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	answer()
}
