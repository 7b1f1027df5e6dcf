package postgres

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/relay/store"
)

// sweepBatch is how many expired envelopes one Sweep transaction deletes.
const sweepBatch = 5000

// OpenMailbox creates the mailbox of addr if it does not exist.
func (q *Queue) OpenMailbox(ctx context.Context, addr []byte, now time.Time) error {
	if !q.enter() {
		return store.ErrClosed
	}
	defer q.mu.RUnlock()
	_, err := q.pool.Exec(ctx, `INSERT INTO relay_mailboxes (address, created_ns) VALUES ($1, $2)
		ON CONFLICT (address) DO NOTHING`, addr, nanos(now))
	if err != nil {
		return wrap("open mailbox", err)
	}
	return nil
}

// SetAccess changes the access setting of addr's mailbox (spec/relay.md
// §15.8) in one statement, which reads the old setting under the row's
// lock: store.AccessChange.Apply, in SQL (access_current = $3 is a repeat;
// it is NULL, not true, when either is NULL).
func (q *Queue) SetAccess(ctx context.Context, addr []byte, c store.AccessChange) error {
	if err := c.Check(); err != nil {
		return err
	}
	if !q.enter() {
		return store.ErrClosed
	}
	defer q.mu.RUnlock()
	var keep int64 // ns the old current verifier stays valid; 0: forget it
	if c.Mode == store.AccessContacts && c.PreviousValid > 0 {
		keep = int64(c.PreviousValid)
	}
	tag, err := q.pool.Exec(ctx, `UPDATE relay_mailboxes SET access_mode = $2, access_current = $3,
		access_previous = CASE
			WHEN access_current = $3 THEN CASE WHEN $4::bigint > 0 THEN access_previous END
			WHEN $4::bigint > 0 THEN access_current END,
		access_previous_until_ns = CASE
			WHEN access_current = $3 THEN CASE WHEN $4::bigint > 0 THEN access_previous_until_ns ELSE 0 END
			WHEN $4::bigint > 0 AND access_current IS NOT NULL THEN $5::bigint ELSE 0 END
		WHERE address = $1`, addr, int16(c.Mode), c.Verifier, keep, nanos(c.Now)+keep)
	if err != nil {
		return wrap("set access", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNoMailbox
	}
	return nil
}

// Access returns the access setting of addr's mailbox.
func (q *Queue) Access(ctx context.Context, addr []byte) (store.Access, error) {
	if !q.enter() {
		return store.Access{}, store.ErrClosed
	}
	defer q.mu.RUnlock()
	var a store.Access
	var mode int16
	var until int64
	err := q.pool.QueryRow(ctx, `SELECT access_mode, access_current, access_previous, access_previous_until_ns
		FROM relay_mailboxes WHERE address = $1`, addr).Scan(&mode, &a.Current, &a.Previous, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Access{}, store.ErrNoMailbox
	}
	if err != nil {
		return store.Access{}, wrap("access", err)
	}
	a.Mode = store.AccessMode(mode)
	if a.Previous != nil {
		a.PreviousUntil = fromNanos(until)
	}
	return a, nil
}

// Fetch returns up to limit unexpired envelopes of addr with ID > after, in
// ID order. An address without a mailbox has no envelopes.
func (q *Queue) Fetch(ctx context.Context, addr []byte, after int64, limit int, now time.Time) ([]store.Envelope, error) {
	if !q.enter() {
		return nil, store.ErrClosed
	}
	defer q.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	// A reference to a shared body is delivered as the body
	// (spec/relay.md §16).
	rows, err := q.pool.Query(ctx, `SELECT e.id, coalesce(b.data, e.data), e.arrived_ns, e.expiry_ns
		FROM relay_envelopes e LEFT JOIN relay_bodies b ON b.id = e.body
		WHERE e.address = $1 AND e.id > $2 AND e.expiry_ns > $3 AND (e.body IS NULL OR b.id IS NOT NULL)
		ORDER BY e.id LIMIT $4`, addr, after, nanos(now), limit)
	if err != nil {
		return nil, wrap("fetch", err)
	}
	var es []store.Envelope
	var e store.Envelope
	var arrived, expiry int64
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.Data, &arrived, &expiry}, func() error {
		e.Arrived, e.Expiry = fromNanos(arrived), fromNanos(expiry)
		es = append(es, e)
		e.Data = nil // scan the next row into a fresh slice
		return nil
	})
	if err != nil {
		return nil, wrap("fetch", err)
	}
	return es, nil
}

