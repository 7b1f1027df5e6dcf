package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/relay/store"
)

// maxAttempts bounds how often a batch or Sweep transaction is run again
// after a deadlock or serialization failure.
const maxAttempts = 5

var (
	// errBatchShape reports a database answer that does not match the
	// batch.
	errBatchShape = errors.New("unexpected result shape")
	// errRetry asks for the batch to be run again.
	errRetry = errors.New("transient conflict")
)

// The statements of a batch transaction, in three round trips:
//
//  1. BEGIN; dropExpiredDedup; claimDedup
//  2. readDedup (if some sends are duplicates); lockMailboxes
//  3. insertEnvelopes; updateMailboxes; setDedup; COMMIT
//
// claimDedup inserts the dedup records of the batch's sends (after
// dropExpiredDedup removed those whose window passed: an expired record is
// absent); a send whose record it does not return is a duplicate, answered
// from the record. A concurrent transaction inserting the same pair waits
// on its index entry until this one ends. lockMailboxes locks the rows of
// the recipients in address order; with the rows locked, the caps are
// checked in Go item by item, and the new count and bytes written back.
// Envelope ids are per mailbox (spec/relay.md §8.1): each stored envelope
// gets its mailbox's last_id + 1, counted in Go while the row is locked
// and written back with the depth, so within a mailbox ids commit in
// order and say nothing about other mailboxes' traffic. Locks are always
// taken dedup records first, each set in key order, then mailboxes in
// address order, then envelopes (Ack and Sweep lock the mailbox before
// deleting), so batches do not deadlock each other.
const (
	// joinByIndex makes the batch's joins of its arrays (at most maxBatch
	// rows) with relay_dedup nested loops over the primary key. Left to
	// itself, the planner hashes the arrays and scans the whole table,
	// which it prices below a few hundred index probes on tables of tens
	// of thousands of rows: a cost per batch that grows with the table.
	joinByIndex = `SELECT set_config('enable_hashjoin', 'off', true),
		set_config('enable_mergejoin', 'off', true), set_config('enable_seqscan', 'off', true)`

	dropExpiredDedup = `DELETE FROM relay_dedup d
		USING unnest($1::bytea[], $2::bytea[], $3::bigint[]) AS k(sender, message_id, now_ns)
		WHERE d.sender = k.sender AND d.message_id = k.message_id AND d.until_ns <= k.now_ns`

	claimDedup = `INSERT INTO relay_dedup (sender, message_id, statuses, until_ns)
		SELECT sender, message_id, '', until_ns
		FROM unnest($1::bytea[], $2::bytea[], $3::bigint[]) WITH ORDINALITY AS k(sender, message_id, until_ns, n)
		ORDER BY n
		ON CONFLICT (sender, message_id) DO NOTHING
		RETURNING sender, message_id`

	readDedup = `SELECT d.sender, d.message_id, d.statuses FROM relay_dedup d
		JOIN unnest($1::bytea[], $2::bytea[]) AS k(sender, message_id) USING (sender, message_id)`

	// lockMailboxes locks the recipients' rows and reads their depth and
	// the highest envelope id each has given (the Prev of its next
	// envelope, store.SendResult).
	// With the access setting and the first-contact allowance
	// (spec/relay.md §15.8), checked under the same lock.
	// With the link mailbox's expiry, 0 for a device mailbox
	// (spec/relay.md §17).
	lockMailboxes = `SELECT address, count, bytes, last_id, access_mode, access_current, access_previous,
		access_previous_until_ns, first_contact_tat_ns, link_expiry_ns FROM relay_mailboxes
		WHERE address = ANY($1::bytea[]) ORDER BY address FOR NO KEY UPDATE`

	// body is 0 for an envelope of its own, else the shared body it
	// references (spec/relay.md §16), whose row insertBodies writes first.
	insertEnvelopes = `INSERT INTO relay_envelopes (address, id, data, size, arrived_ns, expiry_ns, body)
		SELECT a, i, d, s, t, e, nullif(b, 0)
		FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::integer[], $5::bigint[], $6::bigint[], $7::bigint[]) AS v(a, i, d, s, t, e, b)`

	// Shared bodies (spec/relay.md §16): their ids, drawn in round trip
	// 2, and their rows.
	drawBodyIDs  = `SELECT nextval('relay_bodies_id_seq') FROM generate_series(1, $1::integer)`
	insertBodies = `INSERT INTO relay_bodies (id, data, expiry_ns)
		SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])`

	updateMailboxes = `UPDATE relay_mailboxes m SET count = v.count, bytes = v.bytes, last_id = v.last_id,
		first_contact_tat_ns = v.tat
		FROM unnest($1::bytea[], $2::integer[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(address, count, bytes, last_id, tat)
		WHERE m.address = v.address`

	setDedup = `UPDATE relay_dedup d SET statuses = v.statuses
		FROM unnest($1::bytea[], $2::bytea[], $3::bytea[]) AS v(sender, message_id, statuses)
		WHERE d.sender = v.sender AND d.message_id = v.message_id`
)

