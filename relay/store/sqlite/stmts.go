package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// The writer's prepared statements, bound to each batch's transaction
// on first use (batch.stmt), and the readers' (readStmts).

type stmtID int

// The writer's prepared statements.
const (
	stmtMailbox stmtID = iota
	stmtSetDepth
	stmtOpenMailbox
	stmtAckDelete
	stmtDedup
	stmtClaimDedup
	stmtDataVersion
	stmtSetAccess
	stmtInsertBody
	stmtInsertRef
	stmtBodySizes
	stmtReleaseBodies
	stmtDeleteBodies
	stmtPushTarget
	stmtPushDelete
	stmtPushInsert
	stmtPushOwed
	stmtPushClaim
	stmtPushDone
	stmtPushFailed
	stmtPushRemove
	numStmts
)

var stmtSQL = [numStmts]string{
	// The depth of a mailbox and the highest envelope id it has given
	// (the Prev of the next envelope stored, store.SendResult; the next
	// one gets last_id + 1, spec/relay.md §8.1).
	// With the access setting and the first-contact allowance
	// (spec/relay.md §15.8), which a send checks in the same read.
	// With the link mailbox's expiry, 0 for a device mailbox
	// (spec/relay.md §17).
	stmtMailbox: `SELECT count, bytes, last_id, access_mode, access_current, access_previous,
		access_previous_until, first_contact_tat, link_expiry FROM mailboxes WHERE addr = ?`,
	stmtSetDepth:    `UPDATE mailboxes SET count = ?, bytes = ?, last_id = ?, first_contact_tat = ? WHERE addr = ?`,
	stmtOpenMailbox: `INSERT INTO mailboxes (addr, created) VALUES (?, ?) ON CONFLICT (addr) DO NOTHING`,
	// A batch's acks, a JSON array of [hex address, id] pairs: deletes
	// the envelopes that exist and returns each one's address, id, size
	// and shared body (batch.ack). A reference to a shared body
	// (spec/relay.md §16) has an empty data: its size is the body's, which
	// the batch reads after (stmtBodySizes), and it names the body to
	// release. One statement finds and deletes the rows; the (addr, id)
	// index finds each (TestAckPlan).
	stmtAckDelete: ackDeleteSQL,
	stmtDedup:     `SELECT statuses FROM dedup WHERE sender = ? AND message_id = ? AND until > ?`,
	// Inserts the record, or replaces one that is no longer live; changes
	// no row if a live one exists.
	stmtClaimDedup: `INSERT INTO dedup (sender, message_id, statuses, until) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (sender, message_id) DO UPDATE SET statuses = excluded.statuses, until = excluded.until
		WHERE dedup.until <= ?5`,
	// Changes when another connection has committed (batch.loadCache).
	stmtDataVersion: `PRAGMA data_version`,
	stmtSetAccess: `UPDATE mailboxes SET access_mode = ?, access_current = ?, access_previous = ?,
		access_previous_until = ? WHERE addr = ?`,
	// Shared bodies (spec/relay.md §16): a body stored once with its
	// number of references, and the references, envelope rows with an
	// empty data.
	stmtInsertBody: `INSERT INTO bodies (data, refs, expiry) VALUES (?, ?, ?) RETURNING id`,
	// All the references of one shared send in one statement, a JSON
	// array of [hex address, id] (batch.send): one call into the engine
	// instead of one per recipient device.
	stmtInsertRef: `INSERT INTO envelopes (addr, id, data, arrived, expiry, body)
		SELECT unhex(j.value ->> 0), j.value ->> 1, X'', ?2, ?3, ?4 FROM json_each(?1) AS j`,
	// The sizes of bodies, a JSON array of ids.
	stmtBodySizes: `SELECT id, length(data) FROM bodies WHERE id IN (SELECT value FROM json_each(?1))`,
	// Releases references, a JSON array of [body id, count], then deletes
	// the bodies left without any.
	stmtReleaseBodies: `UPDATE bodies SET refs = refs - (j.value ->> 1) FROM json_each(?1) AS j
		WHERE bodies.id = j.value ->> 0`,
	stmtDeleteBodies: `DELETE FROM bodies WHERE id IN (SELECT value ->> 0 FROM json_each(?1)) AND refs <= 0`,
	// Push registrations (push.go, store.PushQueue). A new registration
	// is a new row: its gen is a new AUTOINCREMENT rowid.
	stmtPushTarget: `SELECT kind, endpoint, p256dh, auth, token FROM push WHERE addr = ?`,
	stmtPushDelete: `DELETE FROM push WHERE addr = ?`,
	stmtPushInsert: `INSERT INTO push (addr, kind, endpoint, p256dh, auth, token) VALUES (?, ?, ?, ?, ?, ?)`,
	stmtPushOwed:   pushOwedSQL,
	// Sets next_wake of the registrations of a JSON array of gens.
	stmtPushClaim:  `UPDATE push SET next_wake = ?2 WHERE gen IN (SELECT value FROM json_each(?1))`,
	stmtPushDone:   `UPDATE push SET woken = max(woken, ?3), failures = 0 WHERE addr = ?1 AND gen = ?2`,
	stmtPushFailed: `UPDATE push SET failures = failures + 1, next_wake = ?3 WHERE addr = ?1 AND gen = ?2 RETURNING failures`,
	stmtPushRemove: `DELETE FROM push WHERE addr = ? AND gen = ?`,
}

