package postgres

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/relay/store"
)

// Push registrations and wake-up bookkeeping (store.PushQueue,
// spec/push.md §2, §3), in relay_push (migrations/0005_push.sql), shared
// by every node on the database. A claim locks the registrations it can
// claim (FOR NO KEY UPDATE, in address order, so that concurrent claims
// never deadlock), reads their latest committed state under the lock and
// sets next_wake_ns in the same transaction: of two nodes claiming one
// registration at once, the second waits for the first to commit and then
// sees its next_wake_ns (claimOnce). The other writes change one row in
// one statement. Times are Unix nanoseconds, 0 for the zero time; woken
// and through are envelope ids (spec/push.md §3.1, §3.3), which the
// queries find through the primary key (address, id) of relay_envelopes
// without reading the queue (newMail, newestID).

var _ store.PushQueue = (*Queue)(nil)

// SetPush makes t the push target of addr's mailbox, or removes its
// registration when t is nil, in one statement: an insert that, on a
// registration with another target, replaces it with a new gen, and
// leaves one with the same target alone. The statement's answer is
// whether the mailbox exists (its WITH part runs whatever the answer
// reads of it).
func (q *Queue) SetPush(ctx context.Context, addr []byte, t *store.PushTarget) error {
	if t != nil {
		if err := t.Check(); err != nil {
			return err
		}
	}
	if !q.enter() {
		return store.ErrClosed
	}
	defer q.mu.RUnlock()
	var exists bool
	var err error
	if t == nil {
		err = q.pool.QueryRow(ctx, `WITH d AS (DELETE FROM relay_push WHERE address = $1 RETURNING 1)
			SELECT EXISTS (SELECT FROM relay_mailboxes WHERE address = $1)`, addr).Scan(&exists)
	} else {
		// nextval draws a gen even for an unchanged target: gens need
		// only increase.
		err = q.pool.QueryRow(ctx, `WITH i AS (
				INSERT INTO relay_push AS p (address, gen, kind, endpoint, p256dh, auth, token)
				SELECT address, nextval('relay_push_gen_seq'), $2, $3, $4, $5, $6
				FROM relay_mailboxes WHERE address = $1
				ON CONFLICT (address) DO UPDATE SET gen = excluded.gen, kind = excluded.kind,
					endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth,
					token = excluded.token, next_wake_ns = 0, woken = 0, failures = 0
				WHERE (p.kind, p.endpoint, p.p256dh, p.auth, p.token) IS DISTINCT FROM
					(excluded.kind, excluded.endpoint, excluded.p256dh, excluded.auth, excluded.token)
				RETURNING 1)
			SELECT EXISTS (SELECT FROM relay_mailboxes WHERE address = $1)`,
			addr, int16(t.Kind), t.Endpoint, t.P256dh, t.Auth, t.Token).Scan(&exists)
	}
	if err != nil {
		return wrap("set push", err)
	}
	if !exists {
		return store.ErrNoMailbox
	}
	return nil
}

// Push returns addr's registration, nil if it has none.
func (q *Queue) Push(ctx context.Context, addr []byte) (*store.PushRegistration, error) {
	if !q.enter() {
		return nil, store.ErrClosed
	}
	defer q.mu.RUnlock()
	var gen, next, woken *int64
	var kind *int16
	var endpoint *string
	var failures *int32
	var t store.PushTarget
	err := q.pool.QueryRow(ctx, `SELECT p.gen, p.kind, p.endpoint, p.p256dh, p.auth, p.token,
			p.next_wake_ns, p.woken, p.failures
		FROM relay_mailboxes m LEFT JOIN relay_push p ON p.address = m.address WHERE m.address = $1`,
		addr).Scan(&gen, &kind, &endpoint, &t.P256dh, &t.Auth, &t.Token, &next, &woken, &failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNoMailbox
	}
	if err != nil {
		return nil, wrap("push", err)
	}
	if gen == nil {
		return nil, nil
	}
	t.Kind, t.Endpoint = store.PushKind(*kind), *endpoint
	return &store.PushRegistration{
		Target:   t,
		Gen:      *gen,
		NextWake: fromPushNanos(*next),
		Woken:    *woken,
		Failures: int(*failures),
	}, nil
}

