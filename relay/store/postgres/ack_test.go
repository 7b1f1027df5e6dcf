package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/postgres"
)

// TestAcksBatched: the Acks of many mailboxes arriving together (the
// recipients of a group message, spec/relay.md §16.4) each get their own
// count, delete exactly their envelopes, durably (seen by another Queue on
// the same database once they returned), and share transactions: far
// fewer commits than Acks.
func TestAcksBatched(t *testing.T) {
	dsn := pgtest.DSN(t)
	q := open(t, dsn)
	ctx := t.Context()
	const boxes = 256
	env := []byte("envelope")
	addrs := make([][]byte, boxes)
	for i := range addrs {
		addrs[i] = uniqueAddr(t, 1)
		if err := q.OpenMailbox(ctx, addrs[i], time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Two envelopes in every mailbox; each Ack names the first (twice) and
	// an id that does not exist (spec/relay.md §8.3: ignored).
	for range 2 {
		mustSend(t, q, newSend([]byte("alice"), env, addrs...), false)
	}
	first := make([]int64, boxes)
	for i, a := range addrs {
		es := fetchAll(t, q, a)
		if len(es) != 2 {
			t.Fatalf("mailbox %d: %d envelopes before the acks", i, len(es))
		}
		first[i] = es[0].ID
	}

	before := postgres.AckTransactions(q)
	start := make(chan struct{})
	counts := make([]int, boxes)
	errs := make([]error, boxes)
	var wg sync.WaitGroup
	for i := range addrs {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = q.Ack(ctx, addrs[i], []int64{first[i], first[i], first[i] + 1000})
		})
	}
	close(start)
	wg.Wait()
	txns := postgres.AckTransactions(q) - before
	for i := range addrs {
		if errs[i] != nil || counts[i] != 1 {
			t.Errorf("mailbox %d: Ack = %d, %v; want 1, nil", i, counts[i], errs[i])
		}
	}
	if txns < 1 || txns > boxes/2 {
		t.Errorf("%d Acks ran in %d transactions; want at most %d", boxes, txns, boxes/2)
	}
	t.Logf("%d Acks in %d transactions", boxes, txns)

	// Another Queue, other connections: what the Acks answered is committed.
	q2 := open(t, dsn)
	for i, a := range addrs {
		es := fetchAll(t, q2, a)
		if len(es) != 1 || es[0].ID == first[i] {
			t.Errorf("mailbox %d after the ack: %d envelopes", i, len(es))
		}
		st, err := q2.Stats(ctx, a)
		if err != nil || st != (store.Stats{Count: 1, Bytes: int64(len(env))}) {
			t.Errorf("mailbox %d: Stats = %+v, %v; want 1 envelope of %d bytes", i, st, err, len(env))
		}
	}
}

// TestAcksSameMailbox: Acks of one mailbox naming the same ids at once
// delete each envelope once, counted once among them.
func TestAcksSameMailbox(t *testing.T) {
	q := open(t, pgtest.DSN(t))
	ctx := t.Context()
	bob := uniqueAddr(t, 1)
	if err := q.OpenMailbox(ctx, bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		mustSend(t, q, newSend([]byte("alice"), []byte("x"), bob), false)
	}
	var ids []int64
	for _, e := range fetchAll(t, q, bob) {
		ids = append(ids, e.ID)
	}
	const ackers = 16
	counts := make([]int, ackers)
	var wg sync.WaitGroup
	for k := range ackers {
		wg.Go(func() {
			n, err := q.Ack(ctx, bob, ids)
			if err != nil {
				t.Errorf("Ack: %v", err)
			}
			counts[k] = n
		})
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != len(ids) {
		t.Errorf("Acks counted %d deletions of %d envelopes (%v)", total, len(ids), counts)
	}
	if st, err := q.Stats(ctx, bob); err != nil || st.Count != 0 || st.Bytes != 0 {
		t.Errorf("Stats = %+v, %v; want empty", st, err)
	}
}
