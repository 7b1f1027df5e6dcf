package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The writer's prepared statements, bound to each batch's transaction
// on first use (batch.stmt), and the readers' (readStmts).

type stmtID int

// The writer's prepared statements.
const (
	stmtMailbox stmtID = iota
	stmtSetDepth
	stmtOpenMailbox
	stmtInsertEnvelope
	stmtAckedSizes
	stmtDeleteEnvelopes
	stmtDedup
	stmtClaimDedup
	stmtDataVersion
	stmtSetAccess
	numStmts
)

var stmtSQL = [numStmts]string{
	// The depth of a mailbox and the highest envelope id it has given
	// (the Prev of the next envelope stored, store.SendResult; the next
	// one gets last_id + 1, spec/relay.md §8.1).
	// With the access setting and the first-contact allowance
	// (spec/relay.md §15.8), which a send checks in the same read.
	stmtMailbox: `SELECT count, bytes, last_id, access_mode, access_current, access_previous,
		access_previous_until, first_contact_tat FROM mailboxes WHERE addr = ?`,
	stmtSetDepth:       `UPDATE mailboxes SET count = ?, bytes = ?, last_id = ?, first_contact_tat = ? WHERE addr = ?`,
	stmtOpenMailbox:    `INSERT INTO mailboxes (addr, created) VALUES (?, ?) ON CONFLICT (addr) DO NOTHING`,
	stmtInsertEnvelope: `INSERT INTO envelopes (addr, id, data, arrived, expiry) VALUES (?, ?, ?, ?, ?)`,
	// A batch's acks, a JSON array of [hex address, id] pairs: the
	// envelopes that exist, their rowids and sizes; then the deletion of
	// those, a JSON array of rowids (batch.ack).
	stmtAckedSizes: `SELECT e.addr, e.id, e.rowid, length(e.data) FROM json_each(?1) AS j
		CROSS JOIN envelopes AS e ON e.addr = unhex(j.value ->> 0) AND e.id = j.value ->> 1`,
	stmtDeleteEnvelopes: `DELETE FROM envelopes WHERE rowid IN (SELECT value FROM json_each(?1))`,
	stmtDedup:           `SELECT statuses FROM dedup WHERE sender = ? AND message_id = ? AND until > ?`,
	// Inserts the record, or replaces one that is no longer live; changes
	// no row if a live one exists.
	stmtClaimDedup: `INSERT INTO dedup (sender, message_id, statuses, until) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (sender, message_id) DO UPDATE SET statuses = excluded.statuses, until = excluded.until
		WHERE dedup.until <= ?5`,
	// Changes when another connection has committed (batch.loadCache).
	stmtDataVersion: `PRAGMA data_version`,
	stmtSetAccess: `UPDATE mailboxes SET access_mode = ?, access_current = ?, access_previous = ?,
		access_previous_until = ? WHERE addr = ?`,
}

type stmts struct{ s [numStmts]*sql.Stmt }

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
	return p, nil
}

func (p *stmts) close() error {
	var errs []error
	for _, st := range p.s {
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
	numReadStmts
)

var readSQL = [numReadStmts]string{
	readFetch: `SELECT id, data, arrived, expiry FROM envelopes
		WHERE addr = ? AND id > ? AND expiry > ? ORDER BY id LIMIT ?`,
	readStats:      `SELECT count, bytes FROM mailboxes WHERE addr = ?`,
	readHasMailbox: `SELECT 1 FROM mailboxes WHERE addr = ?`,
	readAccess: `SELECT access_mode, access_current, access_previous, access_previous_until
		FROM mailboxes WHERE addr = ?`,
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
