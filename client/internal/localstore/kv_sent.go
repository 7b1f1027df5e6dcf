package localstore

import (
	"errors"
	"fmt"
	"time"
)

// The kv engine's sent records, refused devices and the per-device view
// of the outgoing queue (sent.go).

// PutSent implements Tx.
func (tx *kvTx) PutSent(s Sent) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(sentAD(s.MessageID), s.Digest)
	if err != nil {
		return err
	}
	h := tx.t("sent")
	_, err = h.insert(h.row("message_id", nonNil(s.MessageID), "digest", sealed, "created", nanos(s.Created)))
	if errors.Is(err, errKVConstraint) {
		return fmt.Errorf("%w: message id already sent", ErrDuplicate)
	}
	return err
}

// Sent implements Tx.
func (tx *kvTx) Sent(messageID []byte) (Sent, error) {
	r, ok := tx.t("sent").get(nonNil(messageID))
	if !ok {
		return Sent{}, ErrNotFound
	}
	return tx.s.openSent(messageID, r.b("digest"), r.i("created"))
}

// ForgetSentBefore implements Tx.
func (tx *kvTx) ForgetSentBefore(t time.Time) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	before := nanos(t)
	sent, out := tx.t("sent"), tx.t("outgoing")
	var old []kvRow
	sent.scanIndex("sent_created", false, func(r kvRow) bool {
		if r.i("created") >= before {
			return false
		}
		queued := false
		out.scanIndex("outgoing_message", false, func(kvRow) bool { queued = true; return false }, r.b("message_id"))
		if !queued {
			old = append(old, r)
		}
		return true
	})
	refused := tx.t("sent_refused")
	for _, r := range old {
		var err error
		refused.scan(false, func(rr kvRow) bool {
			_, err = refused.delRow(rr)
			return err == nil
		}, r.b("message_id"))
		if err != nil {
			return 0, err
		}
	}
	if err := deleteRows(sent, old); err != nil {
		return 0, err
	}
	return int64(len(old)), nil
}

// PutRefused implements Tx.
func (tx *kvTx) PutRefused(messageID []byte, r Refused) error {
	h := tx.t("sent_refused")
	_, err := h.put(h.row("message_id", nonNil(messageID), "recipient", r.Recipient, "device", r.Device, "status", r.Status))
	return err
}

// RefusedFor implements Tx.
func (tx *kvTx) RefusedFor(messageID []byte) ([]Refused, error) {
	var (
		rs  []Refused
		err error
	)
	tx.t("sent_refused").scan(false, func(row kvRow) bool {
		var r Refused
		r, err = refused(row.s("recipient"), row.i("device"), row.i("status"))
		rs = append(rs, r)
		return err == nil
	}, nonNil(messageID))
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// OutgoingDevices implements Tx. Like SQLite's GROUP BY, it reads the
// whole queue: in seq order, a device's first envelope is its oldest.
func (tx *kvTx) OutgoingDevices() ([]Device, error) {
	var (
		ds   []Device
		err  error
		seen = map[string]bool{}
	)
	tx.t("outgoing").scan(false, func(r kvRow) bool {
		k := kvKey(r.s("recipient"), r.i("device"))
		if seen[k] {
			return true
		}
		seen[k] = true
		var d Device
		d, err = outgoingDevice(r.s("recipient"), r.i("device"))
		ds = append(ds, d)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// outgoingHead returns the oldest outgoing row of a recipient device.
func (tx *kvTx) outgoingHead(recipient string, device uint32) (kvRow, bool) {
	var (
		head kvRow
		ok   bool
	)
	tx.t("outgoing").scanIndex("outgoing_device", false, func(r kvRow) bool {
		head, ok = r, true
		return false
	}, recipient, device)
	return head, ok
}

// OutgoingHead implements Tx.
func (tx *kvTx) OutgoingHead(recipient string, device uint32) (Outgoing, error) {
	r, ok := tx.outgoingHead(recipient, device)
	if !ok {
		return Outgoing{}, ErrNotFound
	}
	return tx.outgoingRow(r)
}

// DropOutgoingHead implements Tx.
func (tx *kvTx) DropOutgoingHead(recipient string, device uint32) error {
	if err := tx.writable(); err != nil {
		return err
	}
	r, ok := tx.outgoingHead(recipient, device)
	if !ok {
		return fmt.Errorf("%w: drop outgoing head", ErrNotFound)
	}
	_, err := tx.t("outgoing").delRow(r)
	return err
}
