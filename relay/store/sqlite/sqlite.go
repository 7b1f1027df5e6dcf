// Package sqlite is the relay's SQLite queue store (modernc.org/sqlite,
// pure Go): one database file in the data directory.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so every
// method that returns nil has its transaction in the WAL file and fsynced
// before it returns. A committed change survives a crash of the process and
// a crash or power loss of the machine, provided the disk honours fsync; an
// uncommitted one leaves no trace. The -wal and -shm files beside the
// database are part of it and must be kept (and backed up) with it.
//
// Group commit: an fsync costs milliseconds, so one per Send would cap the
// relay at a few hundred envelopes a second. Every write (Send, Ack,
// OpenMailbox, Sweep, SetAccess, the push writes of push.go) therefore
// goes to one writer goroutine that owns the writer connection. It takes
// everything waiting at that moment (up to 512 requests or 8 MiB of
// envelopes, see the Options), runs the requests in
// one BEGIN IMMEDIATE transaction, the Acks first and together (one
// statement for all of them), then the others in order, each seeing the
// ones before it (a Send's dedup check sees an earlier Send of the same
// batch; the Sends' envelope rows go in together, by multi-row inserts,
// before any other request that could read them), commits once, and only then answers each caller, after
// reporting each Send's envelopes to its store.Send.Committed in batch
// order. A request whose context is done
// before its batch starts is answered with the context's error and does
// nothing; once its batch has started it runs to the end, and its caller
// waits for the answer whatever its context does. If a batch fails, each
// of its requests is run again in a transaction of its own, so one failing
// request does not fail the others.
//
// Reads (Fetch, Stats, Access, Push, PendingWakes) use a separate pool of
// read-only connections and see the last committed state.
//
// Envelope IDs are per mailbox (spec/relay.md §8.1): the mailbox row's
// last_id counts the envelopes the mailbox has ever been given, and the
// next one gets last_id + 1, so an ID tells its recipient nothing about
// other mailboxes' traffic. last_id is never lowered, so IDs are never
// reused. With one writer they also become visible in increasing order, so
// a reader that fetched up to ID n never misses a later envelope by
// fetching after n. The rowid of an envelope is internal to the store.
//
// Checkpoints of the WAL run on a goroutine of their own (checkpoint.go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeoutMillis is how long a connection waits for another one's lock
// (another process opening the file; one relay never waits on itself).
const busyTimeoutMillis = 10000

// writerCacheKiB is the writer connection's page cache: large enough that
// a batch of maxBatchBytes never spills pages to the WAL before its commit.
const writerCacheKiB = 64 << 10

// Defaults of the Options.
const (
	defaultMaxBatch      = 512
	defaultMaxBatchBytes = 8 << 20
)

// Option changes a setting of Open.
type Option func(*options)

type options struct {
	maxBatch      int
	maxBatchBytes int
}

// WithMaxBatch bounds how many write requests share one transaction
// (default 512); n < 1 means 1.
func WithMaxBatch(n int) Option { return func(o *options) { o.maxBatch = max(n, 1) } }

// WithMaxBatchBytes sets when the writer stops adding Sends to a batch:
// once their envelopes reach n bytes (default 8 MiB). A batch always takes
// at least one request, however large.
func WithMaxBatchBytes(n int) Option { return func(o *options) { o.maxBatchBytes = n } }

// Queue is a store.Queue backed by one SQLite file.
type Queue struct {
	w     *sql.DB    // the one writer connection, used by the writer goroutine
	r     *sql.DB    // read-only connections
	stmts *stmts     // prepared on w
	reads *readStmts // prepared on r
	opts  options
	wake  chan []byte

	// The writer goroutine (writer.go).
	reqs      chan *request
	quit      chan struct{}
	stopped   chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once

	// The checkpoint goroutine (checkpoint.go).
	ckDB           *sql.DB
	ckKick         chan struct{}
	ckQuit, ckDone chan struct{}

	// The mailbox rows as the last committed batch left them (writer.go,
	// batch.box), owned by the writer goroutine.
	boxCache    map[string]box
	dataVersion int64 // PRAGMA data_version when boxCache was last valid

	// Counters of committed batches and the requests they ran, for tests
	// and benchmarks.
	batches, batched atomic.Int64
}

var _ store.Queue = (*Queue)(nil)

