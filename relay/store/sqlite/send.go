package sqlite

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/sealpost/sealpost/relay/store"
)

// Send stores s in the writer's next batch (see the package comment).
func (q *Queue) Send(ctx context.Context, s store.Send) (store.SendResult, error) {
	size := 0
	if s.Shared {
		body, err := s.Body()
		if err != nil {
			return store.SendResult{}, err
		}
		// The body once, and a few bytes per reference (spec/relay.md §16).
		size = len(body) + 64*len(s.Items)
	} else {
		for _, it := range s.Items {
			size += len(it.Envelope)
		}
	}
	var res store.SendResult
	var committed func()
	if s.Committed != nil {
		committed = func() {
			if !res.Duplicate {
				s.Committed(res)
			}
		}
	}
	// A group message is not kept waiting by its recipients' acks of the
	// one before (groupFirst).
	group := s.Shared && len(s.Items) >= groupFrom
	err := q.writeSend(ctx, size, group, func(b *batch) error {
		var err error
		res, err = b.send(&s)
		return err
	}, committed)
	if err != nil {
		return store.SendResult{}, err
	}
	return res, nil
}

// send decides each item's status, claims the dedup record of s, and
// only then, if s is no duplicate, stores the envelopes: the common case
// (a new send) costs one dedup statement, and its envelope rows join the
// batch's multi-row inserts (insertPending).
func (b *batch) send(s *store.Send) (store.SendResult, error) {
	now := s.Now.UnixMilli()
	sts := make([]store.Status, len(s.Items))
	enc := make([]byte, len(s.Items))
	boxes := make([]*box, len(s.Items))
	// The first-contact allowances taken, to give back (in reverse) if s
	// is a duplicate (spec/relay.md §15.8).
	var taken []tatChange
	for i, it := range s.Items {
		st, x, old, err := b.plan(it, s)
		if err != nil {
			return store.SendResult{}, err
		}
		sts[i], enc[i], boxes[i] = st, byte(st), x
		if old != nil {
			taken = append(taken, tatChange{x, *old})
		}
	}

	r, err := b.stmt(stmtClaimDedup).ExecContext(b.ctx, s.Sender, s.MessageID[:], enc, s.DedupUntil.UnixMilli(), now)
	var claimed int64
	if err == nil {
		claimed, err = r.RowsAffected()
	}
	if err == nil && claimed == 0 {
		// A live record exists: give back what plan reserved.
		for i, x := range boxes {
			if sts[i] == store.Stored {
				x.count--
				x.bytes -= int64(len(s.Items[i].Envelope))
			}
		}
		for i := len(taken) - 1; i >= 0; i-- {
			taken[i].box.tat = taken[i].old
		}
		return b.duplicate(s, now)
	}
	if err != nil {
		return store.SendResult{}, fmt.Errorf("sqlite: write dedup: %w", err)
	}

	expiry := s.Expiry.UnixMilli()
	// A shared send stores its body once when it stores two or more
	// references; one stored item is an envelope like any other
	// (spec/relay.md §16.3).
	var body int64
	if stored := bodyRefs(s, sts); stored >= 2 {
		if err := b.stmt(stmtInsertBody).QueryRowContext(b.ctx, s.Items[0].Envelope, stored, expiry).Scan(&body); err != nil {
			return store.SendResult{}, fmt.Errorf("sqlite: insert body: %w", err)
		}
	}
	ids, prevs := make([]int64, len(s.Items)), make([]int64, len(s.Items))
	// The references of a shared body, as a JSON array of [hex address,
	// id], inserted together after the loop (stmtInsertRef).
	var refs []byte
	if body != 0 {
		refs = make([]byte, 0, 2+len(s.Items)*(2*len(s.Items[0].Recipient)+16))
		refs = append(refs, '[')
	}
	for i, it := range s.Items {
		if sts[i] != store.Stored {
			continue
		}
		// The mailbox's next id (spec/relay.md §8.1).
		x := boxes[i]
		id := x.last + 1
		if body != 0 {
			refs = appendRef(refs, it.Recipient, id)
		} else {
			// An envelope to a link mailbox expires with it
			// (spec/relay.md §17.3).
			exp := expiry
			if x.link != 0 {
				exp = min(exp, x.link)
			}
			b.pending = append(b.pending, envelopeRow{it.Recipient, id, it.Envelope, now, exp})
		}
		x.dirty = true
		ids[i], prevs[i], x.last = id, x.last, id
	}
	if body != 0 {
		refs = append(refs, ']')
		if _, err := b.stmt(stmtInsertRef).ExecContext(b.ctx, refs, now, expiry, body); err != nil {
			return store.SendResult{}, fmt.Errorf("sqlite: insert references: %w", err)
		}
	}
	return store.SendResult{Statuses: sts, IDs: ids, Prevs: prevs, FirstContacts: len(taken)}, nil
}

