package localstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrDuplicate is returned when a message id is already queued or stored.
var ErrDuplicate = errors.New("localstore: duplicate")

// MarkProcessed records id (an envelope or message id) as processed at at
// (spec/client-store.md §4.7). It reports false if id was already recorded,
// in which case nothing changes.
func (tx *sqlTx) MarkProcessed(id []byte, at time.Time) (bool, error) {
	res, err := tx.exec("mark processed", `INSERT OR IGNORE INTO processed (id, processed) VALUES (?, ?)`, nonNil(id), nanos(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbErr("mark processed", err)
	}
	return n == 1, nil
}

// IsProcessed reports whether id was recorded by MarkProcessed.
func (tx *sqlTx) IsProcessed(id []byte) (bool, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT COUNT(*) FROM processed WHERE id = ?`, nonNil(id)).Scan(&n); err != nil {
		return false, dbErr("is processed", err)
	}
	return n > 0, nil
}

// ForgetProcessedBefore deletes the processed ids recorded before t and
// returns how many it deleted.
func (tx *sqlTx) ForgetProcessedBefore(t time.Time) (int64, error) {
	res, err := tx.exec("forget processed", `DELETE FROM processed WHERE processed < ?`, nanos(t))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr("forget processed", err)
	}
	return n, nil
}

// Outgoing is one queued envelope for one recipient device
// (spec/client-store.md §4.8). Envelope is sealed on disk.
type Outgoing struct {
	Seq       int64 // queue order, set by EnqueueOutgoing
	MessageID []byte
	Recipient string
	Device    uint32
	Envelope  []byte
	Attempts  int
	Created   time.Time
	// SendToken is the token the envelope is paid with on the anonymous
	// connection, of epoch TokenEpoch; nil until the first anonymous
	// attempt (spec/client.md §13.3). Sealed on disk.
	SendToken  []byte
	TokenEpoch uint64
}

func outgoingAD(messageID []byte, recipient string, device uint32) rowKey {
	return newRowKey("outgoing", "envelope").bytes(messageID).text(recipient).int(uint64(device))
}

// EnqueueOutgoing appends o to the queue and returns its sequence number;
// ErrDuplicate if its message id, recipient and device are already queued.
func (tx *sqlTx) EnqueueOutgoing(o Outgoing) (int64, error) {
	if tx.readOnly {
		return 0, errReadOnly
	}
	sealed, err := tx.s.seal(outgoingAD(o.MessageID, o.Recipient, o.Device), o.Envelope)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = tx.tx.QueryRowContext(tx.ctx, `INSERT INTO outgoing (message_id, recipient, device, envelope, attempts, created)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`,
		nonNil(o.MessageID), o.Recipient, int64(o.Device), sealed, o.Attempts, nanos(o.Created)).Scan(&seq)
	if isConstraint(err) {
		return 0, fmt.Errorf("%w: outgoing message already queued", ErrDuplicate)
	}
	if err != nil {
		return 0, dbErr("enqueue", err)
	}
	return seq, nil
}

// OutgoingQueue returns up to limit queued envelopes, oldest first.
func (tx *sqlTx) OutgoingQueue(limit int) ([]Outgoing, error) {
	return tx.outgoing(`SELECT seq, message_id, recipient, device, envelope, attempts, created, send_token, token_epoch
		FROM outgoing ORDER BY seq LIMIT ?`, limit)
}

// OutgoingAfter returns up to limit queued envelopes with a sequence
// number above seq, oldest first: a way to page through the queue.
func (tx *sqlTx) OutgoingAfter(seq int64, limit int) ([]Outgoing, error) {
	return tx.outgoing(`SELECT seq, message_id, recipient, device, envelope, attempts, created, send_token, token_epoch
		FROM outgoing WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
}

// OutgoingFor returns the queued envelopes of one message, in queue order.
func (tx *sqlTx) OutgoingFor(messageID []byte) ([]Outgoing, error) {
	return tx.outgoing(`SELECT seq, message_id, recipient, device, envelope, attempts, created, send_token, token_epoch
		FROM outgoing WHERE message_id = ? ORDER BY seq`, messageID)
}

func (tx *sqlTx) outgoing(query string, args ...any) ([]Outgoing, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, dbErr("list outgoing", err)
	}
	defer rows.Close()
	var os []Outgoing
	for rows.Next() {
		var (
			o               Outgoing
			device, created int64
			tokenEpoch      int64
			sealed, token   []byte
		)
		if err := rows.Scan(&o.Seq, &o.MessageID, &o.Recipient, &device, &sealed, &o.Attempts, &created, &token, &tokenEpoch); err != nil {
			return nil, dbErr("list outgoing", err)
		}
		if err := tx.s.openOutgoing(&o, device, created, sealed, token, tokenEpoch); err != nil {
			return nil, err
		}
		os = append(os, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list outgoing", err)
	}
	return os, nil
}

// openOutgoing completes o (its Seq, MessageID, Recipient and Attempts
// read) from a row's other columns: the device, the creation time, the
// sealed envelope and the sealed send token (nil: none) of epoch
// tokenEpoch. Both engines read outgoing rows with it.
func (s *Store) openOutgoing(o *Outgoing, device, created int64, sealed, token []byte, tokenEpoch int64) error {
	if device < 0 || device > 1<<32-1 {
		return corrupt("outgoing.device out of range")
	}
	o.Device, o.Created = uint32(device), fromNanos(created)
	var err error
	if o.Envelope, err = s.open(outgoingAD(o.MessageID, o.Recipient, o.Device), sealed); err != nil {
		return err
	}
	if token != nil {
		if tokenEpoch < 0 {
			return corrupt("outgoing.token_epoch out of range")
		}
		o.TokenEpoch = uint64(tokenEpoch)
		if o.SendToken, err = s.open(outgoingTokenAD(o.MessageID, o.Recipient, o.Device, o.TokenEpoch), token); err != nil {
			return err
		}
	}
	return nil
}

// RecordAttempt adds one to the attempts of a queued envelope; ErrNotFound
// if it is not queued.
func (tx *sqlTx) RecordAttempt(messageID []byte, recipient string, device uint32) error {
	return tx.execOne("record attempt", `UPDATE outgoing SET attempts = attempts + 1
		WHERE message_id = ? AND recipient = ? AND device = ?`, nonNil(messageID), recipient, int64(device))
}

// DeleteOutgoing removes a queued envelope (the relay stored it);
// ErrNotFound if it is not queued.
func (tx *sqlTx) DeleteOutgoing(messageID []byte, recipient string, device uint32) error {
	return tx.execOne("delete outgoing", `DELETE FROM outgoing WHERE message_id = ? AND recipient = ? AND device = ?`,
		nonNil(messageID), recipient, int64(device))
}

// InboxMessage is a received message (spec/client-store.md §4.9).
// Plaintext is sealed on disk, bound to the id, sender and time.
type InboxMessage struct {
	Seq          int64 // arrival order, set by PutInbox
	ID           []byte
	Sender       string
	SenderDevice uint32
	Time         time.Time
	Plaintext    []byte
	Delivered    bool // handed to the app
	// KeyChanged marks a message that arrived under an account key of the
	// sender that the user has not accepted; Held one that is not to be
	// offered until the user verifies or accepts that key
	// (spec/client.md §6.2). Both are bound into the plaintext's seal.
	KeyChanged bool
	Held       bool
}

// Inbox flags (spec/client-store.md §4.9).
const (
	inboxKeyChanged = 1
	inboxHeld       = 2
)

func (m *InboxMessage) flags() uint64 {
	var f uint64
	if m.KeyChanged {
		f |= inboxKeyChanged
	}
	if m.Held {
		f |= inboxHeld
	}
	return f
}

func inboxAD(m *InboxMessage) rowKey {
	k := newRowKey("inbox", "plaintext").bytes(m.ID).text(m.Sender).int(uint64(m.SenderDevice)).int(uint64(nanos(m.Time)))
	if f := m.flags(); f != 0 {
		// Rows without flags keep the associated data of schema 1.
		k = k.int(f)
	}
	return k
}

// PutInbox stores a received message and returns its sequence number;
// ErrDuplicate if a message with its id is already stored.
func (tx *sqlTx) PutInbox(m InboxMessage) (int64, error) {
	if tx.readOnly {
		return 0, errReadOnly
	}
	sealed, err := tx.s.seal(inboxAD(&m), m.Plaintext)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = tx.tx.QueryRowContext(tx.ctx, `INSERT INTO inbox (id, sender, sender_device, time, plaintext, delivered, flags)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		nonNil(m.ID), m.Sender, int64(m.SenderDevice), nanos(m.Time), sealed, m.Delivered, int64(m.flags())).Scan(&seq)
	if isConstraint(err) {
		return 0, fmt.Errorf("%w: message already in the inbox", ErrDuplicate)
	}
	if err != nil {
		return 0, dbErr("put inbox", err)
	}
	return seq, nil
}

const inboxColumns = `seq, id, sender, sender_device, time, plaintext, delivered, flags`

func (tx *sqlTx) scanInbox(rows interface{ Scan(...any) error }) (InboxMessage, error) {
	var (
		m            InboxMessage
		device, when int64
		flags        int64
		sealed       []byte
	)
	if err := rows.Scan(&m.Seq, &m.ID, &m.Sender, &device, &when, &sealed, &m.Delivered, &flags); err != nil {
		return InboxMessage{}, err
	}
	if err := tx.s.openInbox(&m, device, when, flags, sealed); err != nil {
		return InboxMessage{}, err
	}
	return m, nil
}

// openInbox completes m (its Seq, ID, Sender and Delivered read) from a
// row's other columns: the sender device, the time, the flags and the
// sealed plaintext. Both engines read inbox rows with it.
func (s *Store) openInbox(m *InboxMessage, device, when, flags int64, sealed []byte) error {
	if flags < 0 || flags > inboxKeyChanged|inboxHeld {
		return corrupt("inbox.flags out of range")
	}
	m.KeyChanged, m.Held = flags&inboxKeyChanged != 0, flags&inboxHeld != 0
	if device < 0 || device > 1<<32-1 {
		return corrupt("inbox.sender_device out of range")
	}
	m.SenderDevice, m.Time = uint32(device), fromNanos(when)
	var err error
	m.Plaintext, err = s.open(inboxAD(m), sealed)
	return err
}

// Inbox returns the stored message with id, or ErrNotFound.
func (tx *sqlTx) Inbox(id []byte) (InboxMessage, error) {
	m, err := tx.scanInbox(tx.tx.QueryRowContext(tx.ctx, `SELECT `+inboxColumns+` FROM inbox WHERE id = ?`, nonNil(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return InboxMessage{}, ErrNotFound
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return InboxMessage{}, dbErr("get inbox", err)
	}
	return m, err
}

// Undelivered returns up to limit messages not yet handed to the app and
// not held, in arrival order.
func (tx *sqlTx) Undelivered(limit int) ([]InboxMessage, error) {
	return tx.inboxList(`SELECT `+inboxColumns+` FROM inbox WHERE delivered = 0 AND flags & 2 = 0 ORDER BY seq LIMIT ?`, limit)
}

// Held returns the held messages from sender, in arrival order.
func (tx *sqlTx) Held(sender string) ([]InboxMessage, error) {
	return tx.inboxList(`SELECT `+inboxColumns+` FROM inbox WHERE sender = ? AND flags & 2 != 0 ORDER BY seq`, sender)
}

// ReleaseHeld clears the held flag of the held messages from sender,
// keeping their place in the inbox and their KeyChanged mark, and returns
// them in arrival order.
func (tx *sqlTx) ReleaseHeld(sender string) ([]InboxMessage, error) {
	if tx.readOnly {
		return nil, errReadOnly
	}
	held, err := tx.Held(sender)
	if err != nil {
		return nil, err
	}
	for i := range held {
		m := &held[i]
		m.Held = false
		sealed, err := tx.s.seal(inboxAD(m), m.Plaintext)
		if err != nil {
			return nil, err
		}
		if err := tx.execOne("release held", `UPDATE inbox SET flags = ?, plaintext = ? WHERE id = ?`, int64(m.flags()), sealed, nonNil(m.ID)); err != nil {
			return nil, err
		}
	}
	return held, nil
}

func (tx *sqlTx) inboxList(query string, args ...any) ([]InboxMessage, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, dbErr("list inbox", err)
	}
	defer rows.Close()
	var ms []InboxMessage
	for rows.Next() {
		m, err := tx.scanInbox(rows)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				err = dbErr("list inbox", err)
			}
			return nil, err
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list inbox", err)
	}
	return ms, nil
}

// MarkDelivered records that the app has the message; ErrNotFound if it
// is not stored.
func (tx *sqlTx) MarkDelivered(id []byte) error {
	return tx.execOne("mark delivered", `UPDATE inbox SET delivered = 1 WHERE id = ?`, nonNil(id))
}

// DeleteInbox deletes a stored message; ErrNotFound if it is not stored.
func (tx *sqlTx) DeleteInbox(id []byte) error {
	return tx.execOne("delete inbox", `DELETE FROM inbox WHERE id = ?`, nonNil(id))
}

// CountUndelivered returns how many messages wait in the inbox, not yet
// handed to the app (acked by it) and not held.
func (tx *sqlTx) CountUndelivered() (int, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM inbox WHERE delivered = 0 AND flags & 2 = 0`).Scan(&n); err != nil {
		return 0, dbErr("count inbox", err)
	}
	return n, nil
}
