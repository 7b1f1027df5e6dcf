package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Push registrations and wake-up bookkeeping (store.PushQueue,
// spec/push.md §2, §3), in the table push (migrations/0005_push.sql). The
// writes go through the writer goroutine like every other, so a claim
// reads and sets next_wake in one transaction that no other write of this
// relay interleaves with, and another process on the file waits for it
// (BEGIN IMMEDIATE). Times are unix milliseconds, 0 for the zero time;
// woken and through are envelope ids (spec/push.md §3.1, §3.3), which the
// queries find through the (addr, id) index without reading the queue
// (pushOwedSQL).

var _ store.PushQueue = (*Queue)(nil)

// SetPush makes t the push target of addr's mailbox, or removes its
// registration when t is nil, in the writer's next batch. A target equal
// to the current one changes nothing; another replaces the row, whose new
// rowid is the new gen.
func (q *Queue) SetPush(ctx context.Context, addr []byte, t *store.PushTarget) error {
	if t != nil {
		if err := t.Check(); err != nil {
			return err
		}
	}
	return q.write(ctx, 0, func(b *batch) error {
		x, err := b.box(addr)
		if err != nil {
			return err
		}
		if !x.exists {
			return store.ErrNoMailbox
		}
		cur, err := b.pushTarget(addr)
		if err != nil {
			return err
		}
		if cur != nil && t != nil && cur.Equal(t) {
			return nil
		}
		if cur != nil {
			if _, err := b.stmt(stmtPushDelete).ExecContext(b.ctx, addr); err != nil {
				return fmt.Errorf("sqlite: set push: %w", err)
			}
		}
		if t == nil {
			return nil
		}
		if _, err := b.stmt(stmtPushInsert).ExecContext(b.ctx, addr, int64(t.Kind), t.Endpoint,
			blob(t.P256dh), blob(t.Auth), blob(t.Token)); err != nil {
			return fmt.Errorf("sqlite: set push: %w", err)
		}
		return nil
	})
}

// pushTarget returns the push target of addr as the batch sees it, nil if
// it has none.
func (b *batch) pushTarget(addr []byte) (*store.PushTarget, error) {
	var t store.PushTarget
	var kind int64
	err := b.stmt(stmtPushTarget).QueryRowContext(b.ctx, addr).Scan(&kind, &t.Endpoint, &t.P256dh, &t.Auth, &t.Token)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read push: %w", err)
	}
	t.Kind = store.PushKind(kind)
	t.P256dh, t.Auth, t.Token = unblob(t.P256dh), unblob(t.Auth), unblob(t.Token)
	return &t, nil
}

// Push returns addr's registration, nil if it has none.
func (q *Queue) Push(ctx context.Context, addr []byte) (*store.PushRegistration, error) {
	if q.closed.Load() {
		return nil, store.ErrClosed
	}
	var gen, kind, next, woken, failures sql.NullInt64
	var endpoint sql.NullString
	var t store.PushTarget
	err := q.reads.s[readPush].QueryRowContext(ctx, addr).Scan(&gen, &kind, &endpoint, &t.P256dh, &t.Auth, &t.Token,
		&next, &woken, &failures)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNoMailbox
	}
	if err != nil {
		return nil, q.readErr("push", err)
	}
	if !gen.Valid {
		return nil, nil
	}
	t.Kind, t.Endpoint = store.PushKind(kind.Int64), endpoint.String
	t.P256dh, t.Auth, t.Token = unblob(t.P256dh), unblob(t.Auth), unblob(t.Token)
	return &store.PushRegistration{
		Target:   t,
		Gen:      gen.Int64,
		NextWake: fromMillis(next.Int64),
		Woken:    woken.Int64,
		Failures: int(failures.Int64),
	}, nil
}

