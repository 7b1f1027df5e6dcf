package sqlite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Tests that put chosen requests into one batch: the writer goroutine is
// stopped and the test runs the batch itself.

// sendOp is a Send as a request, with its answer.
type sendOp struct {
	req *request
	res store.SendResult
}

func newSendOp(ctx context.Context, s store.Send) *sendOp {
	o := &sendOp{}
	o.req = &request{ctx: ctx, done: make(chan error, 1), op: func(b *batch) error {
		var err error
		o.res, err = b.send(&s)
		return err
	}}
	return o
}

func opRequest(op func(b *batch) error) *request {
	return &request{ctx: context.Background(), op: op, done: make(chan error, 1)}
}

// runOneBatch runs reqs as the writer would run them after taking them
// together, and returns their errors.
func runOneBatch(q *Queue, reqs ...*request) []error {
	q.stopWriter()
	defer q.startWriter()
	q.run(reqs)
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		errs[i] = <-r.done
	}
	return errs
}

func wantNoErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

func wantStatuses(t *testing.T, what string, r store.SendResult, duplicate bool, want ...store.Status) {
	t.Helper()
	if r.Duplicate != duplicate || len(r.Statuses) != len(want) {
		t.Fatalf("%s: answer %+v, want %v duplicate=%v", what, r, want, duplicate)
	}
	for i := range want {
		if r.Statuses[i] != want[i] {
			t.Fatalf("%s: answer %+v, want %v duplicate=%v", what, r, want, duplicate)
		}
	}
}

func TestSendCompletesOnceBatchStarted(t *testing.T) {
	t.Parallel()
	q := openBob(t)
	ctx, cancel := context.WithCancel(t.Context())
	s := newSendOp(ctx, testSend(1))
	// The request before the Send cancels it once the batch has started.
	errs := runOneBatch(q, opRequest(func(b *batch) error { cancel(); return nil }), s.req)
	wantNoErrors(t, errs)
	wantStatuses(t, "Send cancelled inside its batch", s.res, false, store.Stored)
	if st, _ := q.Stats(t.Context(), bob); st.Count != 1 {
		t.Fatalf("stored %d envelopes, want 1", st.Count)
	}
	// Cancelled before: dropped.
	s2 := newSendOp(ctx, testSend(2))
	if err := runOneBatch(q, s2.req)[0]; !errors.Is(err, context.Canceled) {
		t.Fatalf("Send cancelled before its batch: %v", err)
	}
	if st, _ := q.Stats(t.Context(), bob); st.Count != 1 {
		t.Fatalf("stored %d envelopes, want 1", st.Count)
	}
}

func TestBatchFailureIsolated(t *testing.T) {
	t.Parallel()
	q := openBob(t)
	errBad := errors.New("bad request")
	s1, s2 := newSendOp(t.Context(), testSend(1)), newSendOp(t.Context(), testSend(2))
	errs := runOneBatch(q, s1.req, opRequest(func(b *batch) error { return errBad }), s2.req)
	if !errors.Is(errs[1], errBad) {
		t.Fatalf("failing request: %v", errs[1])
	}
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("Sends sharing a batch with a failed request: %v", errs)
	}
	wantStatuses(t, "first Send", s1.res, false, store.Stored)
	wantStatuses(t, "second Send", s2.res, false, store.Stored)
	// Stored once each, although their first batch ran them too.
	want := store.Stats{Count: 2, Bytes: int64(2 * len("envelope 1"))}
	if st, _ := q.Stats(t.Context(), bob); st != want {
		t.Fatalf("Stats %+v, want %+v", st, want)
	}
	es, err := q.Fetch(t.Context(), bob, 0, 100, testSend(0).Now)
	if err != nil || len(es) != 2 {
		t.Fatalf("Fetch: %d envelopes, %v; want 2", len(es), err)
	}
}

