package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sealpost/sealpost/keyserver/store"
)

// Grouped claims. Each claim is one statement (claimSQL), and what limits
// claims per second is waiting for the commit's WAL flush, not the
// statement: one flush per claim caps a 2-core server at a few thousand
// claims per second even with PostgreSQL's own group commit. So a few
// claimer goroutines each take the claims waiting, run them in one
// transaction (pipelined, one round trip) and commit once. A claim is
// answered only after that commit, so it is as durable as before.
//
// Within one transaction a later claim sees the earlier ones' deletions;
// across claimers, FOR UPDATE SKIP LOCKED keeps them on different keys, and
// a claim that finds only keys locked by another claimer is contended and
// tried again (ClaimPrekeys), exactly as without grouping.
const (
	claimWorkers  = 2
	claimBatchMax = 64
	// claimTimeout bounds one grouped transaction; it is not tied to any
	// one caller's context.
	claimTimeout = 30 * time.Second
)

var errStoreClosed = errors.New("store closed")

// claimReq is one claim waiting for a claimer.
type claimReq struct {
	ctx       context.Context
	handle    string
	out       []store.Claimed
	contended bool
	err       error
	done      chan struct{}
}

// claimers runs the claimer goroutines until Close.
type claimers struct {
	q    chan *claimReq
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func (s *Store) startClaimers() {
	s.claims = &claimers{q: make(chan *claimReq), stop: make(chan struct{})}
	for range claimWorkers {
		s.claims.wg.Add(1)
		go s.claimer()
	}
}

func (s *Store) stopClaimers() {
	s.claims.once.Do(func() {
		close(s.claims.stop)
		s.claims.wg.Wait()
	})
}

// claimBatched hands one claim to a claimer and waits for its answer.
func (s *Store) claimBatched(ctx context.Context, handle string) ([]store.Claimed, bool, error) {
	r := &claimReq{ctx: ctx, handle: handle, done: make(chan struct{})}
	select {
	case s.claims.q <- r:
	case <-ctx.Done():
		return nil, false, wrap("claim", ctx.Err())
	case <-s.claims.stop:
		return nil, false, wrap("claim", errStoreClosed)
	}
	<-r.done // a claimer answers every request it took
	return r.out, r.contended, r.err
}

// claimer takes the claims waiting, up to claimBatchMax, and runs them.
func (s *Store) claimer() {
	defer s.claims.wg.Done()
	for {
		var first *claimReq
		select {
		case first = <-s.claims.q:
		case <-s.claims.stop:
			return
		}
		batch := []*claimReq{first}
	fill:
		for len(batch) < claimBatchMax {
			select {
			case r := <-s.claims.q:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		live := batch[:0]
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.err = wrap("claim", err) // not started: nothing taken
				close(r.done)
				continue
			}
			live = append(live, r)
		}
		s.runClaims(live)
	}
}

// runClaims runs a group of claims in one transaction, or, if that
// transaction fails, each alone so one failure does not fail the others.
func (s *Store) runClaims(batch []*claimReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	if len(batch) == 0 {
		return
	}
	if len(batch) > 1 {
		if err := s.claimTx(batch); err == nil {
			return
		}
	}
	for _, r := range batch {
		r.out, r.contended, r.err = s.claimOnce(r.ctx, r.handle)
	}
}

// claimTx runs every claim of batch in one transaction and commits it. On
// an error nothing is committed and the results must not be used.
func (s *Store) claimTx(batch []*claimReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	b := &pgx.Batch{}
	for _, r := range batch {
		b.Queue(claimSQL, r.handle)
	}
	br := tx.SendBatch(ctx, b)
	for _, r := range batch {
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		r.out, r.contended, r.err = scanClaim(rows)
		if r.err != nil && !errors.Is(r.err, store.ErrNotFound) {
			br.Close()
			return r.err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
