package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// The mailbox rows kept between batches (batch.box, Queue.boxCache) never
// let a Send see a count, or a mailbox, other than the database's.

func sendOne(t *testing.T, q *Queue, s store.Send) store.SendResult {
	t.Helper()
	r, err := q.Send(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCacheSeesOtherConnection(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relay.db")
	q := openPath(t, path)
	if err := q.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, "first send", sendOne(t, q, testSend(1)), false, store.Stored)

	// Another connection (another process on the file) fills the queue.
	other, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`UPDATE mailboxes SET count = 1000 WHERE addr = ?`, bob); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, "send after another connection filled the queue", sendOne(t, q, testSend(2)), false, store.QueueFull)
	if st, err := q.Stats(t.Context(), bob); err != nil || st.Count != 1000 {
		t.Fatalf("Stats = %+v, %v; want the other connection's count, unchanged", st, err)
	}
}

func TestCacheAfterFailedBatch(t *testing.T) {
	t.Parallel()
	q := openBob(t)
	capped := func(i int) store.Send {
		s := testSend(i)
		s.MaxQueueCount = 2
		return s
	}
	// The batch fails after the Send reserved its place; the Send is then
	// run alone and stores one envelope, not two.
	boom := errors.New("boom")
	s := newSendOp(t.Context(), capped(1))
	errs := runOneBatch(q, s.req, opRequest(func(b *batch) error { return boom }))
	if errs[0] != nil || !errors.Is(errs[1], boom) {
		t.Fatalf("errors %v, want nil and boom", errs)
	}
	wantStatuses(t, "send of the failed batch", s.res, false, store.Stored)
	wantStatuses(t, "second send", sendOne(t, q, capped(2)), false, store.Stored)
	wantStatuses(t, "third send", sendOne(t, q, capped(3)), false, store.QueueFull)
	if st, err := q.Stats(t.Context(), bob); err != nil || st.Count != 2 {
		t.Fatalf("Stats = %+v, %v; want 2", st, err)
	}
}

func TestCacheOpenMailboxAfterNoMailbox(t *testing.T) {
	t.Parallel()
	q := openBob(t)
	toCarol := func(i int) store.Send {
		s := testSend(i)
		s.Items[0].Recipient = carol
		return s
	}
	wantStatuses(t, "send before carol's mailbox", sendOne(t, q, toCarol(1)), false, store.NoMailbox)
	if err := q.OpenMailbox(t.Context(), carol, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, "send after carol's mailbox", sendOne(t, q, toCarol(2)), false, store.Stored)
	if st, err := q.Stats(t.Context(), carol); err != nil || st.Count != 1 {
		t.Fatalf("Stats = %+v, %v; want 1", st, err)
	}
}