// TestDuplicatesInOneBatch runs a send, its retries and other sends in one
// batch: the retries are duplicates and leave the counts alone.
func TestDuplicatesInOneBatch(t *testing.T) {
	t.Parallel()
	q := openBob(t)
	s := testSend(1)
	s.Items = append(s.Items, store.Item{Recipient: bob, Envelope: []byte("second item")})
	ops := []*sendOp{newSendOp(t.Context(), testSend(2))}
	for range 3 {
		ops = append(ops, newSendOp(t.Context(), s))
	}
	ops = append(ops, newSendOp(t.Context(), testSend(3)))
	var reqs []*request
	for _, o := range ops {
		reqs = append(reqs, o.req)
	}
	wantNoErrors(t, runOneBatch(q, reqs...))
	wantStatuses(t, "other Send", ops[0].res, false, store.Stored)
	wantStatuses(t, "Send", ops[1].res, false, store.Stored, store.Stored)
	wantStatuses(t, "retry", ops[2].res, true, store.Stored, store.Stored)
	wantStatuses(t, "retry", ops[3].res, true, store.Stored, store.Stored)
	wantStatuses(t, "other Send", ops[4].res, false, store.Stored)
	want := store.Stats{Count: 4, Bytes: int64(2*len("envelope 2") + len("envelope 1") + len("second item"))}
	if st, _ := q.Stats(t.Context(), bob); st != want {
		t.Fatalf("Stats %+v, want %+v", st, want)
	}
}

// TestOpenMailboxInBatch opens a mailbox between two Sends to it in one
// batch: the first finds no mailbox, the second stores.
func TestOpenMailboxInBatch(t *testing.T) {
	t.Parallel()
	q := openTemp(t)
	s1, s2 := testSend(1), testSend(2)
	s1.Items[0].Recipient, s2.Items[0].Recipient = carol, carol
	o1, o2 := newSendOp(t.Context(), s1), newSendOp(t.Context(), s2)
	open := opRequest(func(b *batch) error { return b.openMailbox(carol, time.Now()) })
	wantNoErrors(t, runOneBatch(q, o1.req, open, o2.req))
	wantStatuses(t, "Send before OpenMailbox", o1.res, false, store.NoMailbox)
	wantStatuses(t, "Send after OpenMailbox", o2.res, false, store.Stored)
	if st, err := q.Stats(t.Context(), carol); err != nil || st.Count != 1 {
		t.Fatalf("Stats %+v, %v", st, err)
	}
}

// TestMultiRowInserts: the envelope rows of a batch's Sends go in by the
// multi-row inserts (64, 16, 4 and 1 rows: 64+4+1+1 for 70), each with
// its own id and data, and a request after them in the batch that is no
// Send sees every one of them (batch.insertPending runs before it).
func TestMultiRowInserts(t *testing.T) {
	t.Parallel()
	const n = 70
	q := openBob(t)
	sends := make([]store.Send, n)
	for i := range sends {
		sends[i] = testSend(i)
	}
	release := holdWriter(t, q)
	b0 := q.batches.Load()
	var errs []error
	sent := make(chan struct{})
	go func() { errs = sendAll(q, sends); close(sent) }()
	time.Sleep(settle)
	seen := make(chan int, 1)
	counted := make(chan error, 1)
	go func() {
		counted <- q.write(context.Background(), 0, func(b *batch) error {
			var c int
			err := b.tx.QueryRowContext(b.ctx, `SELECT count(*) FROM envelopes WHERE addr = ?`, bob).Scan(&c)
			seen <- c
			return err
		})
	}()
	time.Sleep(settle)
	release()
	<-sent
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-counted; err != nil {
		t.Fatal(err)
	}
	if n := q.batches.Load() - b0; n != 2 {
		t.Fatalf("the sends and the count took %d batches with the held one, want 2 (a slow machine?)", n)
	}
	if c := <-seen; c != n {
		t.Errorf("a request after %d Sends in their batch saw %d envelope rows", n, c)
	}
	envs, err := q.Fetch(t.Context(), bob, 0, 2*n, sends[0].Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != n {
		t.Fatalf("fetched %d envelopes, want %d", len(envs), n)
	}
	data := map[string]bool{}
	for i, e := range envs {
		if e.ID != int64(i+1) {
			t.Errorf("envelope %d has id %d", i, e.ID)
		}
		data[string(e.Data)] = true
	}
	for i := range n {
		if !data[fmt.Sprintf("envelope %d", i)] {
			t.Errorf("envelope %d not stored", i)
		}
	}
}
