package localstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is the ratchet state of the session with one peer device
// (spec/client-store.md §4.4). State is sealed on disk; the caller zeroes
// the copy it gets.
type Session struct {
	PeerHandle string
	PeerDevice uint32
	State      []byte // the encoded ratchet state
	Updated    time.Time
}

func sessionAD(handle string, device uint32) rowKey {
	return newRowKey("sessions", "state").text(handle).int(uint64(device))
}

// sessionDevice checks a stored sessions.peer_device (both engines).
func sessionDevice(d int64) (uint32, error) {
	if d < 0 || d > 1<<32-1 {
		return 0, corrupt("sessions.peer_device out of range")
	}
	return uint32(d), nil
}

// PutSession stores s, replacing the session with the same peer device.
func (tx *sqlTx) PutSession(s Session) error {
	sealed, err := tx.s.seal(sessionAD(s.PeerHandle, s.PeerDevice), s.State)
	if err != nil {
		return err
	}
	// An upsert, not a replace: the row's ephemeral run (§4.4) stays.
	_, err = tx.exec("put session", `INSERT INTO sessions (peer_handle, peer_device, state, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (peer_handle, peer_device) DO UPDATE SET state = excluded.state, updated = excluded.updated`,
		s.PeerHandle, int64(s.PeerDevice), sealed, nanos(s.Updated))
	return err
}

// EphemeralRun returns how many ephemeral messages were encrypted in a row
// on the session with the peer device since its last stored message
// (spec/client.md §12.7); ErrNotFound without a session.
func (tx *sqlTx) EphemeralRun(handle string, device uint32) (int, error) {
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT ephemeral_run FROM sessions WHERE peer_handle = ? AND peer_device = ?`,
		handle, int64(device)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, dbErr("get ephemeral run", err)
	}
	return n, nil
}

// SetEphemeralRun sets the ephemeral run of the session with the peer
// device; ErrNotFound without a session.
func (tx *sqlTx) SetEphemeralRun(handle string, device uint32, n int) error {
	return tx.execOne("set ephemeral run", `UPDATE sessions SET ephemeral_run = ? WHERE peer_handle = ? AND peer_device = ?`,
		n, handle, int64(device))
}

// Session returns the session with the peer device, or ErrNotFound.
func (tx *sqlTx) Session(handle string, device uint32) (Session, error) {
	var (
		sealed  []byte
		updated int64
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT state, updated FROM sessions WHERE peer_handle = ? AND peer_device = ?`,
		handle, int64(device)).Scan(&sealed, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, dbErr("get session", err)
	}
	state, err := tx.s.open(sessionAD(handle, device), sealed)
	if err != nil {
		return Session{}, err
	}
	return Session{PeerHandle: handle, PeerDevice: device, State: state, Updated: fromNanos(updated)}, nil
}

// SessionDevices returns the devices of handle this device has a session
// with, in order.
func (tx *sqlTx) SessionDevices(handle string) ([]uint32, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT peer_device FROM sessions WHERE peer_handle = ? ORDER BY peer_device`, handle)
	if err != nil {
		return nil, dbErr("list sessions", err)
	}
	defer rows.Close()
	var ds []uint32
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return nil, dbErr("list sessions", err)
		}
		dev, err := sessionDevice(d)
		if err != nil {
			return nil, err
		}
		ds = append(ds, dev)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list sessions", err)
	}
	return ds, nil
}

// DeleteSession deletes the session with the peer device; ErrNotFound if
// there is none.
func (tx *sqlTx) DeleteSession(handle string, device uint32) error {
	return tx.execOne(fmt.Sprintf("delete session %q/%d", handle, device),
		`DELETE FROM sessions WHERE peer_handle = ? AND peer_device = ?`, handle, int64(device))
}

// SessionPeer names the peer device of a stored session.
type SessionPeer struct {
	Handle string
	Device uint32
}

// SessionPeers returns every peer device this device has a session with,
// in order, without opening a state.
func (tx *sqlTx) SessionPeers() ([]SessionPeer, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT peer_handle, peer_device FROM sessions ORDER BY peer_handle, peer_device`)
	if err != nil {
		return nil, dbErr("list sessions", err)
	}
	defer rows.Close()
	var ps []SessionPeer
	for rows.Next() {
		var (
			h string
			d int64
		)
		if err := rows.Scan(&h, &d); err != nil {
			return nil, dbErr("list sessions", err)
		}
		dev, err := sessionDevice(d)
		if err != nil {
			return nil, err
		}
		ps = append(ps, SessionPeer{h, dev})
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list sessions", err)
	}
	return ps, nil
}
