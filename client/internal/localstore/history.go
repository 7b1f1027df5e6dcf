package localstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// HistoryRow is one message of a conversation (spec/client-store.md
// §4.15). Body and Reactions are sealed on disk, bound to the
// conversation, the message id and the sender.
type HistoryRow struct {
	Seq          int64 // set by PutHistory
	Conversation string
	ID           []byte
	Sender       string
	SenderDevice uint32
	Outgoing     bool
	Sent         time.Time
	Received     time.Time
	Body         []byte // payload version || body; nil once deleted
	Reactions    []byte // encoded reactions; nil: none
	Edited       time.Time
	Deleted      bool
	Timer        int64 // seconds
	Read         time.Time
	Expires      time.Time
}

func historyAD(column, conversation string, id []byte, sender string) rowKey {
	return newRowKey("history", column).text(conversation).bytes(id).text(sender)
}

// sealOptional seals b, or returns nil for nil.
func (s *Store) sealOptional(ad rowKey, b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	return s.seal(ad, b)
}

// sealHistory seals r's body and reactions; a nil one stays nil (NULL).
func (s *Store) sealHistory(r *HistoryRow) (body, reactions []byte, err error) {
	body, err = s.sealOptional(historyAD("body", r.Conversation, r.ID, r.Sender), r.Body)
	if err != nil {
		return nil, nil, err
	}
	reactions, err = s.sealOptional(historyAD("reactions", r.Conversation, r.ID, r.Sender), r.Reactions)
	if err != nil {
		return nil, nil, err
	}
	return body, reactions, nil
}

// historyStored is the stored form of the history columns that are
// converted when read: the device, the times (Unix nanoseconds) and the
// sealed body and reactions (nil: NULL).
type historyStored struct {
	device, sent, received, edited, read, expires int64
	body, reactions                               []byte
}

// openHistory sets r's converted fields from st; r's conversation, id and
// sender must be set (the seals are bound to them).
func (s *Store) openHistory(r *HistoryRow, st historyStored) error {
	if st.device < 0 || st.device > 1<<32-1 {
		return corrupt("history.sender_device out of range")
	}
	r.SenderDevice = uint32(st.device)
	r.Sent, r.Received, r.Edited, r.Read, r.Expires = fromNanos(st.sent), fromNanos(st.received), fromNanos(st.edited), fromNanos(st.read), fromNanos(st.expires)
	var err error
	if st.body != nil {
		if r.Body, err = s.open(historyAD("body", r.Conversation, r.ID, r.Sender), st.body); err != nil {
			return err
		}
	}
	if st.reactions != nil {
		if r.Reactions, err = s.open(historyAD("reactions", r.Conversation, r.ID, r.Sender), st.reactions); err != nil {
			return err
		}
	}
	return nil
}

// PutHistory stores a message and returns its sequence number;
// ErrDuplicate if the conversation has a message with its id.
func (tx *sqlTx) PutHistory(r HistoryRow) (int64, error) {
	if tx.readOnly {
		return 0, errReadOnly
	}
	body, reactions, err := tx.s.sealHistory(&r)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = tx.tx.QueryRowContext(tx.ctx, `INSERT INTO history (conversation, id, sender, sender_device, outgoing, sent, received,
		body, reactions, edited, deleted, timer, read, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		r.Conversation, nonNil(r.ID), r.Sender, int64(r.SenderDevice), r.Outgoing, nanos(r.Sent), nanos(r.Received),
		body, reactions, nanos(r.Edited), r.Deleted, r.Timer, nanos(r.Read), nanos(r.Expires)).Scan(&seq)
	if isConstraint(err) {
		return 0, fmt.Errorf("%w: the conversation has a message with this id", ErrDuplicate)
	}
	if err != nil {
		return 0, dbErr("put history", err)
	}
	return seq, nil
}

const historyColumns = `seq, conversation, id, sender, sender_device, outgoing, sent, received, body, reactions, edited, deleted, timer, read, expires`

func (tx *sqlTx) scanHistory(rows interface{ Scan(...any) error }) (HistoryRow, error) {
	var (
		r  HistoryRow
		st historyStored
	)
	if err := rows.Scan(&r.Seq, &r.Conversation, &r.ID, &r.Sender, &st.device, &r.Outgoing, &st.sent, &st.received,
		&st.body, &st.reactions, &st.edited, &r.Deleted, &r.Timer, &st.read, &st.expires); err != nil {
		return HistoryRow{}, err
	}
	if err := tx.s.openHistory(&r, st); err != nil {
		return HistoryRow{}, err
	}
	return r, nil
}

// History returns the message of the conversation with id, or ErrNotFound.
func (tx *sqlTx) History(conversation string, id []byte) (HistoryRow, error) {
	r, err := tx.scanHistory(tx.tx.QueryRowContext(tx.ctx, `SELECT `+historyColumns+` FROM history WHERE conversation = ? AND id = ?`,
		conversation, nonNil(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return HistoryRow{}, ErrNotFound
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return HistoryRow{}, dbErr("get history", err)
	}
	return r, err
}

// HistoryByID returns the messages with id in every conversation, by
// conversation.
func (tx *sqlTx) HistoryByID(id []byte) ([]HistoryRow, error) {
	return tx.historyList(`SELECT `+historyColumns+` FROM history WHERE id = ? ORDER BY conversation`, nonNil(id))
}

// HistoryLatest returns up to limit of the newest messages of the
// conversation, oldest first.
func (tx *sqlTx) HistoryLatest(conversation string, limit int) ([]HistoryRow, error) {
	rs, err := tx.historyList(`SELECT `+historyColumns+` FROM history WHERE conversation = ? ORDER BY seq DESC LIMIT ?`, conversation, limit)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs, err
}

// HistoryBefore returns up to limit messages of the conversation stored
// before seq, newest last.
func (tx *sqlTx) HistoryBefore(conversation string, seq int64, limit int) ([]HistoryRow, error) {
	rs, err := tx.historyList(`SELECT `+historyColumns+` FROM history WHERE conversation = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, conversation, seq, limit)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs, err
}

