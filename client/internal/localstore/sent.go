package localstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Sent is the record of a message id this device queued
// (spec/client-store.md §4.13). Digest is sealed on disk; it is nil for a
// message queued before migration 0005.
type Sent struct {
	MessageID []byte
	Digest    []byte
	Created   time.Time
}

func sentAD(messageID []byte) rowKey {
	return newRowKey("sent", "digest").bytes(messageID)
}

// openSent returns the record of messageID from its stored digest (nil:
// NULL, not known) and creation time.
func (s *Store) openSent(messageID, sealed []byte, created int64) (Sent, error) {
	var digest []byte
	if sealed != nil {
		var err error
		if digest, err = s.open(sentAD(messageID), sealed); err != nil {
			return Sent{}, err
		}
	}
	return Sent{MessageID: messageID, Digest: digest, Created: fromNanos(created)}, nil
}

// PutSent records a queued message id; ErrDuplicate if it is recorded
// already.
func (tx *sqlTx) PutSent(s Sent) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(sentAD(s.MessageID), s.Digest)
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO sent (message_id, digest, created) VALUES (?, ?, ?)`,
		nonNil(s.MessageID), sealed, nanos(s.Created))
	if isConstraint(err) {
		return fmt.Errorf("%w: message id already sent", ErrDuplicate)
	}
	if err != nil {
		return dbErr("put sent", err)
	}
	return nil
}

// Sent returns the record of a queued message id, or ErrNotFound.
func (tx *sqlTx) Sent(messageID []byte) (Sent, error) {
	var (
		sealed  []byte
		created int64
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT digest, created FROM sent WHERE message_id = ?`, nonNil(messageID)).Scan(&sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Sent{}, ErrNotFound
	}
	if err != nil {
		return Sent{}, dbErr("get sent", err)
	}
	return tx.s.openSent(messageID, sealed, created)
}

// ForgetSentBefore deletes the records of message ids queued before t
// that are no longer queued, with their refused devices, and returns how
// many records it deleted.
func (tx *sqlTx) ForgetSentBefore(t time.Time) (int64, error) {
	const old = `SELECT message_id FROM sent WHERE created < ?1 AND message_id NOT IN (SELECT message_id FROM outgoing)`
	if _, err := tx.exec("forget sent", `DELETE FROM sent_refused WHERE message_id IN (`+old+`)`, nanos(t)); err != nil {
		return 0, err
	}
	res, err := tx.exec("forget sent", `DELETE FROM sent WHERE message_id IN (`+old+`)`, nanos(t))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr("forget sent", err)
	}
	return n, nil
}

// Refused is a recipient device the relay refused a message for, with the
// relay's status (spec/relay.md §3.3).
type Refused struct {
	Recipient string
	Device    uint32
	Status    int
}

// refused returns a sent_refused row's device and status.
func refused(recipient string, device, status int64) (Refused, error) {
	if device < 0 || device > 1<<32-1 || status < 0 || status > 1<<31-1 {
		return Refused{}, corrupt("sent_refused value out of range")
	}
	return Refused{Recipient: recipient, Device: uint32(device), Status: int(status)}, nil
}

// PutRefused records a device the relay refused messageID for; a second
// record for the same device replaces the first.
func (tx *sqlTx) PutRefused(messageID []byte, r Refused) error {
	_, err := tx.exec("put refused", `INSERT OR REPLACE INTO sent_refused (message_id, recipient, device, status) VALUES (?, ?, ?, ?)`,
		nonNil(messageID), r.Recipient, int64(r.Device), int64(r.Status))
	return err
}

// RefusedFor returns the devices the relay refused messageID for, by
// recipient and device.
func (tx *sqlTx) RefusedFor(messageID []byte) ([]Refused, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT recipient, device, status FROM sent_refused WHERE message_id = ? ORDER BY recipient, device`, nonNil(messageID))
	if err != nil {
		return nil, dbErr("list refused", err)
	}
	defer rows.Close()
	var rs []Refused
	for rows.Next() {
		var (
			recipient      string
			device, status int64
		)
		if err := rows.Scan(&recipient, &device, &status); err != nil {
			return nil, dbErr("list refused", err)
		}
		r, err := refused(recipient, device, status)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list refused", err)
	}
	return rs, nil
}

// Device is one recipient device.
type Device struct {
	Handle string
	Device uint32
}

// outgoingDevice returns the recipient device of an outgoing row.
func outgoingDevice(recipient string, device int64) (Device, error) {
	if device < 0 || device > 1<<32-1 {
		return Device{}, corrupt("outgoing.device out of range")
	}
	return Device{Handle: recipient, Device: uint32(device)}, nil
}

// OutgoingDevices returns the recipient devices with queued envelopes,
// the device whose oldest envelope is oldest first.
func (tx *sqlTx) OutgoingDevices() ([]Device, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT recipient, device FROM outgoing GROUP BY recipient, device ORDER BY MIN(seq)`)
	if err != nil {
		return nil, dbErr("list outgoing devices", err)
	}
	defer rows.Close()
	var ds []Device
	for rows.Next() {
		var (
			recipient string
			device    int64
		)
		if err := rows.Scan(&recipient, &device); err != nil {
			return nil, dbErr("list outgoing devices", err)
		}
		d, err := outgoingDevice(recipient, device)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list outgoing devices", err)
	}
	return ds, nil
}

// OutgoingHead returns the oldest queued envelope for one recipient
// device (the lowest seq), or ErrNotFound.
func (tx *sqlTx) OutgoingHead(recipient string, device uint32) (Outgoing, error) {
	os, err := tx.outgoing(`SELECT seq, message_id, recipient, device, envelope, attempts, created, send_token, token_epoch
		FROM outgoing WHERE recipient = ? AND device = ? ORDER BY seq LIMIT 1`, recipient, int64(device))
	if err != nil {
		return Outgoing{}, err
	}
	if len(os) == 0 {
		return Outgoing{}, ErrNotFound
	}
	return os[0], nil
}

// DropOutgoingHead deletes the oldest queued envelope for one recipient
// device without reading it (a row that does not open); ErrNotFound if
// none is queued.
func (tx *sqlTx) DropOutgoingHead(recipient string, device uint32) error {
	return tx.execOne("drop outgoing head", `DELETE FROM outgoing WHERE seq =
		(SELECT MIN(seq) FROM outgoing WHERE recipient = ? AND device = ?)`, recipient, int64(device))
}
