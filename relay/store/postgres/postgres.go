// Package postgres is the PostgreSQL implementation of store.Queue, through
// github.com/jackc/pgx/v5 and a pgxpool connection pool.
//
// Several relay processes may share one database (and schema). Sends are
// group-committed: a few writer goroutines each take all pending Sends and
// commit them in one transaction of a handful of statements (send.go,
// batch.go). A batch locks the mailbox rows of its recipients (SELECT ...
// FOR NO KEY UPDATE, in address order) before it checks the caps and
// appends, so the caps hold across processes. Envelope ids are per
// mailbox (spec/relay.md §8.1): the row's last_id counts the envelopes the
// mailbox has ever been given and the next gets last_id + 1, counted under
// the lock, so ids commit in id order within a mailbox (a reader that has
// seen id n never later finds a smaller id appear), are never reused, and
// tell a device nothing about other mailboxes' traffic. They live in the
// database, so any node sharing it takes the acks of ids another gave. The dedup record of
// each Send is inserted in the same transaction, keyed on (sender, message
// id): a retry through another relay waits for the first to commit and
// then gets its answer.
//
// Wake across relays uses LISTEN/NOTIFY on the channel "sealpost_relay"
// with the hex of the address as payload: each Queue keeps one dedicated
// connection listening (reconnecting with backoff when it drops) and sends
// the notifications of its committed Sends, coalesced, from the pool. The
// notifications are sent after the commit rather than inside the Send's
// transaction, because a transaction that notifies holds a database-wide
// lock from its pre-commit until its end, WAL flush included, which would
// serialise every Send's commit and defeat PostgreSQL's group commit.
// Migrations are embedded (migrations/NNNN_name.sql), recorded in
// schema_migrations under the component "relay" and applied at Open under
// a transaction-scoped advisory lock.
//
// Tables live in the first schema of the connection's search_path; select
// another schema with the DSN (search_path=NAME).
//
// Durability: every session runs with synchronous_commit=on (unless the DSN
// sets synchronous_commit itself), so a Send that returned has its
// transaction flushed to the server's write-ahead log and survives a crash
// of the relay, the server or its machine (given fsync on and honest
// disks). Sends pay one WAL flush per batch, not per Send, and the
// writers' transactions in flight together share a flush too. Acks are
// batched the same way (ack.go): the Acks waiting together commit in one
// transaction, and each is answered only after that commit.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/pgpool"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealpost/sealpost/relay/store"
)

// DefaultConnectTimeout bounds each connection attempt when the DSN sets no
// connect_timeout, so an unreachable server is an error, not a hang.
const DefaultConnectTimeout = 10 * time.Second

// DefaultMaxConns is the pool size when the DSN sets no pool_max_conns:
// room for the writers (DefaultWriters), the ack writers
// (DefaultAckWriters), the notifier and the relay's
// concurrent Fetch, Ack and Stats calls.
const DefaultMaxConns = 32

// wakeBuffer is the capacity of the Wake channel; when it is full, the
// listener waits (deliverWake).
const wakeBuffer = 4096

// Queue is a store.Queue on PostgreSQL.
type Queue struct {
	pool *pgxpool.Pool
	wake chan []byte

	// mu is read-held by every operation and write-held by Close, so that
	// Close waits for operations in flight and later ones see closed.
	mu     sync.RWMutex
	closed bool

	requests    []chan *request  // one per writer; closed by Close
	ackRequests chan *ackRequest // the ack writers' (ack.go); closed by Close
	writers     sync.WaitGroup   // the writers and the ack writers
	acked       ackBatches

	notify   *notifier
	listener *listener
	publish  *publisher      // ephemeral items (spec/relay.md §7.4)
	eph      chan store.Item // ephemeral items from other nodes
	tag      [ephemeralTagSize]byte

	release releases // the bodies acks released, deleted together (releaseBodies)
}

var _ store.Queue = (*Queue)(nil)

// Open connects to the database named by dsn (a URL or keyword/value
// connection string that pgx accepts, including pool_max_conns and the
// like), checks that it answers, applies any migrations it lacks and
// starts listening for other relays' wakes.
func Open(ctx context.Context, dsn string) (*Queue, error) {
	cfg, err := pgpool.Config(dsn, DefaultMaxConns, DefaultConnectTimeout)
	if err != nil {
		return nil, err
	}
	own := newPIDSet()
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		own.add(c.PgConn().PID())
		return nil
	}
	cfg.BeforeClose = func(c *pgx.Conn) { own.remove(c.PgConn().PID()) }
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	pool, err := pgpool.Open(ctx, cfg, migrationComponent, ms)
	if err != nil {
		return nil, err
	}
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		pool.Close()
		return nil, wrap("current schema", err)
	}
	q := &Queue{pool: pool, wake: make(chan []byte, wakeBuffer), eph: make(chan store.Item, ephemeralBuffer), tag: ephemeralTag(schema)}
	for range DefaultWriters {
		ch := make(chan *request)
		q.requests = append(q.requests, ch)
		q.writers.Add(1)
		go q.writer(ch)
	}
	q.ackRequests = make(chan *ackRequest)
	for range DefaultAckWriters {
		q.writers.Add(1)
		go q.ackWriter(q.ackRequests)
	}
	q.notify = newNotifier(pool)
	q.publish = newPublisher(pool)
	q.listener = startListener(cfg.ConnConfig.Copy(), own, q.deliverWake, q.deliverEphemeral)
	return q, nil
}

// Close stops the listener, waits for operations in flight and the
// writers, sends the notifications queued (ephemeral items still queued
// are dropped), closes the pool and then the Wake and Ephemeral channels. It may be called more than once.
func (q *Queue) Close() error {
	q.listener.stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	for _, ch := range q.requests {
		close(ch)
	}
	close(q.ackRequests)
	q.writers.Wait()
	q.notify.stop()
	q.publish.stop()
	q.pool.Close()
	close(q.wake)
	close(q.eph)
	return nil
}

// enter starts an operation, reporting false after Close; the caller must
// call q.mu.RUnlock when it returned true.
func (q *Queue) enter() bool {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return false
	}
	return true
}

// Wake returns the channel of addresses whose mailboxes gained envelopes
// through another Queue sharing the database (this one's Sends are
// answered with what they stored). An empty address means that
// notifications from other relays may have been lost (the listening
// connection was re-established): the relay
// should re-check every connected mailbox (spec/relay.md §12). The channel
// is closed by Close.
func (q *Queue) Wake() <-chan []byte { return q.wake }

// deliverWake passes addr to Wake, waiting for room (the listener's
// notifications wait meanwhile), unless ctx ends: the listener stops at
// Close before the channel is closed. The listener calls it concurrently
// with Close, so it holds mu.
func (q *Queue) deliverWake(ctx context.Context, addr []byte) {
	if !q.enter() {
		return
	}
	defer q.mu.RUnlock()
	select {
	case q.wake <- addr:
	case <-ctx.Done():
	}
}

// retryable reports whether err is a deadlock or serialization failure,
// after which the whole transaction may be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errRetry) || errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// wrap prefixes err with the package name and what failed.
func wrap(what string, err error) error {
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// nanos and fromNanos convert times to and from the columns' Unix
// nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(ns int64) time.Time { return time.Unix(0, ns) }
