package keyserver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// epochStore is a store whose LatestEpoch blocks until the test answers
// it on reply, and counts its calls on started.
type epochStore struct {
	store.Store
	started chan struct{}
	reply   chan uint64
}

func (s *epochStore) LatestEpoch(ctx context.Context) (uint64, error) {
	s.started <- struct{}{}
	select {
	case e := <-s.reply:
		return e, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// A lookup that arrives while a read of the latest epoch runs waits for
// the next read, never takes the running one's answer (it may predate the
// lookup: spec/keyserver.md §9.1 "the latest epoch when the request was
// read"); the lookups waiting together share that next read.
func TestEpochReaderFreshAndShared(t *testing.T) {
	st := &epochStore{started: make(chan struct{}), reply: make(chan uint64)}
	r := &epochReader{st: st}
	ctx := t.Context()
	type got struct {
		e   uint64
		err error
	}
	first := make(chan got, 1)
	go func() {
		e, err := r.latest(ctx)
		first <- got{e, err}
	}()
	<-st.started // read 1 runs, for the first lookup
	const later = 5
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []got
	)
	for range later {
		wg.Go(func() {
			e, err := r.latest(ctx)
			mu.Lock()
			results = append(results, got{e, err})
			mu.Unlock()
		})
	}
	// Let every later lookup join before read 1 ends.
	for joined := 0; joined < later; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		if r.next != nil {
			joined = r.next.waiters
		}
		r.mu.Unlock()
	}
	st.reply <- 1 // read 1 ends: an epoch committed before the later lookups
	if g := <-first; g.err != nil || g.e != 1 {
		t.Fatalf("first lookup: %d, %v", g.e, g.err)
	}
	<-st.started // read 2, shared by the later lookups
	st.reply <- 2
	wg.Wait()
	for i, g := range results {
		if g.err != nil || g.e != 2 {
			t.Errorf("later lookup %d: epoch %d, %v; want 2 (read after it arrived)", i, g.e, g.err)
		}
	}
	// No third read: the later lookups shared read 2.
	select {
	case <-st.started:
		t.Error("a third read ran for lookups that read 2 served")
	case <-time.After(50 * time.Millisecond):
	}
}

// A lookup whose context ends stops waiting; the read it joined still
// serves the others.
func TestEpochReaderCancel(t *testing.T) {
	st := &epochStore{started: make(chan struct{}), reply: make(chan uint64)}
	r := &epochReader{st: st}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := r.latest(ctx)
		done <- err
	}()
	<-st.started
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled lookup returned no error")
	}
	other := make(chan uint64, 1)
	go func() {
		e, _ := r.latest(t.Context())
		other <- e
	}()
	st.reply <- 7 // the abandoned read ends
	<-st.started
	st.reply <- 8
	if e := <-other; e != 8 {
		t.Errorf("next lookup: epoch %d, want 8", e)
	}
}