// dedupKey identifies a dedup record.
type dedupKey struct {
	sender    string
	messageID [store.MessageIDSize]byte
}

func keyOf(s *store.Send) dedupKey { return dedupKey{string(s.Sender), s.MessageID} }

func compareKeys(a, b dedupKey) int {
	if c := bytes.Compare([]byte(a.sender), []byte(b.sender)); c != 0 {
		return c
	}
	return bytes.Compare(a.messageID[:], b.messageID[:])
}

// mailboxState is a locked mailbox's queue depth as the batch changes it,
// and the highest envelope id it has given (last_id, 0 if none).
type mailboxState struct {
	count   int
	bytes   int64
	last    int64
	changed bool
	// The access setting, and the first-contact allowance's theoretical
	// arrival time in unix ms (spec/relay.md §15.8).
	access store.Access
	tat    int64
	// link is the expiry (Unix ns) of a link mailbox, 0 for a device
	// mailbox (spec/relay.md §17).
	link int64
}

// commitBatch stores sends in one transaction and returns their answers,
// in order, and the distinct addresses that gained envelopes.
func (q *Queue) commitBatch(ctx context.Context, sends []*store.Send) ([]store.SendResult, [][]byte, error) {
	// The first send of each (sender, message id) claims the record; later
	// ones in the batch are its duplicates.
	first := make(map[dedupKey]int, len(sends))
	var keys []dedupKey
	for i, s := range sends {
		k := keyOf(s)
		if _, ok := first[k]; !ok {
			first[k] = i
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)

	conn, err := q.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	// A connection left inside a transaction (after an error) is closed
	// by the pool on release, which rolls the transaction back.
	defer conn.Release()

	// Round trip 1: claim the dedup records.
	fresh, err := claimRecords(ctx, conn.Conn(), keys, sends, first)
	if err != nil {
		return nil, nil, err
	}

	// Round trip 2: read the duplicates' answers and lock the recipients'
	// mailboxes.
	var dupSenders, dupIDs [][]byte
	var addrs [][]byte
	for _, k := range keys {
		if !fresh[k] {
			dupSenders, dupIDs = append(dupSenders, []byte(k.sender)), append(dupIDs, bytes.Clone(k.messageID[:]))
			continue
		}
		s := sends[first[k]]
		for _, it := range s.Items {
			if len(it.Envelope) <= s.MaxEnvelope {
				addrs = append(addrs, nonNil(it.Recipient))
			}
		}
	}
	slices.SortFunc(addrs, bytes.Compare)
	addrs = slices.CompactFunc(addrs, bytes.Equal)
	// Ids for the bodies of the fresh shared sends that may store two or
	// more references (spec/relay.md §16.3); unused ones are left as gaps.
	nBodies := 0
	for _, k := range keys {
		if s := sends[first[k]]; fresh[k] && s.Shared && len(s.Items) >= 2 {
			nBodies++
		}
	}
	stored, boxes, bodyIDs, err := readAndLock(ctx, conn.Conn(), dupSenders, dupIDs, addrs, nBodies)
	if err != nil {
		return nil, nil, err
	}

	// Decide every status, in batch order then item order.
	results := make([]store.SendResult, len(sends))
	var env envelopeColumns
	var bodies bodyColumns
	for i, s := range sends {
		k := keyOf(s)
		switch {
		case first[k] != i:
			continue // a duplicate within the batch: filled in below
		case !fresh[k]:
			st, ok := stored[k]
			if !ok {
				// The record was deleted between the round trips (a
				// Sweep): try again.
				return nil, nil, fmt.Errorf("dedup record vanished: %w", errRetry)
			}
			results[i] = store.SendResult{Statuses: st, Duplicate: true}
			continue
		}
		statuses := make([]store.Status, len(s.Items))
		ids, prevs := make([]int64, len(s.Items)), make([]int64, len(s.Items))
		firstContacts := 0
		for j, it := range s.Items {
			box := boxes[string(it.Recipient)]
			size := int64(len(it.Envelope))
			// The access check (spec/relay.md §15.8), between no_mailbox
			// and queue_full (§7.1).
			unsolicited, tat, admitted := false, int64(0), true
			if box != nil && s.CheckAccess && !box.access.Passes(it.AccessVerifier, s.Now) {
				unsolicited = true
				tat, admitted = store.FirstContact(box.tat, s.Now.UnixMilli(), s.FirstContactPerHour)
			}
			switch {
			case len(it.Envelope) > s.MaxEnvelope:
				statuses[j] = store.TooLarge
			case box == nil:
				statuses[j] = store.NoMailbox
			case box.link != 0 && (nanos(s.Now) >= box.link || s.Shared):
				// A link mailbox takes envelopes while it is live, and
				// never a shared send's (spec/relay.md §17.3).
				statuses[j] = store.NoMailbox
			case !admitted:
				statuses[j] = store.AccessDenied
			case box.count+1 > s.MaxQueueCount || box.bytes+size > s.MaxQueueBytes:
				statuses[j] = store.QueueFull
			default:
				if unsolicited {
					box.tat = tat
					firstContacts++
				}
				statuses[j] = store.Stored
				box.count++
				box.bytes += size
				box.changed = true
				// The mailbox's next id (spec/relay.md §8.1).
				prevs[j] = box.last
				box.last++
				ids[j] = box.last
			}
		}
		// A shared send with two or more stored items stores its body
		// once and a reference per item (spec/relay.md §16.3).
		var body int64
		if s.Shared && countStored(statuses) >= 2 {
			if len(bodyIDs) == 0 {
				return nil, nil, errBatchShape
			}
			body, bodyIDs = bodyIDs[0], bodyIDs[1:]
			bodies.add(body, s.Items[0].Envelope, nanos(s.Expiry))
		}
		for j, it := range s.Items {
			if statuses[j] == store.Stored {
				// An envelope to a link mailbox expires with it
				// (spec/relay.md §17.3).
				exp := nanos(s.Expiry)
				if l := boxes[string(it.Recipient)].link; l != 0 {
					exp = min(exp, l)
				}
				env.add(it, ids[j], nanos(s.Now), exp, body)
			}
		}
		results[i] = store.SendResult{Statuses: statuses, IDs: ids, Prevs: prevs, FirstContacts: firstContacts}
	}
	for i, s := range sends {
		if j := first[keyOf(s)]; j != i {
			results[i] = store.SendResult{Statuses: slices.Clone(results[j].Statuses), Duplicate: true}
		}
	}

	// Round trip 3: write and commit.
	b := &pgx.Batch{}
	var woken [][]byte
	if len(bodies.id) > 0 {
		b.Queue(insertBodies, bodies.id, bodies.data, bodies.expiry)
	}
	if len(env.address) > 0 {
		b.Queue(insertEnvelopes, env.address, env.id, env.data, env.size, env.arrived, env.expiry, env.body)
		var counts []int
		var sizes, lasts, tats []int64
		for _, a := range addrs {
			if box := boxes[string(a)]; box != nil && box.changed {
				woken = append(woken, bytes.Clone(a))
				counts, sizes, lasts = append(counts, box.count), append(sizes, box.bytes), append(lasts, box.last)
				tats = append(tats, box.tat*int64(time.Millisecond))
			}
		}
		b.Queue(updateMailboxes, woken, counts, sizes, lasts, tats)
	}
	var setSenders, setIDs, setStatuses [][]byte
	for _, k := range keys {
		if fresh[k] {
			setSenders, setIDs = append(setSenders, []byte(k.sender)), append(setIDs, bytes.Clone(k.messageID[:]))
			setStatuses = append(setStatuses, encodeStatuses(results[first[k]].Statuses))
		}
	}
	if len(setSenders) > 0 {
		b.Queue(setDedup, setSenders, setIDs, setStatuses)
	}
	b.Queue("COMMIT")
	if err := roundTrip(ctx, conn.Conn(), b, func(pgx.BatchResults) error { return nil }); err != nil {
		return nil, nil, err
	}
	return results, woken, nil
}

// claimRecords runs round trip 1 of a batch: it begins the transaction
// and claims the dedup records of keys, reporting which it claimed.
func claimRecords(ctx context.Context, conn *pgx.Conn, keys []dedupKey, sends []*store.Send, first map[dedupKey]int) (map[dedupKey]bool, error) {
	senders, ids := make([][]byte, len(keys)), make([][]byte, len(keys))
	nows, untils := make([]int64, len(keys)), make([]int64, len(keys))
	for j, k := range keys {
		s := sends[first[k]]
		senders[j], ids[j] = nonNil(s.Sender), bytes.Clone(k.messageID[:])
		nows[j], untils[j] = nanos(s.Now), nanos(s.DedupUntil)
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(joinByIndex)
	b.Queue(dropExpiredDedup, senders, ids, nows)
	b.Queue(claimDedup, senders, ids, untils)
	fresh := map[dedupKey]bool{}
	err := roundTrip(ctx, conn, b, func(br pgx.BatchResults) error {
		for range 3 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		rows, _ := br.Query()
		var sender, id []byte
		_, err := pgx.ForEachRow(rows, []any{&sender, &id}, func() error {
			var k dedupKey
			if len(id) != store.MessageIDSize {
				return errBatchShape
			}
			k.sender = string(sender)
			copy(k.messageID[:], id)
			fresh[k] = true
			return nil
		})
		return err
	})
	return fresh, err

}

// countStored is the number of Stored statuses.
func countStored(sts []store.Status) int {
	n := 0
	for _, st := range sts {
		if st == store.Stored {
			n++
		}
	}
	return n
}

// readAndLock runs round trip 2 of a batch: it reads the answers of the
// duplicates and locks the mailboxes of addrs, returning their depth, and
// draws nBodies shared body ids.
func readAndLock(ctx context.Context, conn *pgx.Conn, dupSenders, dupIDs, addrs [][]byte, nBodies int) (map[dedupKey][]store.Status, map[string]*mailboxState, []int64, error) {
	stored := map[dedupKey][]store.Status{}
	boxes := map[string]*mailboxState{}
	var bodyIDs []int64
	b := &pgx.Batch{}
	if len(dupSenders) > 0 {
		b.Queue(readDedup, dupSenders, dupIDs)
	}
	if nBodies > 0 {
		b.Queue(drawBodyIDs, nBodies)
	}
	if len(addrs) > 0 {
		b.Queue(lockMailboxes, addrs)
	}
	err := roundTrip(ctx, conn, b, func(br pgx.BatchResults) error {
		if len(dupSenders) > 0 {
			rows, _ := br.Query()
			var sender, id, enc []byte
			_, err := pgx.ForEachRow(rows, []any{&sender, &id, &enc}, func() error {
				var k dedupKey
				k.sender = string(sender)
				copy(k.messageID[:], id)
				stored[k] = decodeStatuses(enc)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if nBodies > 0 {
			rows, _ := br.Query()
			var id int64
			if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				bodyIDs = append(bodyIDs, id)
				return nil
			}); err != nil {
				return err
			}
			if len(bodyIDs) != nBodies {
				return errBatchShape
			}
		}
		if len(addrs) > 0 {
			rows, _ := br.Query()
			var addr, cur, prev []byte
			var st mailboxState
			var mode int16
			var until, tat, link int64
			_, err := pgx.ForEachRow(rows, []any{&addr, &st.count, &st.bytes, &st.last, &mode, &cur, &prev, &until, &tat, &link}, func() error {
				boxes[string(addr)] = &mailboxState{count: st.count, bytes: st.bytes, last: st.last, link: link,
					access: store.Access{Mode: store.AccessMode(mode), Current: bytes.Clone(cur), Previous: bytes.Clone(prev), PreviousUntil: fromNanos(until)},
					tat:    tat / int64(time.Millisecond)}
				return nil
			})
			return err
		}
		return nil
	})
	return stored, boxes, bodyIDs, err
}

// roundTrip sends b and passes its results to read, returning the first
// error of either.
func roundTrip(ctx context.Context, conn *pgx.Conn, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	if b.Len() == 0 {
		return nil
	}
	br := conn.SendBatch(ctx, b)
	err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// envelopeColumns are the rows insertEnvelopes takes, column by column.
type envelopeColumns struct {
	address, data         [][]byte
	id                    []int64
	size                  []int32
	arrived, expiry, body []int64
}

// add adds the envelope of it, or, with body > 0, a reference to that
// shared body (empty data, the body's size).
func (e *envelopeColumns) add(it store.Item, id, arrived, expiry, body int64) {
	e.address = append(e.address, it.Recipient)
	e.id = append(e.id, id)
	if body > 0 {
		e.data = append(e.data, []byte{})
	} else {
		e.data = append(e.data, nonNil(it.Envelope))
	}
	e.size = append(e.size, int32(len(it.Envelope)))
	e.arrived = append(e.arrived, arrived)
	e.expiry = append(e.expiry, expiry)
	e.body = append(e.body, body)
}

// bodyColumns are the rows insertBodies takes.
type bodyColumns struct {
	id, expiry []int64
	data       [][]byte
}

func (b *bodyColumns) add(id int64, data []byte, expiry int64) {
	b.id = append(b.id, id)
	b.data = append(b.data, nonNil(data))
	b.expiry = append(b.expiry, expiry)
}

// nonNil returns b, or an empty slice for nil: pgx sends nil as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// encodeStatuses and decodeStatuses convert statuses to and from the dedup
// record's bytes, one per item.
func encodeStatuses(st []store.Status) []byte {
	b := make([]byte, len(st))
	for i, s := range st {
		b[i] = byte(s)
	}
	return b
}

func decodeStatuses(b []byte) []store.Status {
	st := make([]store.Status, len(b))
	for i, c := range b {
		st[i] = store.Status(c)
	}
	return st
}
