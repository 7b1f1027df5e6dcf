package relay

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/sqlite"
)

// tapQueue wraps a Queue: it counts the Fetch calls that returned, and,
// when wake is set, hands the relay that channel instead of the wrapped
// Queue's, so that a test decides which wake-ups the relay sees.
type tapQueue struct {
	store.Queue
	wake    chan []byte
	fetched atomic.Int64
	// Calls that write to the store (spec/relay.md §7.4: ephemeral sends
	// make none).
	sends, acks, opens atomic.Int64
	// Over a SQLite store, the store's own count of committed write
	// transactions (sqlite.Queue.Commits): at start, and those committed
	// while an OpenMailbox call ran (creating a mailbox). Any other
	// commit is a write by some other path.
	baseCommits int64
	openCommits atomic.Int64
}

// commits is the SQLite store's count of committed write transactions,
// and false for another engine.
func (q *tapQueue) commits() (int64, bool) {
	if sq, ok := q.Queue.(*sqlite.Queue); ok {
		return sq.Commits(), true
	}
	return 0, false
}

func (q *tapQueue) Send(ctx context.Context, s store.Send) (store.SendResult, error) {
	q.sends.Add(1)
	return q.Queue.Send(ctx, s)
}

func (q *tapQueue) Ack(ctx context.Context, addr []byte, ids []int64) (int, error) {
	q.acks.Add(1)
	return q.Queue.Ack(ctx, addr, ids)
}

func (q *tapQueue) OpenMailbox(ctx context.Context, addr []byte, now time.Time) error {
	q.opens.Add(1)
	c0, _ := q.commits()
	err := q.Queue.OpenMailbox(ctx, addr, now)
	c1, _ := q.commits()
	q.openCommits.Add(c1 - c0)
	return err
}

func (q *tapQueue) Fetch(ctx context.Context, addr []byte, after int64, limit int, now time.Time) ([]store.Envelope, error) {
	defer q.fetched.Add(1)
	return q.Queue.Fetch(ctx, addr, after, limit, now)
}

func (q *tapQueue) Wake() <-chan []byte {
	if q.wake != nil {
		return q.wake
	}
	return q.Queue.Wake()
}

// An empty address from Queue.Wake makes the relay re-check every
// connected mailbox (spec/relay.md §12): envelopes whose wake-up was lost
// are delivered then, and not before (the relay does not poll).
func TestEmptyWakeRechecksEveryMailbox(t *testing.T) {
	sq, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapQueue{Queue: sq, wake: make(chan []byte)}
	clk := newClock()
	s, err := New(Config{
		Name: relayName, Queue: tap, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}, Now: clk.Now,
	})
	if err != nil {
		sq.Close()
		t.Fatal(err)
	}
	e := serveRelay(t, sq, s, clk)

	bob, carol := addr("bob", 1), addr("carol", 2)
	b, _ := e.connect("bob", 1)
	c, _ := e.connect("carol", 2)
	// Both connections have made their first fetch (of nothing): from now
	// on only a wake-up or an ack makes the relay fetch again.
	waitFor(t, func() bool { return tap.fetched.Load() >= 2 })

	// Stored behind the relay's back: sqlite's own wake-ups go nowhere.
	now := clk.Now()
	res, err := sq.Send(context.Background(), store.Send{
		Sender: addr("alice", 7), MessageID: [store.MessageIDSize]byte{1},
		Items: []store.Item{{Recipient: bob, Envelope: []byte("to bob")}, {Recipient: carol, Envelope: []byte("to carol")}},
		Now:   now, Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
		MaxEnvelope: e.lim.MaxEnvelope, MaxQueueCount: e.lim.MaxQueueCount, MaxQueueBytes: e.lim.MaxQueueBytes,
	})
	if err != nil || res.Duplicate || len(res.Statuses) != 2 || res.Statuses[0] != store.Stored || res.Statuses[1] != store.Stored {
		t.Fatalf("Send: %v, %v", res, err)
	}
	b.quiet(300 * time.Millisecond)
	c.quiet(10 * time.Millisecond)

	// A wake-up for another address fetches nothing for them.
	tap.wake <- addr("dave", 3)
	b.quiet(300 * time.Millisecond)
	c.quiet(10 * time.Millisecond)

	tap.wake <- []byte{}
	for _, x := range []struct {
		c    *client
		want string
	}{{b, "to bob"}, {c, "to carol"}} {
		f, err := x.c.next(time.Second)
		if err != nil {
			t.Fatalf("%s: no delivery after the empty wake-up: %v", x.want, err)
		}
		d := f.GetDeliver()
		if d == nil || len(d.Deliveries) != 1 || string(d.Deliveries[0].Envelope) != x.want {
			t.Fatalf("%s: got %v", x.want, f)
		}
		x.c.ack(d.Deliveries[0].Id)
	}
	waitFor(t, func() bool { return e.depth(bob).Count == 0 && e.depth(carol).Count == 0 })
}