// HistoryExpired returns up to limit messages whose expiry is at or before
// now, soonest first.
func (tx *sqlTx) HistoryExpired(now time.Time, limit int) ([]HistoryRow, error) {
	return tx.historyList(`SELECT `+historyColumns+` FROM history WHERE expires > 0 AND expires <= ? ORDER BY expires LIMIT ?`, nanos(now), limit)
}

// NextExpiry returns the soonest expiry of any message, or the zero time.
func (tx *sqlTx) NextExpiry() (time.Time, error) {
	var n sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT MIN(expires) FROM history WHERE expires > 0`).Scan(&n); err != nil {
		return time.Time{}, dbErr("next expiry", err)
	}
	if !n.Valid {
		return time.Time{}, nil
	}
	return fromNanos(n.Int64), nil
}

func (tx *sqlTx) historyList(query string, args ...any) ([]HistoryRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, dbErr("list history", err)
	}
	defer rows.Close()
	var rs []HistoryRow
	for rows.Next() {
		r, err := tx.scanHistory(rows)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				err = dbErr("list history", err)
			}
			return nil, err
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list history", err)
	}
	return rs, nil
}

// UpdateHistory writes r's body, reactions, edit time, deleted flag,
// read time and expiry over the stored message with r's conversation and
// id; ErrNotFound if there is none.
func (tx *sqlTx) UpdateHistory(r HistoryRow) error {
	if tx.readOnly {
		return errReadOnly
	}
	body, reactions, err := tx.s.sealHistory(&r)
	if err != nil {
		return err
	}
	return tx.execOne("update history", `UPDATE history SET body = ?, reactions = ?, edited = ?, deleted = ?, read = ?, expires = ?
		WHERE conversation = ? AND id = ? AND sender = ?`,
		body, reactions, nanos(r.Edited), r.Deleted, nanos(r.Read), nanos(r.Expires), r.Conversation, nonNil(r.ID), r.Sender)
}

// DeleteHistory deletes a message with its receipt state; ErrNotFound if
// it is not stored.
func (tx *sqlTx) DeleteHistory(conversation string, id []byte) error {
	if err := tx.execOne("delete history", `DELETE FROM history WHERE conversation = ? AND id = ?`, conversation, nonNil(id)); err != nil {
		return err
	}
	_, err := tx.exec("delete history", `DELETE FROM message_devices WHERE message_id = ? AND recipient = ?`, nonNil(id), conversation)
	return err
}

// HeldContent is a reaction, edit or delete waiting for its target
// (spec/client-store.md §4.16). Payload is sealed on disk.
type HeldContent struct {
	Seq          int64
	Conversation string
	Target       []byte
	Sender       string
	SenderDevice uint32
	Received     time.Time
	Payload      []byte
}

func heldAD(h *HeldContent) rowKey {
	return newRowKey("held_content", "payload").text(h.Conversation).bytes(h.Target).text(h.Sender).int(uint64(h.SenderDevice)).int(uint64(nanos(h.Received)))
}

// openHeld sets h's device, time and payload from their stored values;
// h's other fields must be set (the seal is bound to them).
func (s *Store) openHeld(h *HeldContent, device, received int64, sealed []byte) error {
	if device < 0 || device > 1<<32-1 {
		return corrupt("held_content.sender_device out of range")
	}
	h.SenderDevice, h.Received = uint32(device), fromNanos(received)
	var err error
	h.Payload, err = s.open(heldAD(h), sealed)
	return err
}

// PutHeldContent stores h.
func (tx *sqlTx) PutHeldContent(h HeldContent) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(heldAD(&h), h.Payload)
	if err != nil {
		return err
	}
	_, err = tx.exec("put held content", `INSERT INTO held_content (conversation, target, sender, sender_device, received, payload) VALUES (?, ?, ?, ?, ?, ?)`,
		h.Conversation, nonNil(h.Target), h.Sender, int64(h.SenderDevice), nanos(h.Received), sealed)
	return err
}

// TakeHeldContent deletes and returns the held content waiting for target
// in the conversation, in arrival order.
func (tx *sqlTx) TakeHeldContent(conversation string, target []byte) ([]HeldContent, error) {
	hs, err := tx.heldList(`SELECT seq, conversation, target, sender, sender_device, received, payload FROM held_content
		WHERE conversation = ? AND target = ? ORDER BY seq`, conversation, nonNil(target))
	if err != nil || len(hs) == 0 {
		return hs, err
	}
	_, err = tx.exec("take held content", `DELETE FROM held_content WHERE conversation = ? AND target = ?`, conversation, nonNil(target))
	return hs, err
}

// CountHeldContent returns how many items the conversation holds.
func (tx *sqlTx) CountHeldContent(conversation string) (int, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT COUNT(*) FROM held_content WHERE conversation = ?`, conversation).Scan(&n); err != nil {
		return 0, dbErr("count held content", err)
	}
	return n, nil
}

