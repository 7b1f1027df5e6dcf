package localstore

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// The kv engine's processed ids, outgoing queue and inbox (messages.go).

// MarkProcessed implements Tx.
func (tx *kvTx) MarkProcessed(id []byte, at time.Time) (bool, error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	h := tx.t("processed")
	// INSERT OR IGNORE: a recorded id keeps its first time.
	if _, ok := h.get(nonNil(id)); ok {
		return false, nil
	}
	if _, err := h.insert(h.row("id", nonNil(id), "processed", nanos(at))); err != nil {
		return false, fmt.Errorf("localstore: mark processed: %w", err)
	}
	return true, nil
}

// IsProcessed implements Tx.
func (tx *kvTx) IsProcessed(id []byte) (bool, error) {
	_, ok := tx.t("processed").get(nonNil(id))
	return ok, nil
}

// ForgetProcessedBefore implements Tx.
func (tx *kvTx) ForgetProcessedBefore(t time.Time) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	before := nanos(t)
	h := tx.t("processed")
	var (
		n   int64
		err error
	)
	h.scanIndex("processed_time", false, func(r kvRow) bool {
		if r.i("processed") >= before {
			return false
		}
		if _, err = h.delRow(r); err != nil {
			return false
		}
		n++
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("localstore: forget processed: %w", err)
	}
	return n, nil
}

// EnqueueOutgoing implements Tx.
func (tx *kvTx) EnqueueOutgoing(o Outgoing) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	sealed, err := tx.s.seal(outgoingAD(o.MessageID, o.Recipient, o.Device), o.Envelope)
	if err != nil {
		return 0, err
	}
	h := tx.t("outgoing")
	r, err := h.insert(h.row("message_id", nonNil(o.MessageID), "recipient", o.Recipient, "device", o.Device,
		"envelope", sealed, "attempts", o.Attempts, "created", nanos(o.Created)))
	if errors.Is(err, errKVConstraint) {
		return 0, fmt.Errorf("%w: outgoing message already queued", ErrDuplicate)
	}
	if err != nil {
		return 0, fmt.Errorf("localstore: enqueue: %w", err)
	}
	return r.i("seq"), nil
}

// OutgoingQueue implements Tx.
func (tx *kvTx) OutgoingQueue(limit int) ([]Outgoing, error) {
	var (
		os  []Outgoing
		err error
	)
	tx.t("outgoing").scan(false, func(r kvRow) bool {
		return kvCollect(&os, &err, limit, r, tx.outgoingRow)
	})
	return os, err
}

// OutgoingAfter implements Tx.
func (tx *kvTx) OutgoingAfter(seq int64, limit int) ([]Outgoing, error) {
	if seq == math.MaxInt64 {
		return nil, nil
	}
	var (
		os  []Outgoing
		err error
	)
	tx.t("outgoing").scanFrom(func(r kvRow) bool {
		return kvCollect(&os, &err, limit, r, tx.outgoingRow)
	}, seq+1)
	return os, err
}

// OutgoingFor implements Tx.
func (tx *kvTx) OutgoingFor(messageID []byte) ([]Outgoing, error) {
	if messageID == nil {
		// SQLite compares message_id with NULL: no row matches.
		return nil, nil
	}
	var (
		os  []Outgoing
		err error
	)
	tx.t("outgoing").scanIndex("outgoing_message", false, func(r kvRow) bool {
		return kvCollect(&os, &err, -1, r, tx.outgoingRow)
	}, messageID)
	return os, err
}

// kvCollect appends conv(r) to out unless out holds limit items already
// (a negative limit is none, as SQLite's LIMIT); it reports whether a
// scan goes on, stopping with *errp set when conv fails.
func kvCollect[T any](out *[]T, errp *error, limit int, r kvRow, conv func(kvRow) (T, error)) bool {
	if limit >= 0 && len(*out) >= limit {
		return false
	}
	v, err := conv(r)
	if err != nil {
		*out, *errp = nil, err
		return false
	}
	*out = append(*out, v)
	return limit < 0 || len(*out) < limit
}

// outgoingRow reads an outgoing row.
func (tx *kvTx) outgoingRow(r kvRow) (Outgoing, error) {
	o := Outgoing{
		Seq:       r.i("seq"),
		MessageID: r.b("message_id"),
		Recipient: r.s("recipient"),
		Attempts:  int(r.i("attempts")),
	}
	if err := tx.s.openOutgoing(&o, r.i("device"), r.i("created"), r.b("envelope"), r.b("send_token"), r.i("token_epoch")); err != nil {
		return Outgoing{}, err
	}
	return o, nil
}

// queued returns the outgoing row of a message for a recipient device.
func (tx *kvTx) queued(messageID []byte, recipient string, device uint32) (kvRow, bool) {
	return tx.t("outgoing").unique([]string{"message_id", "recipient", "device"}, nonNil(messageID), recipient, device)
}

// RecordAttempt implements Tx.
func (tx *kvTx) RecordAttempt(messageID []byte, recipient string, device uint32) error {
	const op = "record attempt"
	if err := tx.writable(); err != nil {
		return err
	}
	r, ok := tx.queued(messageID, recipient, device)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	r.set("attempts", r.i("attempts")+1)
	if _, err := tx.t("outgoing").update(r); err != nil {
		return fmt.Errorf("localstore: %s: %w", op, err)
	}
	return nil
}