// appendRef appends the reference [hex addr, id] to the JSON array refs
// (stmtInsertRef).
func appendRef(refs, addr []byte, id int64) []byte {
	if len(refs) > 1 {
		refs = append(refs, ',')
	}
	refs = append(refs, `["`...)
	refs = hex.AppendEncode(refs, addr)
	refs = append(refs, `",`...)
	refs = strconv.AppendInt(refs, id, 10)
	return append(refs, ']')
}

// bodyRefs is the number of items of a shared send s that are stored,
// 0 for a send that is not shared.
func bodyRefs(s *store.Send, sts []store.Status) int {
	if !s.Shared {
		return 0
	}
	n := 0
	for _, st := range sts {
		if st == store.Stored {
			n++
		}
	}
	return n
}

// tatChange is a first-contact allowance taken by an item: its mailbox
// and the tat before.
type tatChange struct {
	box *box
	old int64
}

// plan decides the status of one item of s, in the order of
// spec/relay.md §7.1: TooLarge, NoMailbox (an expired link mailbox
// included, §17.3), AccessDenied (§15.8),
// QueueFull. For Stored it reserves the envelope's place in its mailbox's
// counts and returns the mailbox, and, if the item took the mailbox's
// first-contact allowance, the tat before it did.
func (b *batch) plan(it store.Item, s *store.Send) (store.Status, *box, *int64, error) {
	n := len(it.Envelope)
	if n > s.MaxEnvelope {
		return store.TooLarge, nil, nil, nil
	}
	x, err := b.box(it.Recipient)
	if err != nil {
		return 0, nil, nil, err
	}
	if !x.exists {
		return store.NoMailbox, nil, nil, nil
	}
	// A link mailbox takes envelopes while it is live, and never a shared
	// send's (spec/relay.md §17.3).
	if x.link != 0 && (s.Now.UnixMilli() >= x.link || s.Shared) {
		return store.NoMailbox, nil, nil, nil
	}
	unsolicited, tat := false, x.tat
	if s.CheckAccess && !x.access.Passes(it.AccessVerifier, s.Now) {
		var ok bool
		if tat, ok = store.FirstContact(x.tat, s.Now.UnixMilli(), s.FirstContactPerHour); !ok {
			return store.AccessDenied, nil, nil, nil
		}
		unsolicited = true
	}
	if x.count+1 > s.MaxQueueCount || x.bytes+int64(n) > s.MaxQueueBytes {
		return store.QueueFull, nil, nil, nil
	}
	x.count++
	x.bytes += int64(n)
	if !unsolicited {
		return store.Stored, x, nil, nil
	}
	old := x.tat
	x.tat = tat
	return store.Stored, x, &old, nil
}

// duplicate returns the first answer to s, whose dedup record is live.
func (b *batch) duplicate(s *store.Send, now int64) (store.SendResult, error) {
	var first []byte
	if err := b.stmt(stmtDedup).QueryRowContext(b.ctx, s.Sender, s.MessageID[:], now).Scan(&first); err != nil {
		return store.SendResult{}, fmt.Errorf("sqlite: read dedup: %w", err)
	}
	sts := make([]store.Status, len(first))
	for i, c := range first {
		sts[i] = store.Status(c)
	}
	return store.SendResult{Statuses: sts, Duplicate: true}, nil
}

// envelopeRow is an envelope row to insert.
type envelopeRow struct {
	addr            []byte
	id              int64
	data            []byte
	arrived, expiry int64
}

// insertRows are the row counts of the writer's multi-row envelope
// inserts (stmts.inserts), largest first.
var insertRows = [...]int{64, 16, 4, 1}

// insertPending inserts the pending envelope rows of the batch's Sends,
// up to 64 in one statement: a Send's own statement costs more than the
// row it inserts (binding, a VDBE program run, database/sql's locking).
// The rows go in in the order the Sends stored them.
func (b *batch) insertPending() error {
	for len(b.pending) > 0 {
		k := 0
		for insertRows[k] > len(b.pending) {
			k++
		}
		n := insertRows[k]
		args := b.args[:0]
		for _, r := range b.pending[:n] {
			args = append(args, r.addr, r.id, r.data, r.arrived, r.expiry)
		}
		st := b.insertBound[k]
		if st == nil {
			st = b.tx.StmtContext(b.ctx, b.q.stmts.inserts[k])
			b.insertBound[k] = st
		}
		_, err := st.ExecContext(b.ctx, args...)
		clear(args)
		b.args = args[:0]
		if err != nil {
			return fmt.Errorf("sqlite: insert envelope: %w", err)
		}
		clear(b.pending[:n])
		b.pending = b.pending[n:]
	}
	b.pending = nil
	return nil
}

// groupFrom is the number of recipients from which a shared send is a
// group message that commits ahead of the acks gathered with it
// (groupFirst), and the number of those acks from which it does.
const groupFrom = 16