// DropHeldContent deletes and returns the held items of the conversation
// received before t, and then, while more than keep remain, the oldest;
// conversation "" means every conversation (and keep is ignored).
func (tx *sqlTx) DropHeldContent(conversation string, before time.Time, keep int) ([]HeldContent, error) {
	const cols = `SELECT seq, conversation, target, sender, sender_device, received, payload FROM held_content`
	var (
		hs  []HeldContent
		err error
	)
	if conversation == "" {
		hs, err = tx.heldList(cols+` WHERE received < ? ORDER BY seq`, nanos(before))
	} else {
		hs, err = tx.heldList(cols+` WHERE conversation = ?1 AND (received < ?2 OR seq NOT IN
			(SELECT seq FROM held_content WHERE conversation = ?1 ORDER BY seq DESC LIMIT ?3)) ORDER BY seq`, conversation, nanos(before), keep)
	}
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if _, err := tx.exec("drop held content", `DELETE FROM held_content WHERE seq = ?`, h.Seq); err != nil {
			return nil, err
		}
	}
	return hs, nil
}

func (tx *sqlTx) heldList(query string, args ...any) ([]HeldContent, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, dbErr("list held content", err)
	}
	defer rows.Close()
	var hs []HeldContent
	for rows.Next() {
		var (
			h                HeldContent
			device, received int64
			sealed           []byte
		)
		if err := rows.Scan(&h.Seq, &h.Conversation, &h.Target, &h.Sender, &device, &received, &sealed); err != nil {
			return nil, dbErr("list held content", err)
		}
		if err := tx.s.openHeld(&h, device, received, sealed); err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list held content", err)
	}
	return hs, nil
}

