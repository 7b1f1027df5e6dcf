package postgres_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
)

// TestCloseWithSendsInFlight closes a Queue while senders run: every Send
// either succeeds, and its envelope is there after reopening, or fails
// with ErrClosed; none hangs.
func TestCloseWithSendsInFlight(t *testing.T) {
	dsn := pgtest.DSN(t)
	q := open(t, dsn)
	bob := uniqueAddr(t, 1)
	if err := q.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	var stored atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Go(func() {
			sender := uniqueAddr(t, uint32(g+2))
			for {
				r, err := q.Send(t.Context(), newSend(sender, []byte("x"), bob))
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil || r.Statuses[0] != store.Stored {
					errs <- err
					return
				}
				stored.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		q.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung with Sends in flight")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Send: %v", err)
	}
	n := stored.Load()
	if n == 0 {
		t.Fatal("no Send succeeded before Close")
	}
	q = open(t, dsn)
	if st, err := q.Stats(t.Context(), bob); err != nil || int64(st.Count) != n || len(fetchAll(t, q, bob)) != int(n) {
		t.Fatalf("after reopening: stats %+v, %v; want %d envelopes", st, err, n)
	}
}