// releaseBodies deletes those of bodies (the shared bodies of deleted
// references) that no envelope references any more (spec/relay.md
// §16.4). It runs after the transaction that deleted the references has
// committed, so that of acks racing for the last references of one body,
// the last to commit sees every other's deletion and deletes the body. It
// locks only the bodies it deletes: every recipient's ack of one group
// message goes through here without waiting for the others. It does not
// wait for its WAL flush (synchronous_commit off): a deletion lost in a
// crash, or one that fails after the ack committed, leaves a body without
// references, which the sweep deletes at its expiry.
//
// The acks of one group message come together, one per recipient device:
// their releases are coalesced (releases), so that a thousand acks cost a
// few of these transactions, not a thousand. Each Ack still returns only
// after a transaction that began after its own deletion committed.
func (q *Queue) releaseBodies(ctx context.Context, bodies []int64) error {
	if len(bodies) == 0 {
		return nil
	}
	r := &q.release
	done := make(chan error, 1)
	r.mu.Lock()
	r.bodies = append(r.bodies, bodies...)
	r.waiters = append(r.waiters, done)
	if r.running {
		r.mu.Unlock()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err() // the sweep deletes what is left
		}
	}
	// No release runs: this caller runs them, its own and those that
	// arrive meanwhile, until none is left.
	r.running = true
	for len(r.bodies) > 0 {
		ids, waiters := r.bodies, r.waiters
		r.bodies, r.waiters = nil, nil
		r.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
		err := q.deleteReleased(rctx, ids)
		cancel()
		for _, w := range waiters {
			w <- err
		}
		r.mu.Lock()
	}
	r.running = false
	r.mu.Unlock()
	return <-done
}

// releases are the bodies released by acks, waiting for the release in
// progress to end (releaseBodies).
type releases struct {
	mu      sync.Mutex
	running bool         // a caller of releaseBodies is deleting
	bodies  []int64      // the bodies the next deletion considers
	waiters []chan error // their acks, answered after it
}