// ConversationTimer returns the disappearing-message timer of the
// conversation with peer, in seconds (0 when never set)
// (spec/client-store.md §4.17).
func (tx *sqlTx) ConversationTimer(peer string) (int64, error) {
	var n int64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT timer FROM conversations WHERE peer = ?`, peer).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbErr("get timer", err)
	}
	return n, nil
}

// SetConversationTimer sets the conversation's timer.
func (tx *sqlTx) SetConversationTimer(peer string, seconds int64, at time.Time) error {
	_, err := tx.exec("set timer", `INSERT INTO conversations (peer, timer, changed) VALUES (?, ?, ?)
		ON CONFLICT (peer) DO UPDATE SET timer = excluded.timer, changed = excluded.changed`, peer, seconds, nanos(at))
	return err
}

// MessageDevice is the receipt state of a sent message at one recipient
// device (spec/client-store.md §4.18).
type MessageDevice struct {
	MessageID       []byte
	Recipient       string
	Device          uint32
	Delivered, Read time.Time
}

// messageDevice returns the receipt state of a message_devices row.
func messageDevice(messageID []byte, recipient string, device, delivered, read int64) (MessageDevice, error) {
	if device < 0 || device > 1<<32-1 {
		return MessageDevice{}, corrupt("message_devices.device out of range")
	}
	return MessageDevice{MessageID: messageID, Recipient: recipient, Device: uint32(device), Delivered: fromNanos(delivered), Read: fromNanos(read)}, nil
}

// PutMessageDevice records that a sent message went to a device.
func (tx *sqlTx) PutMessageDevice(messageID []byte, recipient string, device uint32) error {
	_, err := tx.exec("put message device", `INSERT OR IGNORE INTO message_devices (message_id, recipient, device, delivered, read) VALUES (?, ?, ?, 0, 0)`,
		nonNil(messageID), recipient, int64(device))
	return err
}

// MessageDevices returns the receipt state of a sent message, by device.
func (tx *sqlTx) MessageDevices(messageID []byte) ([]MessageDevice, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT recipient, device, delivered, read FROM message_devices WHERE message_id = ? ORDER BY recipient, device`, nonNil(messageID))
	if err != nil {
		return nil, dbErr("list message devices", err)
	}
	defer rows.Close()
	var ms []MessageDevice
	for rows.Next() {
		var (
			recipient              string
			device, delivered, red int64
		)
		if err := rows.Scan(&recipient, &device, &delivered, &red); err != nil {
			return nil, dbErr("list message devices", err)
		}
		m, err := messageDevice(messageID, recipient, device, delivered, red)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list message devices", err)
	}
	return ms, nil
}

// MarkMessageDevice records a receipt: delivered at at, and with read also
// read. It reports whether anything changed (a receipt for a message or
// device never sent to, or one already recorded, changes nothing).
func (tx *sqlTx) MarkMessageDevice(messageID []byte, recipient string, device uint32, read bool, at time.Time) (bool, error) {
	q := `UPDATE message_devices SET delivered = ?1 WHERE message_id = ?2 AND recipient = ?3 AND device = ?4 AND delivered = 0`
	if read {
		q = `UPDATE message_devices SET delivered = CASE delivered WHEN 0 THEN ?1 ELSE delivered END, read = ?1
			WHERE message_id = ?2 AND recipient = ?3 AND device = ?4 AND read = 0`
	}
	res, err := tx.exec("mark message device", q, nanos(at), nonNil(messageID), recipient, int64(device))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbErr("mark message device", err)
	}
	return n > 0, nil
}

// Receipt types of receipts_out (spec/client-store.md §4.19), the values
// of spec/content.proto Receipt.Type.
const (
	ReceiptDelivered = 1
	ReceiptRead      = 2
)

// QueueReceipt records a receipt to send to peer; a repeat changes
// nothing.
func (tx *sqlTx) QueueReceipt(peer string, typ int, messageID []byte, at time.Time) error {
	_, err := tx.exec("queue receipt", `INSERT OR IGNORE INTO receipts_out (peer, type, message_id, created) VALUES (?, ?, ?, ?)`,
		peer, typ, nonNil(messageID), nanos(at))
	return err
}

// PendingReceipts is a batch of receipts of one type to one peer.
type PendingReceipts struct {
	Peer string
	Type int
	IDs  [][]byte
}

// PendingReceiptBatch returns the receipts of the peer and type of the
// oldest queued receipt, up to limit, oldest first; nil when none wait.
func (tx *sqlTx) PendingReceiptBatch(limit int) (*PendingReceipts, error) {
	var p PendingReceipts
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT peer, type FROM receipts_out ORDER BY created LIMIT 1`).Scan(&p.Peer, &p.Type)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("pending receipts", err)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT message_id FROM receipts_out WHERE peer = ? AND type = ? ORDER BY created, message_id LIMIT ?`, p.Peer, p.Type, limit)
	if err != nil {
		return nil, dbErr("pending receipts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr("pending receipts", err)
		}
		p.IDs = append(p.IDs, id)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("pending receipts", err)
	}
	return &p, nil
}

// DeleteReceipts deletes queued receipts (they were sent).
func (tx *sqlTx) DeleteReceipts(peer string, typ int, ids [][]byte) error {
	for _, id := range ids {
		if _, err := tx.exec("delete receipt", `DELETE FROM receipts_out WHERE peer = ? AND type = ? AND message_id = ?`, peer, typ, nonNil(id)); err != nil {
			return err
		}
	}
	return nil
}

// Checkpoint copies the write-ahead log into the database file and
// truncates it, so that deleted rows (overwritten by secure_delete) are
// gone from the log too (spec/client-store.md §5). It runs outside any
// transaction.
func (s *Store) Checkpoint() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.kv != nil {
		return s.kv.checkpoint()
	}
	return s.checkpointSQL()
}
