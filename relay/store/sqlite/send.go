package sqlite

import (
	"context"
	"fmt"

	"github.com/sealpost/sealpost/relay/store"
)

// Send stores s in the writer's next batch (see the package comment).
func (q *Queue) Send(ctx context.Context, s store.Send) (store.SendResult, error) {
	size := 0
	for _, it := range s.Items {
		size += len(it.Envelope)
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
	err := q.writeThen(ctx, size, func(b *batch) error {
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
// (a new send) costs one dedup statement and one insert per envelope.
func (b *batch) send(s *store.Send) (store.SendResult, error) {
	now := s.Now.UnixMilli()
	sts := make([]store.Status, len(s.Items))
	enc := make([]byte, len(s.Items))
	boxes := make([]*box, len(s.Items))
	for i, it := range s.Items {
		st, x, err := b.plan(it, s)
		if err != nil {
			return store.SendResult{}, err
		}
		sts[i], enc[i], boxes[i] = st, byte(st), x
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
		return b.duplicate(s, now)
	}
	if err != nil {
		return store.SendResult{}, fmt.Errorf("sqlite: write dedup: %w", err)
	}

	expiry := s.Expiry.UnixMilli()
	ids, prevs := make([]int64, len(s.Items)), make([]int64, len(s.Items))
	for i, it := range s.Items {
		if sts[i] != store.Stored {
			continue
		}
		// The mailbox's next id (spec/relay.md §8.1).
		x := boxes[i]
		id := x.last + 1
		if _, err := b.stmt(stmtInsertEnvelope).ExecContext(b.ctx, it.Recipient, id, it.Envelope, now, expiry); err != nil {
			return store.SendResult{}, fmt.Errorf("sqlite: insert envelope: %w", err)
		}
		x.dirty = true
		ids[i], prevs[i], x.last = id, x.last, id
	}
	return store.SendResult{Statuses: sts, IDs: ids, Prevs: prevs}, nil
}

// plan decides the status of one item of s, in the order of the
// store.Status values: TooLarge, NoMailbox, QueueFull. For Stored it
// reserves the envelope's place in its mailbox's counts and returns the
// mailbox.
func (b *batch) plan(it store.Item, s *store.Send) (store.Status, *box, error) {
	n := len(it.Envelope)
	if n > s.MaxEnvelope {
		return store.TooLarge, nil, nil
	}
	x, err := b.box(it.Recipient)
	if err != nil {
		return 0, nil, err
	}
	if !x.exists {
		return store.NoMailbox, nil, nil
	}
	if x.count+1 > s.MaxQueueCount || x.bytes+int64(n) > s.MaxQueueBytes {
		return store.QueueFull, nil, nil
	}
	x.count++
	x.bytes += int64(n)
	return store.Stored, x, nil
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
