package localstore

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"time"
)

// AccessKeySize is the size of an access key (spec/content.md §4.10).
const AccessKeySize = 32

// Access is this device's access state (spec/client.md §13.6), the sealed
// meta row "access" (spec/client-store.md §4.1).
type Access struct {
	// Contacts: the relay admits anonymous envelopes to this device only
	// with its access key (within the first-contact allowance otherwise).
	Contacts bool
	// Key is the current access key; Previous the one it replaced, valid
	// at the relay until PreviousUntil (zero: not at all).
	Key, Previous []byte
	PreviousUntil time.Time
	// Registered is set once the relay confirmed this state; cleared by
	// every change, so that the next connection tells the relay.
	Registered bool
}

const accessName = "access"

func accessAD() rowKey { return newRowKey("meta", "value").text(accessName) }

// encoding: flags (1: contacts, 2: registered) || key (32) || previous
// (32, zero when none) || previous until (u64 nanoseconds).
func (a *Access) marshal() []byte {
	b := make([]byte, 1, 1+2*AccessKeySize+8)
	if a.Contacts {
		b[0] |= 1
	}
	if a.Registered {
		b[0] |= 2
	}
	b = append(b, a.Key...)
	prev := a.Previous
	if prev == nil {
		prev = make([]byte, AccessKeySize)
	}
	b = append(b, prev...)
	return binary.BigEndian.AppendUint64(b, uint64(nanos(a.PreviousUntil)))
}

// PutAccess stores this device's access state.
func (tx *sqlTx) PutAccess(a Access) error {
	if tx.readOnly {
		return errReadOnly
	}
	return putAccess(tx, a)
}

// metaTable is the meta table of either engine: its rows sealed under
// their row keys (the engines' meta and putMeta: trust.go, kv_trust.go).
type metaTable interface {
	meta(name string, ad rowKey) ([]byte, error)
	putMeta(name string, ad rowKey, value []byte) error
}

// putAccess checks a and stores it in the meta row "access" (both
// engines).
func putAccess(m metaTable, a Access) error {
	if len(a.Key) != AccessKeySize || (a.Previous != nil && len(a.Previous) != AccessKeySize) {
		return errors.New("localstore: access key of the wrong size")
	}
	return m.putMeta(accessName, accessAD(), a.marshal())
}

// Access returns this device's access state, or ErrNotFound.
func (tx *sqlTx) Access() (Access, error) {
	return loadAccess(tx)
}

// loadAccess reads and parses the meta row "access" (both engines).
func loadAccess(m metaTable) (Access, error) {
	b, err := m.meta(accessName, accessAD())
	if err != nil {
		return Access{}, err
	}
	if len(b) != 1+2*AccessKeySize+8 || b[0]&^3 != 0 {
		return Access{}, corrupt("access state")
	}
	a := Access{Contacts: b[0]&1 != 0, Registered: b[0]&2 != 0, Key: b[1 : 1+AccessKeySize]}
	if until := int64(binary.BigEndian.Uint64(b[1+2*AccessKeySize:])); until != 0 {
		a.Previous, a.PreviousUntil = b[1+AccessKeySize:1+2*AccessKeySize], fromNanos(until)
	}
	return a, nil
}

func peerAccessAD(handle string, device uint32) rowKey {
	return newRowKey("peer_access_keys", "key").text(handle).int(uint64(device))
}

// PutPeerAccessKey records the access key a device of another account
// sent, replacing the one recorded.
func (tx *sqlTx) PutPeerAccessKey(handle string, device uint32, key []byte, received time.Time) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.sealPeerAccessKey(handle, device, key)
	if err != nil {
		return err
	}
	_, err = tx.exec("put peer access key", `INSERT OR REPLACE INTO peer_access_keys (handle, device, key, received) VALUES (?, ?, ?, ?)`,
		handle, int64(device), sealed, nanos(received))
	return err
}