// ClaimWakes claims, in one transaction, the registrations of addrs
// whose mailbox has new mail at now and whose next_wake_ns has come, and
// reports the others with new mail as later. Both lists are in address
// order.
func (q *Queue) ClaimWakes(ctx context.Context, addrs [][]byte, now time.Time, interval time.Duration) ([]store.PushWake, []store.PushLater, error) {
	if !q.enter() {
		return nil, nil, store.ErrClosed
	}
	defer q.mu.RUnlock()
	if len(addrs) == 0 {
		return nil, nil, nil
	}
	addrs = slices.Clone(addrs)
	slices.SortFunc(addrs, bytes.Compare)
	addrs = slices.CompactFunc(addrs, bytes.Equal)
	for attempt := 1; ; attempt++ {
		wakes, later, err := q.claimOnce(ctx, addrs, pushNanos(now), pushNanos(now.Add(interval)))
		if err == nil {
			return wakes, later, nil
		}
		if attempt >= maxAttempts || !retryable(err) || ctx.Err() != nil {
			return nil, nil, wrap("claim wakes", err)
		}
	}
}

// newMail is the condition that the mailbox of registration p has new
// mail at $2: an envelope unexpired then whose id is above woken. It
// walks the primary key (address, id) from woken upward and stops at the
// first envelope unexpired at $2: the first one after woken unless those
// have expired. A shared send's references (spec/relay.md §16) are
// envelope rows too, and count as mail. EXPLAIN (TestPushPlans), per
// registration:
//
//	Index Scan using relay_envelopes_pkey on relay_envelopes e
//	  Index Cond: ((address = p.address) AND (id > p.woken))
//	  Filter: (expiry_ns > $2)
//
// OFFSET 0 keeps the subquery a subplan run per registration, which stops
// at the first row it finds: otherwise the planner may make it a semi
// join, and there a bitmap scan of the index (seen without statistics),
// which reads every entry after woken before it returns the first, or a
// hash join over the relay's envelopes.
const newMail = `EXISTS (SELECT FROM relay_envelopes e
	WHERE e.address = p.address AND e.id > p.woken AND e.expiry_ns > $2 OFFSET 0)`

// newestID is the id of the newest envelope of registration p's mailbox:
// the last entry of the mailbox in the primary key (address, id), read
// from the index alone (Index Only Scan Backward using
// relay_envelopes_pkey, TestPushPlans).
const newestID = `(SELECT max(e.id) FROM relay_envelopes e WHERE e.address = p.address)`

// The statements of claimOnce and PendingWakes: the registrations of $1
// with new mail at $2 whose wake-up is due, locked, with their newest
// envelope id; those with new mail not claimed ($3, gens); those after $1
// (NULL: from the start) with new mail at $2, $3 at most: the >= term
// starts a page in relay_push_pkey where the last one ended, rather than
// at the first registration.
const (
	claimSQL = `SELECT p.address, p.gen, p.kind, p.endpoint, p.p256dh, p.auth, p.token, p.failures,
			` + newestID + `
		FROM relay_push p WHERE p.address = ANY($1) AND p.next_wake_ns <= $2 AND ` + newMail + `
		ORDER BY p.address FOR NO KEY UPDATE OF p`
	laterSQL = `SELECT p.address, p.next_wake_ns FROM relay_push p
		WHERE p.address = ANY($1) AND NOT p.gen = ANY($3::bigint[]) AND ` + newMail + `
		ORDER BY p.address`
	pendingSQL = `SELECT p.address FROM relay_push p
		WHERE p.address >= coalesce($1, '\x'::bytea) AND ($1::bytea IS NULL OR p.address > $1) AND ` + newMail + `
		ORDER BY p.address LIMIT $3`
)

