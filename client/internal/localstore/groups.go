package localstore

import (
	"database/sql"
	"errors"
	"time"
)

func groupAD(id []byte) rowKey { return newRowKey("groups", "tracker").bytes(id) }

// PutGroup stores the encoded tracker of group id (spec/client-store.md
// §4.25), replacing the one stored.
func (tx *Tx) PutGroup(id, tracker []byte, updated time.Time) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(groupAD(id), tracker)
	if err != nil {
		return err
	}
	_, err = tx.exec("put group", `INSERT OR REPLACE INTO groups (id, tracker, updated) VALUES (?, ?, ?)`, nonNil(id), sealed, nanos(updated))
	return err
}

// Group returns the encoded tracker of group id, or ErrNotFound.
func (tx *Tx) Group(id []byte) ([]byte, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT tracker FROM groups WHERE id = ?`, nonNil(id)).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get group", err)
	}
	return tx.s.open(groupAD(id), sealed)
}

// GroupIDs returns the ids of the stored groups, in byte order.
func (tx *Tx) GroupIDs() ([][]byte, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id FROM groups ORDER BY id`)
	if err != nil {
		return nil, dbErr("list groups", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr("list groups", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list groups", err)
	}
	return out, nil
}