// sealPeerAccessKey checks a peer's access key and seals it (both engines).
func (s *Store) sealPeerAccessKey(handle string, device uint32, key []byte) ([]byte, error) {
	if len(key) != AccessKeySize {
		return nil, errors.New("localstore: access key of the wrong size")
	}
	return s.seal(peerAccessAD(handle, device), key)
}

// PeerAccessKey returns the access key recorded for a device of another
// account, or ErrNotFound.
func (tx *sqlTx) PeerAccessKey(handle string, device uint32) ([]byte, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT key FROM peer_access_keys WHERE handle = ? AND device = ?`, handle, int64(device)).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get peer access key", err)
	}
	return tx.s.open(peerAccessAD(handle, device), sealed)
}

// Block records handle as blocked (spec/client.md §13.7); blocking an
// account blocked already keeps the first time.
func (tx *sqlTx) Block(handle string, at time.Time) error {
	if tx.readOnly {
		return errReadOnly
	}
	_, err := tx.exec("block", `INSERT OR IGNORE INTO blocked (handle, blocked) VALUES (?, ?)`, handle, nanos(at))
	return err
}

// Unblock removes handle from the blocked accounts; ErrNotFound if it was
// not blocked.
func (tx *sqlTx) Unblock(handle string) error {
	return tx.execOne("unblock", `DELETE FROM blocked WHERE handle = ?`, handle)
}

// Blocked reports whether handle is blocked.
func (tx *sqlTx) Blocked(handle string) (bool, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT COUNT(*) FROM blocked WHERE handle = ?`, handle).Scan(&n); err != nil {
		return false, dbErr("blocked", err)
	}
	return n > 0, nil
}

// BlockedHandles returns the blocked accounts, in order.
func (tx *sqlTx) BlockedHandles() ([]string, error) {
	return tx.texts("list blocked", `SELECT handle FROM blocked ORDER BY handle`)
}

func sealKeyAD(handle string, device uint32) rowKey {
	return newRowKey("seal_keys", "prekey").text(handle).int(uint64(device))
}

// PutSealKey records the last-resort KEM prekey encoding a device of
// another account has, as fetched at fetched (spec/client-store.md §4.23).
func (tx *sqlTx) PutSealKey(handle string, device uint32, prekey []byte, fetched time.Time) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(sealKeyAD(handle, device), prekey)
	if err != nil {
		return err
	}
	_, err = tx.exec("put seal key", `INSERT OR REPLACE INTO seal_keys (handle, device, prekey, fetched) VALUES (?, ?, ?, ?)`,
		handle, int64(device), sealed, nanos(fetched))
	return err
}

// SealKey returns the recorded prekey encoding of a device and when it was
// fetched, or ErrNotFound.
func (tx *sqlTx) SealKey(handle string, device uint32) ([]byte, time.Time, error) {
	var (
		sealed  []byte
		fetched int64
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT prekey, fetched FROM seal_keys WHERE handle = ? AND device = ?`, handle, int64(device)).Scan(&sealed, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, dbErr("get seal key", err)
	}
	p, err := tx.s.open(sealKeyAD(handle, device), sealed)
	return p, fromNanos(fetched), err
}

// MarkAccessGiven records that this device's access key went to handle
// (spec/client-store.md §4.24).
func (tx *sqlTx) MarkAccessGiven(handle string, at time.Time) error {
	if tx.readOnly {
		return errReadOnly
	}
	_, err := tx.exec("mark access given", `INSERT INTO access_given (handle, given) VALUES (?, ?)
		ON CONFLICT (handle) DO UPDATE SET given = excluded.given`, handle, nanos(at))
	return err
}

// AccessGiven returns the accounts this device's access key went to, in
// order.
func (tx *sqlTx) AccessGiven() ([]string, error) {
	return tx.texts("list access given", `SELECT handle FROM access_given ORDER BY handle`)
}
