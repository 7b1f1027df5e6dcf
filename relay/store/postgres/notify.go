package postgres

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// wakeChannel is the LISTEN/NOTIFY channel on which relays sharing a
// database announce mailboxes that gained envelopes; the payload is the
// lower-case hex of the address (spec/relay.md §12).
const wakeChannel = "sealpost_relay"

// Listener reconnect backoff: doubling from the first to the last.
const (
	listenBackoffMin = 50 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// notifyTimeout bounds one batch of notifications.
const notifyTimeout = 5 * time.Second

// notifier sends the NOTIFYs of committed Sends from the pool, one
// statement at a time: addresses queued while a statement is in flight go
// together in the next, each once.
type notifier struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	pending map[string]struct{} // hex addresses

	kick chan struct{} // capacity 1: something is pending
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func newNotifier(pool *pgxpool.Pool) *notifier {
	n := &notifier{
		pool:    pool,
		pending: map[string]struct{}{},
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go n.run()
	return n
}

// add queues a notification for each address.
func (n *notifier) add(addrs [][]byte) {
	if len(addrs) == 0 {
		return
	}
	n.mu.Lock()
	for _, a := range addrs {
		n.pending[hex.EncodeToString(a)] = struct{}{}
	}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.kick:
			n.flush()
		case <-n.quit:
			n.flush()
			return
		}
	}
}

// flush sends everything pending in one autocommitted statement. A failure
// drops the batch: wakes are hints (store.Queue.Wake).
func (n *notifier) flush() {
	n.mu.Lock()
	if len(n.pending) == 0 {
		n.mu.Unlock()
		return
	}
	payloads := make([]string, 0, len(n.pending))
	for p := range n.pending {
		payloads = append(payloads, p)
	}
	clear(n.pending)
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	n.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, wakeChannel, payloads) //nolint:errcheck // see above
}

// stop sends what is pending and stops the notifier. It may be called more
// than once.
func (n *notifier) stop() {
	n.once.Do(func() { close(n.quit) })
	<-n.done
}

// listener holds one dedicated connection LISTENing on wakeChannel (and
// ephemeralChannel, whose payloads go to ephemeral) and
// passes foreign notifications (those not sent by this Queue's pool) to
// deliver, reconnecting with backoff whenever the connection fails.
// Notifications sent while it is disconnected are lost, so after every
// reconnection it delivers an empty address, which Wake documents as
// "re-check every connected mailbox" (spec/relay.md §12).
type listener struct {
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed after the first attempt to listen
	// ephemeral receives the payloads of other nodes' notifications on
	// ephemeralChannel (spec/relay.md §7.4); it must not block.
	ephemeral func(string)
}

// startListener starts the listener and waits for its first attempt to
// connect and LISTEN, so that, unless that failed, other relays' Sends
// after Open wake this one.
func startListener(cfg *pgx.ConnConfig, own *pidSet, deliver func(context.Context, []byte), ephemeral func(string)) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cancel: cancel, done: make(chan struct{}), ready: make(chan struct{}), ephemeral: ephemeral}
	go l.run(ctx, cfg, own, deliver)
	<-l.ready
	return l
}

func (l *listener) run(ctx context.Context, cfg *pgx.ConnConfig, own *pidSet, deliver func(context.Context, []byte)) {
	defer close(l.done)
	backoff := listenBackoffMin
	for attempt := 1; ctx.Err() == nil; attempt++ {
		first := attempt == 1
		ok := l.listenOnce(ctx, cfg, own, deliver, func() {
			if first {
				close(l.ready)
			} else {
				// Notifications may have been lost since Open or while
				// disconnected: ask for every mailbox to be re-checked.
				deliver(ctx, []byte{})
			}
		})
		if ok {
			backoff = listenBackoffMin
		} else if first {
			close(l.ready)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listenOnce connects, listens and delivers until the connection fails or
// ctx ends. It calls listening once LISTEN succeeded, and reports whether
// it did.
func (l *listener) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, own *pidSet, deliver func(context.Context, []byte), listening func()) bool {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	// The wake channel last: its LISTEN is the session's query for
	// operators (and tests) looking for the listener in pg_stat_activity.
	if _, err := conn.Exec(ctx, "LISTEN "+ephemeralChannel); err != nil {
		return false
	}
	if _, err := conn.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
		return false
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		if own.has(n.PID) {
			continue
		}
		if n.Channel == ephemeralChannel {
			l.ephemeral(n.Payload)
			continue
		}
		if n.Channel != wakeChannel {
			continue
		}
		if addr, err := hex.DecodeString(n.Payload); err == nil && len(addr) > 0 {
			deliver(ctx, addr)
		}
	}
}

// stop ends the listener and waits for it. It may be called more than once.
func (l *listener) stop() {
	l.cancel()
	<-l.done
}

// pidSet is the set of backend process ids of a pool's connections, whose
// notifications the listener skips (the Queue woke its own readers at
// commit already).
type pidSet struct {
	mu   sync.Mutex
	pids map[uint32]int
}

func newPIDSet() *pidSet { return &pidSet{pids: map[uint32]int{}} }

func (s *pidSet) add(pid uint32) {
	s.mu.Lock()
	s.pids[pid]++
	s.mu.Unlock()
}

func (s *pidSet) remove(pid uint32) {
	s.mu.Lock()
	if s.pids[pid]--; s.pids[pid] <= 0 {
		delete(s.pids, pid)
	}
	s.mu.Unlock()
}

func (s *pidSet) has(pid uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pids[pid] > 0
}