// DeleteOutgoing implements Tx.
func (tx *kvTx) DeleteOutgoing(messageID []byte, recipient string, device uint32) error {
	const op = "delete outgoing"
	if err := tx.writable(); err != nil {
		return err
	}
	r, ok := tx.queued(messageID, recipient, device)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	if _, err := tx.t("outgoing").delRow(r); err != nil {
		return fmt.Errorf("localstore: %s: %w", op, err)
	}
	return nil
}

// PutInbox implements Tx.
func (tx *kvTx) PutInbox(m InboxMessage) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	sealed, err := tx.s.seal(inboxAD(&m), m.Plaintext)
	if err != nil {
		return 0, err
	}
	h := tx.t("inbox")
	r, err := h.insert(h.row("id", nonNil(m.ID), "sender", m.Sender, "sender_device", m.SenderDevice,
		"time", nanos(m.Time), "plaintext", sealed, "delivered", m.Delivered, "flags", m.flags()))
	if errors.Is(err, errKVConstraint) {
		return 0, fmt.Errorf("%w: message already in the inbox", ErrDuplicate)
	}
	if err != nil {
		return 0, fmt.Errorf("localstore: put inbox: %w", err)
	}
	return r.i("seq"), nil
}

// inboxRow reads an inbox row.
func (tx *kvTx) inboxRow(r kvRow) (InboxMessage, error) {
	delivered := r.i("delivered")
	if delivered != 0 && delivered != 1 {
		return InboxMessage{}, corrupt("inbox.delivered out of range")
	}
	m := InboxMessage{Seq: r.i("seq"), ID: r.b("id"), Sender: r.s("sender"), Delivered: delivered == 1}
	if err := tx.s.openInbox(&m, r.i("sender_device"), r.i("time"), r.i("flags"), r.b("plaintext")); err != nil {
		return InboxMessage{}, err
	}
	return m, nil
}

// Inbox implements Tx.
func (tx *kvTx) Inbox(id []byte) (InboxMessage, error) {
	r, ok := tx.t("inbox").unique([]string{"id"}, nonNil(id))
	if !ok {
		return InboxMessage{}, ErrNotFound
	}
	return tx.inboxRow(r)
}

// Undelivered implements Tx.
func (tx *kvTx) Undelivered(limit int) ([]InboxMessage, error) {
	var (
		ms  []InboxMessage
		err error
	)
	tx.t("inbox").scanIndex("inbox_undelivered", false, func(r kvRow) bool {
		if r.i("flags")&inboxHeld != 0 {
			return true
		}
		return kvCollect(&ms, &err, limit, r, tx.inboxRow)
	}, 0)
	return ms, err
}

// Held implements Tx.
func (tx *kvTx) Held(sender string) ([]InboxMessage, error) {
	var (
		ms  []InboxMessage
		err error
	)
	// SQLite has no index on the sender either: the inbox is scanned.
	tx.t("inbox").scan(false, func(r kvRow) bool {
		if r.s("sender") != sender || r.i("flags")&inboxHeld == 0 {
			return true
		}
		return kvCollect(&ms, &err, -1, r, tx.inboxRow)
	})
	return ms, err
}

// ReleaseHeld implements Tx.
func (tx *kvTx) ReleaseHeld(sender string) ([]InboxMessage, error) {
	const op = "release held"
	if err := tx.writable(); err != nil {
		return nil, err
	}
	held, err := tx.Held(sender)
	if err != nil {
		return nil, err
	}
	h := tx.t("inbox")
	for i := range held {
		m := &held[i]
		m.Held = false
		sealed, err := tx.s.seal(inboxAD(m), m.Plaintext)
		if err != nil {
			return nil, err
		}
		r, ok := h.unique([]string{"id"}, nonNil(m.ID))
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, op)
		}
		r.set("flags", m.flags()).set("plaintext", sealed)
		if _, err := h.update(r); err != nil {
			return nil, fmt.Errorf("localstore: %s: %w", op, err)
		}
	}
	return held, nil
}

// MarkDelivered implements Tx.
func (tx *kvTx) MarkDelivered(id []byte) error {
	const op = "mark delivered"
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("inbox")
	r, ok := h.unique([]string{"id"}, nonNil(id))
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	r.set("delivered", 1)
	if _, err := h.update(r); err != nil {
		return fmt.Errorf("localstore: %s: %w", op, err)
	}
	return nil
}

// DeleteInbox implements Tx.
func (tx *kvTx) DeleteInbox(id []byte) error {
	const op = "delete inbox"
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("inbox")
	r, ok := h.unique([]string{"id"}, nonNil(id))
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	if _, err := h.delRow(r); err != nil {
		return fmt.Errorf("localstore: %s: %w", op, err)
	}
	return nil
}

// CountUndelivered implements Tx.
func (tx *kvTx) CountUndelivered() (int, error) {
	n := 0
	tx.t("inbox").scanIndex("inbox_undelivered", false, func(r kvRow) bool {
		if r.i("flags")&inboxHeld == 0 {
			n++
		}
		return true
	}, 0)
	return n, nil
}