// Open opens or creates the database at path and applies any migrations
// it lacks. It fails with a clear error on a file that is not a SQLite
// database, or one written by a newer version of this package.
func Open(path string, opts ...Option) (*Queue, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: invalid database path %q", path)
	}
	o := options{maxBatch: defaultMaxBatch, maxBatchBytes: defaultMaxBatchBytes}
	for _, opt := range opts {
		opt(&o)
	}
	params := url.Values{}
	params.Add("_busy_timeout", fmt.Sprint(busyTimeoutMillis))
	params.Add("_foreign_keys", "1")
	params.Add("_journal_mode", "WAL")
	params.Add("_synchronous", "FULL")
	params.Add("_txlock", "immediate")
	wparams := maps.Clone(params)
	wparams.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writerCacheKiB))
	wparams.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", autoCheckpointPages))
	q := &Queue{opts: o, wake: make(chan []byte)}
	fail := func(err error) (*Queue, error) {
		q.closeDBs()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	q.w, _ = sql.Open("sqlite", path+"?"+wparams.Encode()) // fails only for an unknown driver
	q.w.SetMaxOpenConns(1)
	q.w.SetMaxIdleConns(1)
	q.w.SetConnMaxLifetime(0)
	q.w.SetConnMaxIdleTime(0)
	// The writer connects first: it creates the file, switches it to WAL
	// and brings the schema up to date before any other connection looks
	// at it.
	ctx := context.Background()
	if err := applyMigrations(ctx, q.w); err != nil {
		return fail(err)
	}
	var err error
	if q.stmts, err = prepare(ctx, q.w); err != nil {
		return fail(err)
	}

	params.Del("_journal_mode") // persistent in the file; others may not set it
	params.Set("_txlock", "deferred")
	ck, _ := sql.Open("sqlite", path+"?"+params.Encode())
	ck.SetMaxOpenConns(1)
	q.ckDB = ck
	params.Add("_query_only", "1")
	q.r, _ = sql.Open("sqlite", path+"?"+params.Encode())
	n := max(4, runtime.GOMAXPROCS(0))
	q.r.SetMaxOpenConns(n)
	q.r.SetMaxIdleConns(n)
	if err := errors.Join(q.r.PingContext(ctx), ck.PingContext(ctx)); err != nil {
		return fail(err)
	}
	if q.reads, err = prepareReads(ctx, q.r); err != nil {
		return fail(err)
	}
	q.startCheckpointer()
	q.startWriter()
	return q, nil
}

// Close finishes the writes already taken by the writer, stops it and
// closes the database. Later calls of every method, Close included, fail
// with store.ErrClosed. Wake's channel stays open (and quiet).
func (q *Queue) Close() error {
	err := store.ErrClosed
	q.closeOnce.Do(func() {
		q.closed.Store(true)
		q.stopWriter()
		q.stopCheckpointer()
		if err = q.closeDBs(); err != nil {
			err = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return err
}

// closeDBs closes the statements and connections that are open.
func (q *Queue) closeDBs() error {
	var errs []error
	if q.stmts != nil {
		errs = append(errs, q.stmts.close())
	}
	if q.reads != nil {
		errs = append(errs, q.reads.close())
	}
	for _, db := range []*sql.DB{q.r, q.ckDB, q.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// Wake returns a channel that never receives: one relay uses a SQLite
// store, and it learns of what it stored from Send's answers.
func (q *Queue) Wake() <-chan []byte { return q.wake }

// Commits returns how many write transactions the store has committed
// since Open: every write (OpenMailbox, Send, Ack, SetAccess, Sweep, the
// push-registration calls) runs in one of the writer goroutine's
// transactions. Tests and the load tool check with it that ephemeral sends
// write nothing (spec/relay.md §7.4).
func (q *Queue) Commits() int64 { return q.batches.Load() }

// Stats returns the queue depth of addr.
func (q *Queue) Stats(ctx context.Context, addr []byte) (store.Stats, error) {
	if q.closed.Load() {
		return store.Stats{}, store.ErrClosed
	}
	var st store.Stats
	err := q.reads.s[readStats].QueryRowContext(ctx, addr).Scan(&st.Count, &st.Bytes)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Stats{}, store.ErrNoMailbox
	}
	if err != nil {
		return store.Stats{}, q.readErr("stats", err)
	}
	return st, nil
}

// Fetch returns up to limit unexpired envelopes of addr with ID > after, in
// ID order. An address without a mailbox has none.
func (q *Queue) Fetch(ctx context.Context, addr []byte, after int64, limit int, now time.Time) ([]store.Envelope, error) {
	if q.closed.Load() {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := q.reads.s[readFetch].QueryContext(ctx, addr, after, now.UnixMilli(), limit)
	if err != nil {
		return nil, q.readErr("fetch", err)
	}
	defer rows.Close()
	var es []store.Envelope
	for rows.Next() {
		var e store.Envelope
		var arrived, expiry int64
		if err := rows.Scan(&e.ID, &e.Data, &arrived, &expiry); err != nil {
			return nil, q.readErr("fetch", err)
		}
		e.Arrived, e.Expiry = time.UnixMilli(arrived).UTC(), time.UnixMilli(expiry).UTC()
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, q.readErr("fetch", err)
	}
	return es, nil
}

// BodyStats counts the shared bodies stored (spec/relay.md §16).
func (q *Queue) BodyStats(ctx context.Context) (store.BodyStats, error) {
	if q.closed.Load() {
		return store.BodyStats{}, store.ErrClosed
	}
	var st store.BodyStats
	if err := q.reads.s[readBodyStats].QueryRowContext(ctx).Scan(&st.Count, &st.Bytes, &st.Refs); err != nil {
		return store.BodyStats{}, q.readErr("body stats", err)
	}
	return st, nil
}

// readErr wraps a read's error, or reports ErrClosed if Close raced it.
func (q *Queue) readErr(what string, err error) error {
	if q.closed.Load() {
		return store.ErrClosed
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}