// ClaimWakes finds, in one statement of one writer transaction, the
// registrations of addrs whose mailbox has new mail at now, claims those
// whose next_wake has come (a second statement sets it to now+interval)
// and reports the others as later. It first runs the same query on a
// reader: when that finds nothing to claim, its answer is the answer and
// the writer is not disturbed. Both lists are in address order.
func (q *Queue) ClaimWakes(ctx context.Context, addrs [][]byte, now time.Time, interval time.Duration) ([]store.PushWake, []store.PushLater, error) {
	if q.closed.Load() {
		return nil, nil, store.ErrClosed
	}
	if len(addrs) == 0 {
		return nil, nil, nil
	}
	// The addresses as a JSON array of hex strings.
	size := 2
	for _, a := range addrs {
		size += 2*len(a) + 3
	}
	list := make([]byte, 0, size)
	list = append(list, '[')
	for i, a := range addrs {
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, '"')
		list = hex.AppendEncode(list, a)
		list = append(list, '"')
	}
	list = append(list, ']')
	t := millis(now)
	rows, err := q.reads.s[readPushOwed].QueryContext(ctx, list, t)
	if err != nil {
		return nil, nil, q.readErr("claim wakes", err)
	}
	wakes, later, err := scanOwed(rows, t)
	if err != nil {
		return nil, nil, q.readErr("claim wakes", err)
	}
	if len(wakes) == 0 {
		return nil, later, nil
	}
	err = q.write(ctx, len(list), func(b *batch) error {
		// The op may run twice (writer.go): it sets its answers anew.
		rows, err := b.stmt(stmtPushOwed).QueryContext(b.ctx, list, t)
		if err == nil {
			wakes, later, err = scanOwed(rows, t)
		}
		if err != nil {
			return fmt.Errorf("sqlite: claim wakes: %w", err)
		}
		if len(wakes) == 0 {
			return nil
		}
		gens := make([]byte, 0, 2+len(wakes)*8)
		gens = append(gens, '[')
		for i, w := range wakes {
			if i > 0 {
				gens = append(gens, ',')
			}
			gens = strconv.AppendInt(gens, w.Gen, 10)
		}
		gens = append(gens, ']')
		if _, err := b.stmt(stmtPushClaim).ExecContext(b.ctx, gens, millis(now.Add(interval))); err != nil {
			return fmt.Errorf("sqlite: claim wakes: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return wakes, later, nil
}

// scanOwed reads the rows of pushOwedSQL at t (unix ms) and closes them:
// the registrations whose next_wake has come, as wake-ups, and the others.
func scanOwed(rows *sql.Rows, t int64) ([]store.PushWake, []store.PushLater, error) {
	defer rows.Close()
	var wakes []store.PushWake
	var later []store.PushLater
	for rows.Next() {
		var w store.PushWake
		var kind, nextWake int64
		if err := rows.Scan(&w.Addr, &w.Gen, &kind, &w.Target.Endpoint, &w.Target.P256dh, &w.Target.Auth,
			&w.Target.Token, &nextWake, &w.Failures, &w.Through); err != nil {
			return nil, nil, err
		}
		if nextWake > t {
			later = append(later, store.PushLater{Addr: w.Addr, At: fromMillis(nextWake)})
			continue
		}
		w.Target.Kind = store.PushKind(kind)
		w.Target.P256dh, w.Target.Auth, w.Target.Token = unblob(w.Target.P256dh), unblob(w.Target.Auth), unblob(w.Target.Token)
		wakes = append(wakes, w)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return wakes, later, nil
}

// WakeDone records that the wake-up of registration gen of addr, covering
// the envelopes with ids up to through, was delivered.
func (q *Queue) WakeDone(ctx context.Context, addr []byte, gen int64, through int64) error {
	return q.write(ctx, 0, func(b *batch) error {
		if _, err := b.stmt(stmtPushDone).ExecContext(b.ctx, addr, gen, through); err != nil {
			return fmt.Errorf("sqlite: wake done: %w", err)
		}
		return nil
	})
}

// WakeFailed records that the wake-up of registration gen of addr failed
// and may be tried again from next.
func (q *Queue) WakeFailed(ctx context.Context, addr []byte, gen int64, next time.Time) (int, error) {
	var n int
	err := q.write(ctx, 0, func(b *batch) error {
		n = 0
		err := b.stmt(stmtPushFailed).QueryRowContext(b.ctx, addr, gen, millis(next)).Scan(&n)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: wake failed: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RemovePush deletes the registration of addr if it is still gen.
func (q *Queue) RemovePush(ctx context.Context, addr []byte, gen int64) (bool, error) {
	var n int64
	err := q.write(ctx, 0, func(b *batch) error {
		r, err := b.stmt(stmtPushRemove).ExecContext(b.ctx, addr, gen)
		if err == nil {
			n, err = r.RowsAffected()
		}
		if err != nil {
			return fmt.Errorf("sqlite: remove push: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// PendingWakes returns up to limit addresses after after, in byte order,
// whose registration has new mail at now.
func (q *Queue) PendingWakes(ctx context.Context, after []byte, limit int, now time.Time) ([][]byte, error) {
	if q.closed.Load() {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := q.reads.s[readPendingWakes].QueryContext(ctx, blob(after), millis(now), limit)
	if err != nil {
		return nil, q.readErr("pending wakes", err)
	}
	defer rows.Close()
	var addrs [][]byte
	for rows.Next() {
		var a []byte
		if err := rows.Scan(&a); err != nil {
			return nil, q.readErr("pending wakes", err)
		}
		addrs = append(addrs, a)
	}
	if err := rows.Err(); err != nil {
		return nil, q.readErr("pending wakes", err)
	}
	return addrs, nil
}

// blob returns b as a statement argument: NULL for nil (the driver binds
// a nil []byte as an empty blob).
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// unblob reads a nullable blob column back: nil for NULL or empty (no
// field of a PushTarget that is set may be empty, store.PushTarget.Check).
func unblob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// millis returns t in unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
