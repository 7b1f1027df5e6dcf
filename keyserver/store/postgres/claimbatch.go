package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// Grouped claims. What limits claims per second is the work per commit,
// not per claim: a commit waits for its WAL flush, and each statement,
// BEGIN and COMMIT costs a round trip and the server's per-statement CPU
// (parse, bind, plan, executor start-up), several times what claiming one
// key costs. So a claimer goroutine takes the claims waiting and runs them
// as one statement (claimSQL, handles as an array): one round trip, one
// implicit transaction, one flush. A claim is answered only after that
// statement has committed, so it is as durable as a lone one.
//
// One claimer per Store: the claims arriving while its statement runs wait
// for the next, so groups grow with the load and the CPU per claim falls
// (on a 2-core machine under 32 concurrent claimers, 1 claimer used about
// 75 µs of client and server CPU per claim, 2 about 110, 4 about 170, for
// the same claims per second). A claimer never waits for a row lock
// (claimSQL), so one slow claim cannot hold the others for long.
//
// Within one statement the claims of one handle get different keys (they
// are numbered); across processes, FOR UPDATE SKIP LOCKED keeps them on
// different keys, and a claim that finds only keys locked by another
// process is contended and tried again (ClaimPrekeys), exactly as without
// grouping.
const (
	claimWorkers  = 1
	claimBatchMax = 256
	// claimTimeout bounds one grouped transaction; it is not tied to any
	// one caller's context.
	claimTimeout = 30 * time.Second
)

var (
	errStoreClosed = errors.New("store closed")
	// errBadClaimRow is a claim result row naming no claim of the group.
	errBadClaimRow = errors.New("claim result for no claim of the group")
)

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

// runClaims runs a group of claims in one statement, or, if that
// statement fails, each alone so one failure does not fail the others.
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
		ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
		err := s.claimGroup(ctx, batch)
		cancel()
		if err == nil {
			return
		}
	}
	for _, r := range batch {
		if err := s.claimGroup(r.ctx, []*claimReq{r}); err != nil {
			r.out, r.contended, r.err = nil, false, err
		}
	}
}
