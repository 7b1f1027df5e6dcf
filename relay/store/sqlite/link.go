package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Link mailboxes (spec/relay.md §17, store.Links): mailbox rows with a
// link_expiry, written by the writer goroutine like every change.

// linkSweepChunk bounds the link mailboxes one SweepLinks transaction
// deletes.
const linkSweepChunk = 500

// OpenLink opens the link mailbox of addr (store.Links).
func (q *Queue) OpenLink(ctx context.Context, addr, offer []byte, now, expires time.Time, maxLinks int) (store.Link, bool, error) {
	var (
		l       store.Link
		created bool
		refused error
	)
	err := q.write(ctx, len(offer), func(b *batch) error {
		l, created, refused = store.Link{}, false, nil
		x, err := b.box(addr)
		if err != nil {
			return err
		}
		t := now.UnixMilli()
		if x.exists {
			if x.link == 0 {
				// Not reachable through the relay: link addresses
				// never name a device mailbox.
				refused = fmt.Errorf("sqlite: open link: %w", store.ErrNoMailbox)
				return nil
			}
			if t >= x.link {
				refused = store.ErrLinkExpired
				return nil
			}
			var stored []byte
			if err := b.tx.QueryRowContext(b.ctx, `SELECT link_offer FROM mailboxes WHERE addr = ?`, addr).Scan(&stored); err != nil {
				return fmt.Errorf("sqlite: open link: %w", err)
			}
			if len(offer) != 0 && !bytes.Equal(offer, stored) {
				refused = store.ErrLinkConflict
				return nil
			}
			l = store.Link{Offer: stored, Expires: time.UnixMilli(x.link)}
			return nil
		}
		var live int
		if err := b.tx.QueryRowContext(b.ctx, `SELECT count(*) FROM mailboxes
			WHERE link_expiry > 0 AND link_expiry > ?`, t).Scan(&live); err != nil {
			return fmt.Errorf("sqlite: count links: %w", err)
		}
		if live >= maxLinks {
			refused = store.ErrLinkCap
			return nil
		}
		exp := expires.UnixMilli()
		var off []byte
		if len(offer) != 0 {
			off = offer
		}
		if _, err := b.tx.ExecContext(b.ctx, `INSERT INTO mailboxes (addr, created, link_expiry, link_offer)
			VALUES (?, ?, ?, ?)`, addr, t, exp, off); err != nil {
			return fmt.Errorf("sqlite: open link: %w", err)
		}
		*x = box{exists: true, access: store.Access{Mode: store.AccessOpen}, link: exp}
		l, created = store.Link{Offer: bytes.Clone(off), Expires: time.UnixMilli(exp)}, true
		return nil
	})
	if err != nil {
		return store.Link{}, false, err
	}
	if refused != nil {
		return store.Link{}, false, refused
	}
	return l, created, nil
}

// Link returns the live link mailbox of addr (store.Links).
func (q *Queue) Link(ctx context.Context, addr []byte, now time.Time) (store.Link, error) {
	if q.closed.Load() {
		return store.Link{}, store.ErrClosed
	}
	var exp int64
	var offer []byte
	err := q.reads.s[readLink].QueryRowContext(ctx, addr).Scan(&exp, &offer)
	if err == sql.ErrNoRows {
		return store.Link{}, store.ErrNoMailbox
	}
	if err != nil {
		return store.Link{}, q.readErr("link", err)
	}
	if exp == 0 || now.UnixMilli() >= exp {
		return store.Link{}, store.ErrNoMailbox
	}
	return store.Link{Offer: offer, Expires: time.UnixMilli(exp)}, nil
}

// CloseLink deletes the link mailbox of addr and its envelopes
// (store.Links).
func (q *Queue) CloseLink(ctx context.Context, addr []byte) (bool, error) {
	var found bool
	err := q.write(ctx, 0, func(b *batch) error {
		var err error
		found, err = b.deleteLink(addr)
		return err
	})
	return found, err
}

// deleteLink deletes the link mailbox of addr, if it is one, with its
// envelopes (never references to shared bodies: a link mailbox takes
// none, spec/relay.md §17.3) and any push row.
func (b *batch) deleteLink(addr []byte) (bool, error) {
	x, err := b.box(addr)
	if err != nil {
		return false, err
	}
	if !x.exists || x.link == 0 {
		return false, nil
	}
	for _, q := range []string{
		`DELETE FROM envelopes WHERE addr = ?`,
		`DELETE FROM push WHERE addr = ?`,
		`DELETE FROM mailboxes WHERE addr = ?`,
	} {
		if _, err := b.tx.ExecContext(b.ctx, q, addr); err != nil {
			return false, fmt.Errorf("sqlite: delete link: %w", err)
		}
	}
	*x = box{}
	return true, nil
}

// SweepLinks deletes the link mailboxes expired at now with their
// envelopes (store.Links), a chunk per transaction.
func (q *Queue) SweepLinks(ctx context.Context, now time.Time) (int, error) {
	t := now.UnixMilli()
	total := 0
	for {
		n := 0
		err := q.write(ctx, 0, func(b *batch) error {
			n = 0
			rows, err := b.tx.QueryContext(b.ctx, `SELECT addr FROM mailboxes
				WHERE link_expiry > 0 AND link_expiry <= ? LIMIT ?`, t, linkSweepChunk)
			if err != nil {
				return fmt.Errorf("sqlite: sweep links: %w", err)
			}
			var addrs [][]byte
			for rows.Next() {
				var a []byte
				if err := rows.Scan(&a); err != nil {
					rows.Close()
					return fmt.Errorf("sqlite: sweep links: %w", err)
				}
				addrs = append(addrs, a)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("sqlite: sweep links: %w", err)
			}
			for _, a := range addrs {
				ok, err := b.deleteLink(a)
				if err != nil {
					return err
				}
				if ok {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < linkSweepChunk {
			return total, nil
		}
	}
}

var _ store.Links = (*Queue)(nil)
