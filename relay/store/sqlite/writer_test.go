package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

// settle is how long the tests wait for goroutines to queue up behind a
// held writer.
const settle = 200 * time.Millisecond

var (
	bob   = storetest.Addr("bob", 1)
	carol = storetest.Addr("carol", 1)
)

// holdWriter makes the writer goroutine run a request that waits until
// release is called, and returns once it runs.
func holdWriter(t *testing.T, q *Queue) (release func()) {
	t.Helper()
	running, rel, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- q.write(context.Background(), 0, func(b *batch) error {
			close(running)
			<-rel
			return nil
		})
	}()
	<-running
	return func() {
		close(rel)
		if err := <-done; err != nil {
			t.Errorf("held request: %v", err)
		}
	}
}

func testSend(i int) store.Send {
	now := time.UnixMilli(1_900_000_000_000).UTC()
	s := store.Send{
		Sender:        storetest.Addr("alice", 1),
		Items:         []store.Item{{Recipient: bob, Envelope: []byte(fmt.Sprintf("envelope %d", i))}},
		Now:           now,
		Expiry:        now.Add(time.Hour),
		DedupUntil:    now.Add(time.Hour),
		MaxEnvelope:   1024,
		MaxQueueCount: 1000,
		MaxQueueBytes: 1 << 20,
	}
	copy(s.MessageID[:], fmt.Sprintf("message %d", i))
	return s
}

func openBob(t *testing.T, opts ...Option) *Queue {
	q := openTemp(t, opts...)
	if err := q.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	return q
}

// sendAll sends sends concurrently and returns their errors.
func sendAll(q *Queue, sends []store.Send) []error {
	errs := make([]error, len(sends))
	var wg sync.WaitGroup
	for i, s := range sends {
		wg.Go(func() {
			r, err := q.Send(context.Background(), s)
			if err == nil && (len(r.Statuses) != 1 || r.Statuses[0] != store.Stored) {
				err = fmt.Errorf("answer %+v", r)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errs
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxBatch, sends int
		minBatches      int64
		maxBatches      int64
	}{
		{512, 100, 1, 10}, // one batch unless goroutines are slow to queue
		{8, 40, 6, 20},    // at least the held one and five full ones
	} {
		t.Run(fmt.Sprint(tc.maxBatch), func(t *testing.T) {
			q := openBob(t, WithMaxBatch(tc.maxBatch))
			sends := make([]store.Send, tc.sends)
			for i := range sends {
				sends[i] = testSend(i)
			}
			release := holdWriter(t, q)
			b0 := q.batches.Load()
			var errs []error
			done := make(chan struct{})
			go func() { errs = sendAll(q, sends); close(done) }()
			time.Sleep(settle)
			release()
			<-done
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// The held request's batch counts too.
			if n := q.batches.Load() - b0; n < tc.minBatches || n > tc.maxBatches {
				t.Errorf("%d sends took %d batches, want %d to %d", tc.sends, n, tc.minBatches, tc.maxBatches)
			}
			if st, _ := q.Stats(t.Context(), bob); st.Count != tc.sends {
				t.Errorf("stored %d envelopes, want %d", st.Count, tc.sends)
			}
		})
	}
}

func TestSendCancelledWhileQueued(t *testing.T) {
	t.Parallel()
	q := openBob(t)
	release := holdWriter(t, q)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	s := testSend(1)
	go func() {
		_, err := q.Send(ctx, s)
		errc <- err
	}()
	time.Sleep(settle)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled queued Send: %v", err)
	}
	release()
	if st, _ := q.Stats(t.Context(), bob); st.Count != 0 {
		t.Fatalf("cancelled Send stored %d envelopes", st.Count)
	}
	// No dedup record either.
	if r, err := q.Send(t.Context(), s); err != nil || r.Duplicate {
		t.Fatalf("Send after cancelled one: %+v, %v", r, err)
	}
}

// TestCloseWhileSending closes the store under concurrent Sends: each one
// either succeeds and is in the database when it is opened again, or fails
// with ErrClosed and is not.
func TestCloseWhileSending(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relay.db")
	q := openPath(t, path)
	if err := q.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	const n = 200
	sends := make([]store.Send, n)
	for i := range sends {
		sends[i] = testSend(i)
	}
	var errs []error
	done := make(chan struct{})
	go func() { errs = sendAll(q, sends); close(done) }()
	time.Sleep(5 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	<-done

	q = openPath(t, path)
	es, err := q.Fetch(t.Context(), bob, 0, 2*n, testSend(0).Now)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, e := range es {
		stored[string(e.Data)] = true
	}
	ok := 0
	for i, err := range errs {
		in := stored[string(sends[i].Items[0].Envelope)]
		switch {
		case err == nil && !in:
			t.Errorf("send %d answered but not stored", i)
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrClosed):
			t.Errorf("send %d: %v, want ErrClosed", i, err)
		case in:
			t.Errorf("send %d failed but stored", i)
		}
	}
	if len(es) != ok {
		t.Errorf("%d envelopes stored, %d sends answered", len(es), ok)
	}
	t.Logf("%d of %d sends answered before Close", ok, n)
}
