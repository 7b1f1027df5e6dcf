package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/relay/store"
)

// Link mailboxes (spec/relay.md §17, store.Links): relay_mailboxes rows
// with a link_expiry_ns. Like Ack and Sweep, every change locks the
// mailbox row before it touches envelopes.

// linkSweepBatch bounds the link mailboxes one SweepLinks transaction
// deletes.
const linkSweepBatch = 500

// errLinkRace reports a link mailbox created by another node between
// OpenLink's read and its insert: OpenLink runs again.
var errLinkRace = errors.New("link mailbox created concurrently")

// OpenLink opens the link mailbox of addr (store.Links). The cap on live
// link mailboxes is counted before the insert, without a lock: nodes
// creating link mailboxes at once may pass it by a few.
func (q *Queue) OpenLink(ctx context.Context, addr, offer []byte, now, expires time.Time, maxLinks int) (store.Link, bool, error) {
	if !q.enter() {
		return store.Link{}, false, store.ErrClosed
	}
	defer q.mu.RUnlock()
	for attempt := 1; ; attempt++ {
		l, created, err := q.openLink(ctx, addr, offer, now, expires, maxLinks)
		if (errors.Is(err, errLinkRace) || retryable(err)) && attempt < maxAttempts && ctx.Err() == nil {
			continue
		}
		if err != nil && !errors.Is(err, store.ErrLinkExpired) && !errors.Is(err, store.ErrLinkConflict) &&
			!errors.Is(err, store.ErrLinkCap) && !errors.Is(err, store.ErrNoMailbox) {
			return store.Link{}, false, wrap("open link", err)
		}
		return l, created, err
	}
}

func (q *Queue) openLink(ctx context.Context, addr, offer []byte, now, expires time.Time, maxLinks int) (store.Link, bool, error) {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return store.Link{}, false, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	var exp int64
	var stored []byte
	err = tx.QueryRow(ctx, `SELECT link_expiry_ns, link_offer FROM relay_mailboxes WHERE address = $1 FOR UPDATE`, addr).Scan(&exp, &stored)
	switch {
	case err == nil:
		if exp == 0 {
			// Not reachable through the relay: link addresses never
			// name a device mailbox.
			return store.Link{}, false, fmt.Errorf("open link: %w", store.ErrNoMailbox)
		}
		if nanos(now) >= exp {
			return store.Link{}, false, store.ErrLinkExpired
		}
		if len(offer) != 0 && !bytes.Equal(offer, stored) {
			return store.Link{}, false, store.ErrLinkConflict
		}
		return store.Link{Offer: stored, Expires: fromNanos(exp)}, false, tx.Commit(ctx)
	case !errors.Is(err, pgx.ErrNoRows):
		return store.Link{}, false, err
	}
	var live int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM relay_mailboxes WHERE link_expiry_ns > 0 AND link_expiry_ns > $1`,
		nanos(now)).Scan(&live); err != nil {
		return store.Link{}, false, err
	}
	if live >= maxLinks {
		return store.Link{}, false, store.ErrLinkCap
	}
	exp = nanos(expires)
	var off []byte
	if len(offer) != 0 {
		off = offer
	}
	tag, err := tx.Exec(ctx, `INSERT INTO relay_mailboxes (address, created_ns, link_expiry_ns, link_offer)
		VALUES ($1, $2, $3, $4) ON CONFLICT (address) DO NOTHING`, addr, nanos(now), exp, off)
	if err != nil {
		return store.Link{}, false, err
	}
	if tag.RowsAffected() == 0 {
		return store.Link{}, false, errLinkRace
	}
	if err := tx.Commit(ctx); err != nil {
		return store.Link{}, false, err
	}
	return store.Link{Offer: bytes.Clone(off), Expires: fromNanos(exp)}, true, nil
}

// Link returns the live link mailbox of addr (store.Links).
func (q *Queue) Link(ctx context.Context, addr []byte, now time.Time) (store.Link, error) {
	if !q.enter() {
		return store.Link{}, store.ErrClosed
	}
	defer q.mu.RUnlock()
	var exp int64
	var offer []byte
	err := q.pool.QueryRow(ctx, `SELECT link_expiry_ns, link_offer FROM relay_mailboxes WHERE address = $1`, addr).Scan(&exp, &offer)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Link{}, store.ErrNoMailbox
	}
	if err != nil {
		return store.Link{}, wrap("link", err)
	}
	if exp == 0 || nanos(now) >= exp {
		return store.Link{}, store.ErrNoMailbox
	}
	return store.Link{Offer: offer, Expires: fromNanos(exp)}, nil
}

// CloseLink deletes the link mailbox of addr and its envelopes
// (store.Links).
func (q *Queue) CloseLink(ctx context.Context, addr []byte) (bool, error) {
	if !q.enter() {
		return false, store.ErrClosed
	}
	defer q.mu.RUnlock()
	n, err := q.deleteLinks(ctx, `SELECT address FROM relay_mailboxes WHERE address = $1 AND link_expiry_ns > 0
		FOR UPDATE`, addr)
	if err != nil {
		return false, wrap("close link", err)
	}
	return n > 0, nil
}

// SweepLinks deletes the link mailboxes expired at now with their
// envelopes (store.Links), up to linkSweepBatch per transaction.
func (q *Queue) SweepLinks(ctx context.Context, now time.Time) (int, error) {
	if !q.enter() {
		return 0, store.ErrClosed
	}
	defer q.mu.RUnlock()
	total := 0
	for {
		n, err := q.deleteLinks(ctx, `SELECT address FROM relay_mailboxes WHERE link_expiry_ns > 0 AND link_expiry_ns <= $1
			ORDER BY address LIMIT $2 FOR UPDATE SKIP LOCKED`, nanos(now), linkSweepBatch)
		total += n
		if err != nil {
			return total, wrap("sweep links", err)
		}
		if n < linkSweepBatch {
			return total, nil
		}
	}
}

// deleteLinks locks the link mailboxes that sel selects with args, then
// deletes their envelopes (a link mailbox never references a shared
// body, spec/relay.md §17.3), push rows and the mailboxes, in one
// transaction; it returns how many mailboxes it deleted.
func (q *Queue) deleteLinks(ctx context.Context, sel string, args ...any) (int, error) {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	rows, err := tx.Query(ctx, sel, args...)
	if err != nil {
		return 0, err
	}
	var addrs [][]byte
	var a []byte
	if _, err := pgx.ForEachRow(rows, []any{&a}, func() error {
		addrs = append(addrs, bytes.Clone(a))
		return nil
	}); err != nil {
		return 0, err
	}
	if len(addrs) == 0 {
		return 0, nil
	}
	for _, st := range []string{
		`DELETE FROM relay_envelopes WHERE address = ANY($1)`,
		`DELETE FROM relay_push WHERE address = ANY($1)`,
		`DELETE FROM relay_mailboxes WHERE address = ANY($1) AND link_expiry_ns > 0`,
	} {
		if _, err := tx.Exec(ctx, st, addrs); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return len(addrs), nil
}

var _ store.Links = (*Queue)(nil)