// deleteReleased runs the deletion of releaseBodies for bodies.
func (q *Queue) deleteReleased(ctx context.Context, bodies []int64) error {
	slices.Sort(bodies)
	bodies = slices.Compact(bodies)
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	b.Queue(deleteReleasedBodies, bodies)
	b.Queue("COMMIT")
	br := q.pool.SendBatch(ctx, b)
	var err error
	for range b.Len() {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// deleteReleasedBodies deletes the bodies of $1 that no envelope
// references (relay_envelopes_body).
const deleteReleasedBodies = `DELETE FROM relay_bodies b WHERE b.id = ANY($1::bigint[])
	AND NOT EXISTS (SELECT FROM relay_envelopes e WHERE e.body = b.id)`

// BodyStats counts the shared bodies stored (spec/relay.md §16).
func (q *Queue) BodyStats(ctx context.Context) (store.BodyStats, error) {
	if !q.enter() {
		return store.BodyStats{}, store.ErrClosed
	}
	defer q.mu.RUnlock()
	var st store.BodyStats
	err := q.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(length(data)), 0),
		(SELECT count(*) FROM relay_envelopes WHERE body IS NOT NULL) FROM relay_bodies`).Scan(&st.Count, &st.Bytes, &st.Refs)
	if err != nil {
		return store.BodyStats{}, wrap("body stats", err)
	}
	return st, nil
}

// Stats returns the queue depth of addr, or store.ErrNoMailbox.
func (q *Queue) Stats(ctx context.Context, addr []byte) (store.Stats, error) {
	if !q.enter() {
		return store.Stats{}, store.ErrClosed
	}
	defer q.mu.RUnlock()
	var st store.Stats
	err := q.pool.QueryRow(ctx, `SELECT count, bytes FROM relay_mailboxes WHERE address = $1`, addr).Scan(&st.Count, &st.Bytes)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Stats{}, store.ErrNoMailbox
	}
	if err != nil {
		return store.Stats{}, wrap("stats", err)
	}
	return st, nil
}

// Sweep deletes the envelopes and dedup records expired at now, the
// envelopes in transactions of up to sweepBatch that lock the mailboxes
// they touch in address order before deleting.
func (q *Queue) Sweep(ctx context.Context, now time.Time) (int, error) {
	if !q.enter() {
		return 0, store.ErrClosed
	}
	defer q.mu.RUnlock()
	total := 0
	for {
		var n, seen int
		var err error
		for attempt := 1; ; attempt++ {
			n, seen, err = q.sweepOnce(ctx, nanos(now))
			if err == nil || attempt >= maxAttempts || !retryable(err) || ctx.Err() != nil {
				break
			}
		}
		total += n
		if err != nil {
			return total, wrap("sweep", err)
		}
		if seen < sweepBatch {
			break
		}
	}
	// Bodies past their expiry (spec/relay.md §16.4): every reference to
	// them has expired too (one send, one expiry), and the loop above
	// deleted those; so are bodies whose release after an ack was lost.
	if _, err := q.pool.Exec(ctx, `DELETE FROM relay_bodies WHERE expiry_ns <= $1`, nanos(now)); err != nil {
		return total, wrap("sweep bodies", err)
	}
	if _, err := q.pool.Exec(ctx, `DELETE FROM relay_dedup WHERE until_ns <= $1`, nanos(now)); err != nil {
		return total, wrap("sweep dedup", err)
	}
	return total, nil
}

// sweepOnce deletes up to sweepBatch expired envelopes in one transaction,
// returning how many it deleted and how many it found.
func (q *Queue) sweepOnce(ctx context.Context, now int64) (int, int, error) {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	rows, err := tx.Query(ctx, `SELECT address, id FROM relay_envelopes WHERE expiry_ns <= $1 LIMIT $2`, now, sweepBatch)
	if err != nil {
		return 0, 0, err
	}
	// Envelopes are keyed by (address, id): ids are per mailbox.
	var ids []int64
	var addrs [][]byte
	var id int64
	var addr []byte
	_, err = pgx.ForEachRow(rows, []any{&addr, &id}, func() error {
		ids, addrs = append(ids, id), append(addrs, addr)
		addr = nil
		return nil
	})
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	locked := slices.Clone(addrs)
	slices.SortFunc(locked, bytes.Compare)
	locked = slices.CompactFunc(locked, bytes.Equal)
	if _, err := tx.Exec(ctx, `SELECT FROM relay_mailboxes WHERE address = ANY($1) ORDER BY address FOR NO KEY UPDATE`, locked); err != nil {
		return 0, 0, err
	}
	// The bodies they reference have expired too (one send, one expiry):
	// Sweep deletes them after this loop.
	var n int
	err = tx.QueryRow(ctx, `WITH d AS (
			DELETE FROM relay_envelopes e USING unnest($1::bytea[], $2::bigint[]) AS k(address, id)
			WHERE e.address = k.address AND e.id = k.id AND e.expiry_ns <= $3 RETURNING e.address, e.size),
		s AS (
			SELECT address, count(*) AS n, sum(size) AS b FROM d GROUP BY address),
		u AS (
			UPDATE relay_mailboxes m SET count = m.count - s.n, bytes = m.bytes - s.b
			FROM s WHERE m.address = s.address)
		SELECT count(*) FROM d`, addrs, ids, now).Scan(&n)
	if err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, err
	}
	return n, len(ids), nil
}