// claimOnce is one attempt of ClaimWakes on sorted, distinct addrs, in
// three statements. The first locks the claimable registrations, in
// address order so that concurrent claims never deadlock; a row that
// another transaction holds is read, once that one has committed, in its
// new version and checked again, so a registration another node has just
// claimed (its next_wake_ns now later) drops out. Only those rows are
// locked and written: a claim that finds nothing to claim writes nothing.
// The second sets their next_wake_ns. The third, with a snapshot of its
// own, finds the other registrations with new mail (including those
// another node has just claimed) and their next_wake_ns.
func (q *Queue) claimOnce(ctx context.Context, addrs [][]byte, now, next int64) ([]store.PushWake, []store.PushLater, error) {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	rows, err := tx.Query(ctx, claimSQL, addrs, now)
	if err != nil {
		return nil, nil, err
	}
	var wakes []store.PushWake
	gens := []int64{} // not nil: NULL would match no row below
	var w store.PushWake
	var kind int16
	var failures int32
	_, err = pgx.ForEachRow(rows, []any{&w.Addr, &w.Gen, &kind, &w.Target.Endpoint, &w.Target.P256dh,
		&w.Target.Auth, &w.Target.Token, &failures, &w.Through}, func() error {
		w.Target.Kind, w.Failures = store.PushKind(kind), int(failures)
		wakes = append(wakes, w)
		gens = append(gens, w.Gen)
		// Scan the next row into fresh slices.
		w = store.PushWake{}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(gens) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE relay_push SET next_wake_ns = $2 WHERE gen = ANY($1)`, gens, next); err != nil {
			return nil, nil, err
		}
	}
	// Every registration with new mail that this claim did not take is
	// later, at its next_wake_ns, even one whose time has come meanwhile
	// (a registration made since the first statement): the caller tries
	// again at At rather than losing it.
	rows, err = tx.Query(ctx, laterSQL, addrs, now, gens)
	if err != nil {
		return nil, nil, err
	}
	var later []store.PushLater
	var addr []byte
	var at int64
	_, err = pgx.ForEachRow(rows, []any{&addr, &at}, func() error {
		later = append(later, store.PushLater{Addr: addr, At: fromPushNanos(at)})
		addr = nil
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, err
	}
	return wakes, later, nil
}

// WakeDone records that the wake-up of registration gen of addr, covering
// the envelopes with ids up to through, was delivered.
func (q *Queue) WakeDone(ctx context.Context, addr []byte, gen int64, through int64) error {
	if !q.enter() {
		return store.ErrClosed
	}
	defer q.mu.RUnlock()
	_, err := q.pool.Exec(ctx, `UPDATE relay_push SET woken = greatest(woken, $3), failures = 0
		WHERE address = $1 AND gen = $2`, addr, gen, through)
	if err != nil {
		return wrap("wake done", err)
	}
	return nil
}

// WakeFailed records that the wake-up of registration gen of addr failed
// and may be tried again from next.
func (q *Queue) WakeFailed(ctx context.Context, addr []byte, gen int64, next time.Time) (int, error) {
	if !q.enter() {
		return 0, store.ErrClosed
	}
	defer q.mu.RUnlock()
	var n int32
	err := q.pool.QueryRow(ctx, `UPDATE relay_push SET failures = failures + 1, next_wake_ns = $3
		WHERE address = $1 AND gen = $2 RETURNING failures`, addr, gen, pushNanos(next)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("wake failed", err)
	}
	return int(n), nil
}

// RemovePush deletes the registration of addr if it is still gen.
func (q *Queue) RemovePush(ctx context.Context, addr []byte, gen int64) (bool, error) {
	if !q.enter() {
		return false, store.ErrClosed
	}
	defer q.mu.RUnlock()
	tag, err := q.pool.Exec(ctx, `DELETE FROM relay_push WHERE address = $1 AND gen = $2`, addr, gen)
	if err != nil {
		return false, wrap("remove push", err)
	}
	return tag.RowsAffected() > 0, nil
}

// PendingWakes returns up to limit addresses after after, in byte order,
// whose registration has new mail at now.
func (q *Queue) PendingWakes(ctx context.Context, after []byte, limit int, now time.Time) ([][]byte, error) {
	if !q.enter() {
		return nil, store.ErrClosed
	}
	defer q.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	// A nil after is NULL: from the start.
	rows, err := q.pool.Query(ctx, pendingSQL, after, pushNanos(now), limit)
	if err != nil {
		return nil, wrap("pending wakes", err)
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, wrap("pending wakes", err)
	}
	return addrs, nil
}

// pushNanos returns t in Unix nanoseconds, 0 for the zero time.
func pushNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromPushNanos is the inverse of pushNanos, in UTC.
func fromPushNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
