package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// The writes other than Send, each run by the writer goroutine in a batch
// (writer.go).

// sweepChunk bounds the rows one Sweep transaction deletes, so that Sends
// wait at most one chunk for it.
const sweepChunk = 2000

// OpenMailbox creates the mailbox of addr if it does not exist. Mailboxes
// are never deleted, so one that a reader sees needs no write.
func (q *Queue) OpenMailbox(ctx context.Context, addr []byte, now time.Time) error {
	if q.closed.Load() {
		return store.ErrClosed
	}
	var one int
	err := q.reads.s[readHasMailbox].QueryRowContext(ctx, addr).Scan(&one)
	if err == nil {
		return nil
	}
	if err != sql.ErrNoRows {
		return q.readErr("open mailbox", err)
	}
	return q.write(ctx, 0, func(b *batch) error { return b.openMailbox(addr, now) })
}

func (b *batch) openMailbox(addr []byte, now time.Time) error {
	if _, err := b.stmt(stmtOpenMailbox).ExecContext(b.ctx, addr, now.UnixMilli()); err != nil {
		return fmt.Errorf("sqlite: open mailbox: %w", err)
	}
	if x, ok := b.boxes[string(addr)]; ok && !x.exists {
		*x = box{exists: true}
	}
	return nil
}

// Ack deletes the envelopes of addr with the given IDs.
func (q *Queue) Ack(ctx context.Context, addr []byte, ids []int64) (int, error) {
	if len(ids) == 0 && !q.closed.Load() {
		return 0, nil
	}
	// The ids as a JSON array, for json_each.
	list := make([]byte, 0, 2+len(ids)*8)
	list = append(list, '[')
	for i, id := range ids {
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, id, 10)
	}
	list = append(list, ']')
	var deleted int
	err := q.write(ctx, 0, func(b *batch) error {
		var freed float64 // total() is a float; exact below 2^53
		if err := b.stmt(stmtAckedSize).QueryRowContext(b.ctx, addr, list).Scan(&deleted, &freed); err != nil {
			return fmt.Errorf("sqlite: delete envelopes: %w", err)
		}
		if deleted == 0 {
			return nil
		}
		if _, err := b.stmt(stmtDeleteEnvelopes).ExecContext(b.ctx, addr, list); err != nil {
			return fmt.Errorf("sqlite: delete envelopes: %w", err)
		}
		x, err := b.box(addr)
		if err != nil {
			return err
		}
		x.count -= deleted
		x.bytes -= int64(freed)
		x.dirty = true
		return nil
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// Sweep deletes expired envelopes and dedup records, a chunk per
// transaction so that Sends interleave with a long sweep.
func (q *Queue) Sweep(ctx context.Context, now time.Time) (int, error) {
	t := now.UnixMilli()
	total := 0
	for {
		var n int
		err := q.write(ctx, 0, func(b *batch) error {
			var err error
			n, err = b.sweepEnvelopes(t)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < sweepChunk {
			break
		}
	}
	for {
		var n int64
		err := q.write(ctx, 0, func(b *batch) error {
			r, err := b.tx.ExecContext(b.ctx, `DELETE FROM dedup WHERE (sender, message_id) IN
				(SELECT sender, message_id FROM dedup WHERE until <= ? LIMIT ?)`, t, sweepChunk)
			if err != nil {
				return fmt.Errorf("sqlite: sweep dedup: %w", err)
			}
			n, err = r.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		if n < sweepChunk {
			return total, nil
		}
	}
}

// sweepEnvelopes deletes up to sweepChunk envelopes expired at t.
func (b *batch) sweepEnvelopes(t int64) (int, error) {
	rows, err := b.tx.QueryContext(b.ctx, `DELETE FROM envelopes WHERE id IN
		(SELECT id FROM envelopes WHERE expiry <= ? LIMIT ?) RETURNING addr, length(data)`, t, sweepChunk)
	if err != nil {
		return 0, fmt.Errorf("sqlite: sweep envelopes: %w", err)
	}
	type freed struct {
		count int
		bytes int64
	}
	per := map[string]*freed{}
	n := 0
	for rows.Next() {
		var addr []byte
		var size int64
		if err := rows.Scan(&addr, &size); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: sweep envelopes: %w", err)
		}
		f := per[string(addr)]
		if f == nil {
			f = &freed{}
			per[string(addr)] = f
		}
		f.count++
		f.bytes += size
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: sweep envelopes: %w", err)
	}
	for addr, f := range per {
		x, err := b.box([]byte(addr))
		if err != nil {
			return 0, err
		}
		x.count -= f.count
		x.bytes -= f.bytes
		x.dirty = true
	}
	return n, nil
}
