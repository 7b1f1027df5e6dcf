package localstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Prekey is one of this device's prekey private keys (spec/client-store.md
// §4.3). Secret is sealed on disk; the caller zeroes the copy it gets.
type Prekey struct {
	Kind    uint8 // spec/keys.md §8
	ID      uint32
	Secret  []byte
	Created time.Time
	Used    time.Time // zero until first used in a session
	// Pending is the signed public prekey while the key server has not
	// acknowledged it, nil once it has (spec/client-store.md §4.3).
	Pending []byte
}

func prekeyAD(kind uint8, id uint32) rowKey {
	return newRowKey("prekeys", "secret").int(uint64(kind)).int(uint64(id))
}

// PutPrekey stores p, replacing a prekey of the same kind and id.
func (tx *sqlTx) PutPrekey(p Prekey) error {
	sealed, err := tx.s.seal(prekeyAD(p.Kind, p.ID), p.Secret)
	if err != nil {
		return err
	}
	_, err = tx.exec("put prekey", `INSERT OR REPLACE INTO prekeys (kind, id, secret, created, used, pending) VALUES (?, ?, ?, ?, ?, ?)`,
		int64(p.Kind), int64(p.ID), sealed, nanos(p.Created), nanos(p.Used), p.Pending)
	return err
}

// Prekey returns the prekey of kind and id, or ErrNotFound.
func (tx *sqlTx) Prekey(kind uint8, id uint32) (Prekey, error) {
	var (
		sealed, pending []byte
		created, used   int64
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT secret, created, used, pending FROM prekeys WHERE kind = ? AND id = ?`,
		int64(kind), int64(id)).Scan(&sealed, &created, &used, &pending)
	if errors.Is(err, sql.ErrNoRows) {
		return Prekey{}, ErrNotFound
	}
	if err != nil {
		return Prekey{}, dbErr("get prekey", err)
	}
	return tx.s.openPrekey(kind, int64(id), sealed, created, used, pending)
}

// prekeyInfo checks a prekeys row's id and returns it without its secret
// (both engines).
func prekeyInfo(kind uint8, id, created, used int64, pending []byte) (Prekey, error) {
	if id < 0 || id > 1<<32-1 {
		return Prekey{}, corrupt("prekeys.id out of range")
	}
	return Prekey{Kind: kind, ID: uint32(id), Created: fromNanos(created), Used: fromNanos(used), Pending: pending}, nil
}

// openPrekey checks a prekeys row's id and opens its secret (both
// engines).
func (s *Store) openPrekey(kind uint8, id int64, sealed []byte, created, used int64, pending []byte) (Prekey, error) {
	p, err := prekeyInfo(kind, id, created, used, pending)
	if err != nil {
		return Prekey{}, err
	}
	if p.Secret, err = s.open(prekeyAD(kind, p.ID), sealed); err != nil {
		return Prekey{}, err
	}
	return p, nil
}

// Prekeys returns the prekeys of kind in id order.
func (tx *sqlTx) Prekeys(kind uint8) ([]Prekey, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id, secret, created, used, pending FROM prekeys WHERE kind = ? ORDER BY id`, int64(kind))
	if err != nil {
		return nil, dbErr("list prekeys", err)
	}
	defer rows.Close()
	var ps []Prekey
	fail := func(err error) ([]Prekey, error) {
		for _, p := range ps {
			clear(p.Secret)
		}
		return nil, err
	}
	for rows.Next() {
		var (
			id, created, used int64
			sealed, pending   []byte
		)
		if err := rows.Scan(&id, &sealed, &created, &used, &pending); err != nil {
			return fail(dbErr("list prekeys", err))
		}
		p, err := tx.s.openPrekey(kind, id, sealed, created, used, pending)
		if err != nil {
			return fail(err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return fail(dbErr("list prekeys", err))
	}
	return ps, nil
}

// CountPrekeys returns how many prekeys of kind are stored.
func (tx *sqlTx) CountPrekeys(kind uint8) (int, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT COUNT(*) FROM prekeys WHERE kind = ?`, int64(kind)).Scan(&n); err != nil {
		return 0, dbErr("count prekeys", err)
	}
	return n, nil
}

// MarkPrekeyUsed records at as the prekey's first use (a later call keeps
// the first time); ErrNotFound if there is no such prekey.
func (tx *sqlTx) MarkPrekeyUsed(kind uint8, id uint32, at time.Time) error {
	return tx.execOne(fmt.Sprintf("mark prekey %d/%d used", kind, id),
		`UPDATE prekeys SET used = CASE WHEN used = 0 THEN ? ELSE used END WHERE kind = ? AND id = ?`, nanos(at), int64(kind), int64(id))
}

// DeletePrekey deletes the prekey (SQLite overwrites the freed space:
// secure_delete); ErrNotFound if there is none.
func (tx *sqlTx) DeletePrekey(kind uint8, id uint32) error {
	return tx.execOne(fmt.Sprintf("delete prekey %d/%d", kind, id),
		`DELETE FROM prekeys WHERE kind = ? AND id = ?`, int64(kind), int64(id))
}

// PrekeyInfos returns the prekeys of kind in id order without their
// secrets (Secret is nil): for decisions on times and publication that
// need no private key on the heap.
func (tx *sqlTx) PrekeyInfos(kind uint8) ([]Prekey, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id, created, used, pending FROM prekeys WHERE kind = ? ORDER BY id`, int64(kind))
	if err != nil {
		return nil, dbErr("list prekeys", err)
	}
	defer rows.Close()
	var ps []Prekey
	for rows.Next() {
		var (
			id, created, used int64
			pending           []byte
		)
		if err := rows.Scan(&id, &created, &used, &pending); err != nil {
			return nil, dbErr("list prekeys", err)
		}
		p, err := prekeyInfo(kind, id, created, used, pending)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list prekeys", err)
	}
	return ps, nil
}

// MarkPrekeyPublished records that the key server acknowledged the
// prekey: its Pending public half is dropped. ErrNotFound if there is no
// such prekey.
func (tx *sqlTx) MarkPrekeyPublished(kind uint8, id uint32) error {
	return tx.execOne(fmt.Sprintf("mark prekey %d/%d published", kind, id),
		`UPDATE prekeys SET pending = NULL WHERE kind = ? AND id = ?`, int64(kind), int64(id))
}