// ackDeleteSQL is stmtAckDelete.
const ackDeleteSQL = `DELETE FROM envelopes WHERE rowid IN (SELECT e.rowid FROM json_each(?1) AS j
		CROSS JOIN envelopes AS e ON e.addr = unhex(j.value ->> 0) AND e.id = j.value ->> 1)
		RETURNING addr, id, length(data), body`

// pushOwedSQL selects the registrations of a JSON array of hex addresses
// whose mailbox has new mail at ?2 (pushNewMail), with through, the
// newest envelope id of the mailbox (spec/push.md §3.1, §3.3).
//
// Neither reads the queue: through is the last entry of the mailbox in
// the index envelopes_addr_id (addr, id), and new mail walks that index
// from woken upward, stopping at the first envelope unexpired at ?2, the
// first one after woken unless those have expired. EXPLAIN QUERY PLAN
// (TestPushPlans):
//
//	SEARCH p USING INDEX sqlite_autoindex_push_1 (addr=?)
//	SEARCH e EXISTS USING INDEX envelopes_addr_id (addr=? AND id>?)
//	CORRELATED SCALAR SUBQUERY 1
//	  SEARCH e USING COVERING INDEX envelopes_addr_id (addr=?)
//
// where the max() is SQLite's min/max optimisation: one SeekLE to the
// mailbox's last index entry, read alone.
//
// A shared send's references (spec/relay.md §16) are envelope rows too,
// and count as mail.
const pushOwedSQL = `SELECT p.addr, p.gen, p.kind, p.endpoint, p.p256dh, p.auth, p.token, p.next_wake, p.failures,
		(SELECT max(e.id) FROM envelopes AS e WHERE e.addr = p.addr)
	FROM push AS p WHERE p.addr IN (SELECT unhex(value) FROM json_each(?1)) AND ` + pushNewMail + `
	ORDER BY p.addr`

// pushNewMail is the condition that registration p's mailbox has new mail
// at ?2: an envelope unexpired then with an id above woken. The unary +
// keeps the planner off envelopes_expiry, which would read every
// unexpired envelope of the relay.
const pushNewMail = `EXISTS (SELECT 1 FROM envelopes AS e
		WHERE e.addr = p.addr AND e.id > p.woken AND +e.expiry > ?2)`

type stmts struct {
	s [numStmts]*sql.Stmt
	// inserts[k] inserts insertRows[k] envelope rows (batch.insertPending).
	inserts [len(insertRows)]*sql.Stmt
}

