package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
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
	// The row as the batch (and the cache) sees it from now on.
	x, err := b.box(addr)
	if err != nil {
		return err
	}
	if !x.exists {
		*x = box{exists: true, access: store.Access{Mode: store.AccessOpen}}
	}
	return nil
}

// SetAccess changes the access setting of addr's mailbox (spec/relay.md
// §15.8) in the writer's next batch.
func (q *Queue) SetAccess(ctx context.Context, addr []byte, c store.AccessChange) error {
	if err := c.Check(); err != nil {
		return err
	}
	return q.write(ctx, 0, func(b *batch) error {
		x, err := b.box(addr)
		if err != nil {
			return err
		}
		if !x.exists {
			return store.ErrNoMailbox
		}
		a := c.Apply(x.access)
		if _, err := b.stmt(stmtSetAccess).ExecContext(b.ctx, int64(a.Mode), a.Current, a.Previous,
			a.PreviousUntil.UnixMilli(), addr); err != nil {
			return fmt.Errorf("sqlite: set access: %w", err)
		}
		x.access = a
		return nil
	})
}

// Access returns the access setting of addr's mailbox.
func (q *Queue) Access(ctx context.Context, addr []byte) (store.Access, error) {
	if q.closed.Load() {
		return store.Access{}, store.ErrClosed
	}
	var a store.Access
	var mode uint8
	var until int64
	err := q.reads.s[readAccess].QueryRowContext(ctx, addr).Scan(&mode, &a.Current, &a.Previous, &until)
	if err == sql.ErrNoRows {
		return store.Access{}, store.ErrNoMailbox
	}
	if err != nil {
		return store.Access{}, q.readErr("access", err)
	}
	a.Mode, a.PreviousUntil = store.AccessMode(mode), time.UnixMilli(until)
	if a.Previous == nil {
		a.PreviousUntil = time.Time{}
	}
	return a, nil
}

// Ack deletes the envelopes of addr with the given IDs. The Acks of one
// batch are run together, before its other requests, in one statement
// (batch.ack), two more if they release shared bodies.
func (q *Queue) Ack(ctx context.Context, addr []byte, ids []int64) (int, error) {
	if len(ids) == 0 && !q.closed.Load() {
		return 0, nil
	}
	a := &ackOp{addr: addr, ids: ids}
	if err := q.writeAck(ctx, a); err != nil {
		return 0, err
	}
	return a.deleted, nil
}

// ackOp is one Ack waiting for its batch, and its answer.
type ackOp struct {
	addr    []byte
	ids     []int64
	deleted int
}

// ack deletes the envelopes of the batch's Acks: one statement deletes
// those of the (address, id) pairs that exist (ids are per mailbox,
// spec/relay.md §8.1) and returns their sizes. Each id counts for the
// first Ack of the batch that names it.
func (b *batch) ack(acks []*ackOp) error {
	// The pairs as a JSON array of [hex address, id].
	n := 0
	for _, a := range acks {
		n += len(a.ids)
	}
	pairs := make([]byte, 0, 2+n*(2*len(acks[0].addr)+16))
	pairs = append(pairs, '[')
	for _, a := range acks {
		a.deleted = 0
		for _, id := range a.ids {
			if len(pairs) > 1 {
				pairs = append(pairs, ',')
			}
			pairs = append(pairs, `["`...)
			pairs = hex.AppendEncode(pairs, a.addr)
			pairs = append(pairs, `",`...)
			pairs = strconv.AppendInt(pairs, id, 10)
			pairs = append(pairs, ']')
		}
	}
	pairs = append(pairs, ']')
	type key struct {
		addr string
		id   int64
	}
	type row struct {
		size int64
		body sql.NullInt64 // the shared body it references (spec/relay.md §16)
	}
	found := make(map[key]row, n)
	released := map[int64]int64{} // body id -> references deleted
	rows, err := b.stmt(stmtAckDelete).QueryContext(b.ctx, pairs)
	if err != nil {
		return fmt.Errorf("sqlite: delete envelopes: %w", err)
	}
	for rows.Next() {
		var addr []byte
		var id int64
		var r row
		if err := rows.Scan(&addr, &id, &r.size, &r.body); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: delete envelopes: %w", err)
		}
		found[key{string(addr), id}] = r
		if r.body.Valid {
			released[r.body.Int64]++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: delete envelopes: %w", err)
	}
	if len(found) == 0 {
		return nil
	}
	var bodySize map[int64]int64
	if len(released) > 0 {
		// Read before releaseBodies deletes the bodies left unreferenced.
		if bodySize, err = b.bodySizes(released); err != nil {
			return err
		}
	}
	type freed struct {
		count int
		bytes int64
	}
	per := map[string]*freed{}
	for _, a := range acks {
		for _, id := range a.ids {
			k := key{string(a.addr), id}
			r, ok := found[k]
			if !ok {
				continue
			}
			delete(found, k)
			a.deleted++
			f := per[k.addr]
			if f == nil {
				f = &freed{}
				per[k.addr] = f
			}
			f.count++
			if r.body.Valid {
				f.bytes += bodySize[r.body.Int64]
			} else {
				f.bytes += r.size
			}
		}
	}
	if err := b.releaseBodies(released); err != nil {
		return err
	}
	for addr, f := range per {
		x, err := b.box([]byte(addr))
		if err != nil {
			return err
		}
		x.count -= f.count
		x.bytes -= f.bytes
		x.dirty = true
	}
	return nil
}

