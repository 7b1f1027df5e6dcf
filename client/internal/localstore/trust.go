package localstore

import (
	"database/sql"
	"errors"
)

// logKeyName is the meta row holding the transparency log's verifier key
// this device trusted on first use (spec/client-store.md §4.1).
const logKeyName = "log_key"

func logKeyAD() rowKey { return newRowKey("meta", "value").text(logKeyName) }

// PutLogKey stores the log verifier key learned on first use.
func (tx *Tx) PutLogKey(key string) error {
	sealed, err := tx.s.seal(logKeyAD(), []byte(key))
	if err != nil {
		return err
	}
	_, err = tx.exec("put log key", `INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)`, logKeyName, sealed)
	return err
}

// LogKey returns the stored log verifier key, or ErrNotFound.
func (tx *Tx) LogKey() (string, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT value FROM meta WHERE name = ?`, logKeyName).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", dbErr("get log key", err)
	}
	key, err := tx.s.open(logKeyAD(), sealed)
	return string(key), err
}

// KeySetHandles returns the handles that have a stored key set, in order.
func (tx *Tx) KeySetHandles() ([]string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT handle FROM keysets ORDER BY handle`)
	if err != nil {
		return nil, dbErr("list key sets", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, dbErr("list key sets", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list key sets", err)
	}
	return out, nil
}