// insertSQL inserts n envelope rows.
func insertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO envelopes (addr, id, data, arrived, expiry) VALUES (?, ?, ?, ?, ?)`)
	for range n - 1 {
		b.WriteString(`, (?, ?, ?, ?, ?)`)
	}
	return b.String()
}

func prepare(ctx context.Context, w *sql.DB) (*stmts, error) {
	p := &stmts{}
	for i, q := range stmtSQL {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		p.s[i] = st
	}
	for k, n := range insertRows {
		st, err := w.PrepareContext(ctx, insertSQL(n))
		if err != nil {
			p.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		p.inserts[k] = st
	}
	return p, nil
}

func (p *stmts) close() error {
	var errs []error
	for _, st := range append(p.s[:], p.inserts[:]...) {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// The readers' prepared statements, on the read-only pool: database/sql
// prepares each on a pooled connection the first time it runs there and
// keeps it, so Fetch, run once per delivery, parses no SQL.
const (
	readFetch stmtID = iota
	readStats
	readHasMailbox
	readAccess
	readBodyStats
	readPush
	readPendingWakes
	readPushOwed
	readLink
	numReadStmts
)

var readSQL = [numReadStmts]string{
	// A reference to a shared body is delivered as the body (spec/relay.md
	// §16).
	readFetch: `SELECT e.id, coalesce(b.data, e.data), e.arrived, e.expiry FROM envelopes AS e
		LEFT JOIN bodies AS b ON b.id = e.body
		WHERE e.addr = ? AND e.id > ? AND e.expiry > ? AND (e.body IS NULL OR b.id IS NOT NULL)
		ORDER BY e.id LIMIT ?`,
	readStats:      `SELECT count, bytes FROM mailboxes WHERE addr = ?`,
	readHasMailbox: `SELECT 1 FROM mailboxes WHERE addr = ?`,
	readAccess: `SELECT access_mode, access_current, access_previous, access_previous_until
		FROM mailboxes WHERE addr = ?`,
	readBodyStats: `SELECT count(*), coalesce(sum(length(data)), 0), coalesce(sum(refs), 0) FROM bodies`,
	// A mailbox and its push registration, if any (push.go).
	readPush: `SELECT p.gen, p.kind, p.endpoint, p.p256dh, p.auth, p.token, p.next_wake, p.woken, p.failures
		FROM mailboxes AS m LEFT JOIN push AS p ON p.addr = m.addr WHERE m.addr = ?`,
	// Registrations after ?1 (NULL: from the start), in address order,
	// whose mailbox has new mail at ?2 (pushNewMail; pushOwedSQL says how
	// it is found). The >= term lets a page start in the index where the
	// last one ended rather than at the first registration: SEARCH p
	// USING INDEX sqlite_autoindex_push_1 (addr>?), then for each the
	// search of pushNewMail (TestPushPlans).
	readPendingWakes: `SELECT p.addr FROM push AS p
		WHERE p.addr >= coalesce(?1, X'') AND (?1 IS NULL OR p.addr > ?1) AND ` + pushNewMail + `
		ORDER BY p.addr LIMIT ?3`,
	// ClaimWakes looks first on a reader whether it has anything to claim.
	readPushOwed: pushOwedSQL,
	// A link mailbox (spec/relay.md §17); link_expiry 0 is a device's.
	readLink: `SELECT link_expiry, link_offer FROM mailboxes WHERE addr = ?`,
}

type readStmts struct{ s [numReadStmts]*sql.Stmt }

func prepareReads(ctx context.Context, r *sql.DB) (*readStmts, error) {
	p := &readStmts{}
	for i, q := range readSQL {
		st, err := r.PrepareContext(ctx, q)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		p.s[i] = st
	}
	return p, nil
}

func (p *readStmts) close() error {
	var errs []error
	for _, st := range p.s {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
