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
func (tx *sqlTx) PutLogKey(key string) error {
	return tx.putMeta(logKeyName, logKeyAD(), []byte(key))
}

// LogKey returns the stored log verifier key, or ErrNotFound.
func (tx *sqlTx) LogKey() (string, error) {
	key, err := tx.meta(logKeyName, logKeyAD())
	return string(key), err
}

// putMeta stores value, sealed under ad, in the meta row name.
func (tx *sqlTx) putMeta(name string, ad rowKey, value []byte) error {
	sealed, err := tx.s.seal(ad, value)
	if err != nil {
		return err
	}
	_, err = tx.exec("put "+name, `INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)`, name, sealed)
	return err
}

// meta returns the value of the meta row name, opened under ad, or
// ErrNotFound.
func (tx *sqlTx) meta(name string, ad rowKey) ([]byte, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get "+name, err)
	}
	return tx.s.open(ad, sealed)
}

// KeySetHandles returns the handles that have a stored key set, in order.
func (tx *sqlTx) KeySetHandles() ([]string, error) {
	return tx.texts("list key sets", `SELECT handle FROM keysets ORDER BY handle`)
}

// texts returns the one text column of query's rows, in order.
func (tx *sqlTx) texts(op, query string, args ...any) ([]string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

// auditStateName is the meta row holding the directory audit state
// (spec/client-store.md §4.1).
const auditStateName = "audit_state"

func auditStateAD() rowKey { return newRowKey("meta", "value").text(auditStateName) }

// PutAuditState stores the encoded directory audit state
// (directory.AuditState.Marshal), replacing the one stored.
func (tx *sqlTx) PutAuditState(state []byte) error {
	return tx.putMeta(auditStateName, auditStateAD(), state)
}

// AuditState returns the stored encoded directory audit state, or
// ErrNotFound.
func (tx *sqlTx) AuditState() ([]byte, error) {
	return tx.meta(auditStateName, auditStateAD())
}
