package localstore

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Contact is what this device knows of another account
// (spec/client-store.md §4.5). Everything but Handle is sealed on disk.
type Contact struct {
	Handle        string
	AccountKey    [32]byte // the account's Ed25519 public key
	Verified      bool     // the user compared safety numbers (MarkVerified)
	KeySetVersion uint64   // the newest key-set version seen
	LogIndex      uint64   // the transparency log index of that key set
	// Pending, with PendingKey, records an account key the log now holds
	// for the handle that the user has not accepted (spec/client.md §6.2).
	Pending    bool
	PendingKey [32]byte
}

// contactRecordSize is the sealed record: account key (32) || verified (1:
// 0 or 1) || key-set version (8, big-endian) || log index (8, big-endian),
// followed, when a key change is pending, by the pending account key (32).
const (
	contactRecordSize        = 32 + 1 + 8 + 8
	contactPendingRecordSize = contactRecordSize + 32
)

func contactAD(handle string) rowKey { return newRowKey("contacts", "record").text(handle) }

// PutContact stores c, replacing the contact with the same handle.
func (tx *sqlTx) PutContact(c Contact) error {
	sealed, err := tx.s.sealContact(c)
	if err != nil {
		return err
	}
	_, err = tx.exec("put contact", `INSERT OR REPLACE INTO contacts (handle, record) VALUES (?, ?)`, c.Handle, sealed)
	return err
}

// sealContact returns c's sealed record (both engines).
func (s *Store) sealContact(c Contact) ([]byte, error) {
	rec := make([]byte, 0, contactPendingRecordSize)
	rec = append(rec, c.AccountKey[:]...)
	if c.Verified {
		rec = append(rec, 1)
	} else {
		rec = append(rec, 0)
	}
	rec = binary.BigEndian.AppendUint64(rec, c.KeySetVersion)
	rec = binary.BigEndian.AppendUint64(rec, c.LogIndex)
	if c.Pending {
		rec = append(rec, c.PendingKey[:]...)
	}
	return s.seal(contactAD(c.Handle), rec)
}

// Contact returns the contact with handle, or ErrNotFound.
func (tx *sqlTx) Contact(handle string) (Contact, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT record FROM contacts WHERE handle = ?`, handle).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, ErrNotFound
	}
	if err != nil {
		return Contact{}, dbErr("get contact", err)
	}
	return tx.s.openContact(handle, sealed)
}

// openContact opens a contact's sealed record (both engines).
func (s *Store) openContact(handle string, sealed []byte) (Contact, error) {
	rec, err := s.open(contactAD(handle), sealed)
	if err != nil {
		return Contact{}, err
	}
	if (len(rec) != contactRecordSize && len(rec) != contactPendingRecordSize) || rec[32] > 1 {
		return Contact{}, corrupt("contact record of %q is malformed", handle)
	}
	c := Contact{Handle: handle, Verified: rec[32] == 1}
	copy(c.AccountKey[:], rec)
	c.KeySetVersion = binary.BigEndian.Uint64(rec[33:])
	c.LogIndex = binary.BigEndian.Uint64(rec[41:])
	if len(rec) == contactPendingRecordSize {
		c.Pending = true
		copy(c.PendingKey[:], rec[contactRecordSize:])
	}
	return c, nil
}

// Contacts returns all contacts in handle order.
func (tx *sqlTx) Contacts() ([]Contact, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT handle, record FROM contacts ORDER BY handle`)
	if err != nil {
		return nil, dbErr("list contacts", err)
	}
	defer rows.Close()
	var cs []Contact
	for rows.Next() {
		var (
			handle string
			sealed []byte
		)
		if err := rows.Scan(&handle, &sealed); err != nil {
			return nil, dbErr("list contacts", err)
		}
		c, err := tx.s.openContact(handle, sealed)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list contacts", err)
	}
	return cs, nil
}

// DeleteContact deletes the contact; ErrNotFound if there is none.
func (tx *sqlTx) DeleteContact(handle string) error {
	return tx.execOne(fmt.Sprintf("delete contact %q", handle), `DELETE FROM contacts WHERE handle = ?`, handle)
}

func checkpointAD() rowKey { return newRowKey("checkpoint", "text").int(1) }

// PutCheckpoint stores the pinned signed checkpoint (its note text),
// replacing the previous one. The caller checks consistency first.
func (tx *sqlTx) PutCheckpoint(text []byte, updated time.Time) error {
	sealed, err := tx.s.seal(checkpointAD(), text)
	if err != nil {
		return err
	}
	_, err = tx.exec("put checkpoint", `INSERT OR REPLACE INTO checkpoint (id, text, updated) VALUES (1, ?, ?)`, sealed, nanos(updated))
	return err
}

// Checkpoint returns the pinned checkpoint text and when it was stored, or
// ErrNotFound.
func (tx *sqlTx) Checkpoint() ([]byte, time.Time, error) {
	var (
		sealed  []byte
		updated int64
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT text, updated FROM checkpoint WHERE id = 1`).Scan(&sealed, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, dbErr("get checkpoint", err)
	}
	text, err := tx.s.open(checkpointAD(), sealed)
	if err != nil {
		return nil, time.Time{}, err
	}
	return text, fromNanos(updated), nil
}

func keySetAD(handle string) rowKey { return newRowKey("keysets", "entry").text(handle) }

// PutKeySet stores the newest verified key set (a transparency log entry)
// of handle, replacing the one stored (spec/client-store.md §4.10).
func (tx *sqlTx) PutKeySet(handle string, entry []byte) error {
	sealed, err := tx.s.seal(keySetAD(handle), entry)
	if err != nil {
		return err
	}
	_, err = tx.exec("put key set", `INSERT OR REPLACE INTO keysets (handle, entry) VALUES (?, ?)`, handle, sealed)
	return err
}

// KeySet returns the stored key set of handle, or ErrNotFound.
func (tx *sqlTx) KeySet(handle string) ([]byte, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT entry FROM keysets WHERE handle = ?`, handle).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get key set", err)
	}
	return tx.s.open(keySetAD(handle), sealed)
}