// releaseBodies takes n references off each shared body of released
// (body id -> n) and deletes the bodies left without any (spec/relay.md
// §16.4), in the transaction that deleted the references.
func (b *batch) releaseBodies(released map[int64]int64) error {
	if len(released) == 0 {
		return nil
	}
	pairs := make([]byte, 0, 2+len(released)*16)
	pairs = append(pairs, '[')
	for id, n := range released {
		if len(pairs) > 1 {
			pairs = append(pairs, ',')
		}
		pairs = append(pairs, '[')
		pairs = strconv.AppendInt(pairs, id, 10)
		pairs = append(pairs, ',')
		pairs = strconv.AppendInt(pairs, n, 10)
		pairs = append(pairs, ']')
	}
	pairs = append(pairs, ']')
	if _, err := b.stmt(stmtReleaseBodies).ExecContext(b.ctx, pairs); err != nil {
		return fmt.Errorf("sqlite: release bodies: %w", err)
	}
	if _, err := b.stmt(stmtDeleteBodies).ExecContext(b.ctx, pairs); err != nil {
		return fmt.Errorf("sqlite: delete bodies: %w", err)
	}
	return nil
}

// bodySizes returns the sizes of the shared bodies of ids.
func (b *batch) bodySizes(ids map[int64]int64) (map[int64]int64, error) {
	list := make([]byte, 0, 2+len(ids)*8)
	list = append(list, '[')
	for id := range ids {
		if len(list) > 1 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, id, 10)
	}
	list = append(list, ']')
	rows, err := b.stmt(stmtBodySizes).QueryContext(b.ctx, list)
	if err != nil {
		return nil, fmt.Errorf("sqlite: body sizes: %w", err)
	}
	defer rows.Close()
	sizes := map[int64]int64{}
	for rows.Next() {
		var id, size int64
		if err := rows.Scan(&id, &size); err != nil {
			return nil, fmt.Errorf("sqlite: body sizes: %w", err)
		}
		sizes[id] = size
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: body sizes: %w", err)
	}
	return sizes, nil
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
	rows, err := b.tx.QueryContext(b.ctx, `DELETE FROM envelopes WHERE rowid IN
		(SELECT rowid FROM envelopes WHERE expiry <= ? LIMIT ?) RETURNING addr, length(data), body`, t, sweepChunk)
	if err != nil {
		return 0, fmt.Errorf("sqlite: sweep envelopes: %w", err)
	}
	type freed struct {
		count int
		bytes int64
	}
	per := map[string]*freed{}
	// References to shared bodies: per body, how many, and their
	// mailboxes, whose bytes are the body's size (spec/relay.md §16.4).
	released := map[int64]int64{}
	refs := map[int64][]string{}
	n := 0
	for rows.Next() {
		var addr []byte
		var size int64
		var body sql.NullInt64
		if err := rows.Scan(&addr, &size, &body); err != nil {
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
		if body.Valid {
			released[body.Int64]++
			refs[body.Int64] = append(refs[body.Int64], string(addr))
		}
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: sweep envelopes: %w", err)
	}
	if len(released) > 0 {
		sizes, err := b.bodySizes(released)
		if err != nil {
			return 0, err
		}
		for id, addrs := range refs {
			for _, a := range addrs {
				per[a].bytes += sizes[id]
			}
		}
		if err := b.releaseBodies(released); err != nil {
			return 0, err
		}
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
