package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sealpost/sealpost/relay/store"
)

// Sizes of the concurrent cases.
const (
	concSenders   = 32
	concMailboxes = 8
	concSends     = 12 // per sender
)

func mailbox(i int) []byte { return Addr("mailbox", uint32(i+1)) }

// testConcurrentSends has many senders send to a few mailboxes at once;
// every answered envelope is then in its mailbox exactly once, and each
// sender's envelopes to a mailbox are in the order it sent them.
func testConcurrentSends(t *testing.T, f *fixture) {
	for m := range concMailboxes {
		f.open(mailbox(m))
	}
	var wg sync.WaitGroup
	errs := make(chan error, concSenders)
	var mu sync.Mutex
	prevOf := map[int64]int64{} // id -> Prev, of every envelope answered
	for g := range concSenders {
		wg.Go(func() {
			sender := Addr("sender", uint32(g+1))
			for k := range concSends {
				ms := []int{g % concMailboxes}
				if m := (g + 1 + k) % concMailboxes; m != ms[0] {
					ms = append(ms, m)
				}
				s := f.newSend(sender)
				for _, m := range ms {
					s.Items = append(s.Items, store.Item{Recipient: mailbox(m), Envelope: concEnvelope(g, k, m)})
				}
				r, err := f.q.Send(f.ctx, s)
				if err == nil && (r.Duplicate || len(r.Statuses) != len(ms)) {
					err = fmt.Errorf("answer %+v", r)
				}
				for _, st := range r.Statuses {
					if err == nil && st != store.Stored {
						err = fmt.Errorf("status %v", st)
					}
				}
				if err == nil && (len(r.IDs) != len(ms) || len(r.Prevs) != len(ms)) {
					err = fmt.Errorf("answer %+v", r)
				}
				if err == nil {
					mu.Lock()
					for i, id := range r.IDs {
						prevOf[id] = r.Prevs[i]
					}
					mu.Unlock()
				}
				if err != nil {
					errs <- fmt.Errorf("sender %d send %d: %w", g, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seen := map[[3]int]bool{}
	for m := range concMailboxes {
		last := map[int]int{} // sender -> last k seen in this mailbox
		es := f.fetchAll(mailbox(m), f.now)
		for _, e := range es {
			var g, k, mm int
			if _, err := fmt.Sscanf(string(e.Data), "%d %d %d;", &g, &k, &mm); err != nil || mm != m {
				t.Fatalf("mailbox %d: unexpected envelope %.20q", m, e.Data)
			}
			key := [3]int{g, k, m}
			if seen[key] {
				t.Fatalf("mailbox %d: envelope %v twice", m, key)
			}
			seen[key] = true
			if prev, ok := last[g]; ok && prev >= k {
				t.Fatalf("mailbox %d: sender %d's send %d after its send %d", m, g, k, prev)
			}
			last[g] = k
		}
		// Nothing was deleted: each envelope's Prev is exactly the one
		// before it in its mailbox, whichever sends committed together.
		for i, e := range es {
			want := int64(0)
			if i > 0 {
				want = es[i-1].ID
			}
			if p, ok := prevOf[e.ID]; !ok || p != want {
				t.Fatalf("mailbox %d: envelope %d answered with Prev %d (known %v), want %d", m, e.ID, p, ok, want)
			}
		}
		if st := f.stats(mailbox(m)); st.Count != len(es) {
			t.Fatalf("mailbox %d: Stats count %d, fetched %d", m, st.Count, len(es))
		}
	}
	want := 0
	for g := range concSenders {
		for k := range concSends {
			want++
			if (g+1+k)%concMailboxes != g%concMailboxes {
				want++
			}
		}
	}
	if len(seen) != want {
		t.Fatalf("got %d envelopes, want %d", len(seen), want)
	}
}

func concEnvelope(g, k, m int) []byte {
	return envelope(fmt.Sprintf("%d %d %d;", g, k, m), 64+g)
}

// testConcurrentDuplicates sends the same send from many goroutines at
// once: one is stored, the others are duplicates with its answer.
func testConcurrentDuplicates(t *testing.T, f *fixture) {
	f.open(bob)
	const rounds, racers = 4, 16
	for round := range rounds {
		s := f.newSend(alice,
			store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(round), 10)},
			store.Item{Recipient: carol, Envelope: envelope(fmt.Sprint(round), 10)},
		)
		var fresh atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, racers)
		for range racers {
			wg.Go(func() {
				r, err := f.q.Send(f.ctx, s)
				if err != nil {
					errs <- err
					return
				}
				if len(r.Statuses) != 2 || r.Statuses[0] != store.Stored || r.Statuses[1] != store.NoMailbox {
					errs <- fmt.Errorf("answer %+v", r)
				}
				if !r.Duplicate {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := fresh.Load(); n != 1 {
			t.Fatalf("round %d: %d sends were not duplicates, want 1", round, n)
		}
		f.wantStats(bob, round+1, int64(10*(round+1)))
	}
}

// testConcurrentAcks has senders race for the last places of a queue, then
// ackers race to delete the same envelopes.
func testConcurrentAcks(t *testing.T, f *fixture) {
	f.open(bob)
	const capacity, racers = 10, 24
	var stored atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	for i := range racers {
		wg.Go(func() {
			s := f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(i), 10)})
			s.MaxQueueCount = capacity
			r, err := f.q.Send(f.ctx, s)
			switch {
			case err != nil:
				errs <- err
			case len(r.Statuses) != 1 || r.Duplicate:
				errs <- fmt.Errorf("answer %+v", r)
			case r.Statuses[0] == store.Stored:
				stored.Add(1)
			case r.Statuses[0] != store.QueueFull:
				errs <- fmt.Errorf("status %v", r.Statuses[0])
			}
		})
	}
	wg.Wait()
	if n := stored.Load(); n != capacity {
		t.Fatalf("%d sends stored into a queue of %d", n, capacity)
	}
	f.wantStats(bob, capacity, 10*capacity)

	es := f.fetchAll(bob, f.now)
	var deleted atomic.Int32
	for i := range racers {
		wg.Go(func() {
			// Each acker acks an overlapping half of the queue.
			var ack []int64
			for j, e := range es {
				if (i+j)%2 == 0 {
					ack = append(ack, e.ID)
				}
			}
			n, err := f.q.Ack(f.ctx, bob, ack)
			if err != nil {
				errs <- err
			}
			deleted.Add(int32(n))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := deleted.Load(); n != capacity {
		t.Fatalf("concurrent Acks deleted %d in all, want %d", n, capacity)
	}
	f.wantStats(bob, 0, 0)
}

// testConcurrentCursor has a reader follow a mailbox with Fetch(after the
// last ID it saw) while senders fill it: it must see every envelope, that
// is, no envelope may become visible after one with a higher ID.
func testConcurrentCursor(t *testing.T, f *fixture) {
	f.open(bob)
	const senders, sends = 8, 12 // within maxQueueCount
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			for k := range sends {
				s := f.newSend(Addr("sender", uint32(g+1)), store.Item{Recipient: bob, Envelope: concEnvelope(g, k, 0)})
				r, err := f.q.Send(f.ctx, s)
				if err == nil && (len(r.Statuses) != 1 || r.Statuses[0] != store.Stored) {
					err = fmt.Errorf("answer %+v", r)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var seen []store.Envelope
	after := int64(0)
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		es, err := f.q.Fetch(f.ctx, bob, after, 7, f.now)
		must(t, "Fetch", err)
		seen = append(seen, es...)
		if len(es) > 0 {
			after = es[len(es)-1].ID
		} else if finished {
			break
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := f.fetchAll(bob, f.now)
	if len(all) != senders*sends {
		t.Fatalf("stored %d envelopes, want %d", len(all), senders*sends)
	}
	if len(seen) != len(all) {
		t.Fatalf("a reader fetching after the last ID it saw got %d of %d envelopes", len(seen), len(all))
	}
}

// testConcurrentAckMailboxes runs Acks of several mailboxes at once (an
// engine may run them together): each deletes only its own mailbox's
// envelopes, and an id acked twice at once is counted once.
func testConcurrentAckMailboxes(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	var bobIDs, bob2IDs []int64
	for i := range 20 {
		r := f.send(f.newSend(alice,
			store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(i), 10)},
			store.Item{Recipient: bob2, Envelope: envelope(fmt.Sprint(i), 20)},
		), false, store.Stored, store.Stored)
		bobIDs, bob2IDs = append(bobIDs, r.IDs[0]), append(bob2IDs, r.IDs[1])
	}
	acks := []struct {
		addr []byte
		ids  []int64
	}{
		{bob, append(append([]int64{}, bobIDs...), bob2IDs...)}, // bob2's ids are not bob's
		{bob2, bob2IDs[:15]},
		{bob2, bob2IDs[5:]},
		{carol, bobIDs}, // no mailbox
	}
	got := make([]int, len(acks))
	var wg sync.WaitGroup
	errs := make(chan error, len(acks))
	for i, a := range acks {
		wg.Go(func() {
			n, err := f.q.Ack(f.ctx, a.addr, a.ids)
			if err != nil && !errors.Is(err, store.ErrNoMailbox) {
				errs <- fmt.Errorf("ack %d: %w", i, err)
			}
			got[i] = n
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got[0] != 20 || got[1]+got[2] != 20 || got[3] != 0 {
		t.Fatalf("deleted %v, want 20, 20 between the two of bob2, 0", got)
	}
	f.wantStats(bob, 0, 0)
	f.wantStats(bob2, 0, 0)
	if es := f.fetchAll(bob2, f.now); len(es) != 0 {
		t.Fatalf("bob2 still holds %d", len(es))
	}
}
