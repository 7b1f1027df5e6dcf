package localstore

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The kv engine's conversation content: history, held content,
// conversation timers, receipt state and receipts to send (history.go).

// kvNullable returns b as a BLOB column value: nil stays NULL (kvRow.set
// stores a nil []byte as an empty BLOB).
func kvNullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// kvLimit reports whether n rows have reached SQLite's LIMIT limit (a
// negative limit is none).
func kvLimit(n, limit int) bool { return limit >= 0 && n >= limit }

// PutHistory implements Tx.
func (tx *kvTx) PutHistory(r HistoryRow) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	body, reactions, err := tx.s.sealHistory(&r)
	if err != nil {
		return 0, err
	}
	h := tx.t("history")
	row, err := h.insert(h.row("conversation", r.Conversation, "id", nonNil(r.ID), "sender", r.Sender,
		"sender_device", r.SenderDevice, "outgoing", r.Outgoing, "sent", nanos(r.Sent), "received", nanos(r.Received),
		"body", kvNullable(body), "reactions", kvNullable(reactions), "edited", nanos(r.Edited), "deleted", r.Deleted,
		"timer", r.Timer, "read", nanos(r.Read), "expires", nanos(r.Expires)))
	if errors.Is(err, errKVConstraint) {
		return 0, fmt.Errorf("%w: the conversation has a message with this id", ErrDuplicate)
	}
	if err != nil {
		return 0, err
	}
	return row.i("seq"), nil
}

// historyRow decodes a history row.
func (tx *kvTx) historyRow(row kvRow) (HistoryRow, error) {
	r := HistoryRow{
		Seq: row.i("seq"), Conversation: row.s("conversation"), ID: row.b("id"), Sender: row.s("sender"),
		Outgoing: row.i("outgoing") != 0, Deleted: row.i("deleted") != 0, Timer: row.i("timer"),
	}
	err := tx.s.openHistory(&r, historyStored{
		device: row.i("sender_device"), sent: row.i("sent"), received: row.i("received"),
		edited: row.i("edited"), read: row.i("read"), expires: row.i("expires"),
		body: row.b("body"), reactions: row.b("reactions"),
	})
	if err != nil {
		return HistoryRow{}, err
	}
	return r, nil
}

// historyRows decodes rows; nil for none.
func (tx *kvTx) historyRows(rows []kvRow) ([]HistoryRow, error) {
	var rs []HistoryRow
	for _, row := range rows {
		r, err := tx.historyRow(row)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// History implements Tx.
func (tx *kvTx) History(conversation string, id []byte) (HistoryRow, error) {
	row, ok := tx.t("history").unique([]string{"conversation", "id"}, conversation, nonNil(id))
	if !ok {
		return HistoryRow{}, ErrNotFound
	}
	return tx.historyRow(row)
}

// HistoryByID implements Tx. Like SQLite, which has no index on id alone,
// it reads the whole table, here without copying the rows it skips.
func (tx *kvTx) HistoryByID(id []byte) ([]HistoryRow, error) {
	h := tx.t("history")
	idCol := h.t.def.colIdx["id"]
	var rows []kvRow
	for _, v := range h.t.rows {
		if b, _ := v[idCol].([]byte); bytes.Equal(b, id) {
			rows = append(rows, h.wrap(v))
		}
	}
	// (conversation, id) is unique: no ties. strings.Compare is SQLite's
	// BINARY order.
	slices.SortFunc(rows, func(a, b kvRow) int { return strings.Compare(a.s("conversation"), b.s("conversation")) })
	return tx.historyRows(rows)
}

// HistoryLatest implements Tx.
func (tx *kvTx) HistoryLatest(conversation string, limit int) ([]HistoryRow, error) {
	return tx.historyBefore(conversation, nil, limit)
}

// HistoryBefore implements Tx.
func (tx *kvTx) HistoryBefore(conversation string, seq int64, limit int) ([]HistoryRow, error) {
	return tx.historyBefore(conversation, &seq, limit)
}

// historyBefore returns up to limit of the newest messages of the
// conversation (with before, only those stored before it), oldest first.
func (tx *kvTx) historyBefore(conversation string, before *int64, limit int) ([]HistoryRow, error) {
	var rows []kvRow
	if !kvLimit(0, limit) {
		tx.t("history").scanIndex("history_conv", true, func(r kvRow) bool {
			if before != nil && r.i("seq") >= *before {
				return true
			}
			rows = append(rows, r)
			return !kvLimit(len(rows), limit)
		}, conversation)
	}
	slices.Reverse(rows)
	return tx.historyRows(rows)
}

// historyExpiring calls fn with each history row with an expiry (expires
// > 0), soonest first (ties in seq order, like SQLite's partial index
// history_expires), until fn returns false. The kv index covers every
// row: the rows without an expiry (expires 0, most of them) are skipped
// by a binary search instead of read. fn must not change the table.
func (tx *kvTx) historyExpiring(fn func(kvRow) bool) {
	h := tx.t("history")
	cols := h.t.def.indexes["history_expires"]
	entries := h.t.idx["history_expires"]
	i, _ := slices.BinarySearch(entries, kvKey(int64(1)))
	for _, e := range entries[i:] {
		if !fn(h.wrap(h.t.rows[h.t.pkOfEntry(cols, e)])) {
			return
		}
	}
}

// HistoryExpired implements Tx.
func (tx *kvTx) HistoryExpired(now time.Time, limit int) ([]HistoryRow, error) {
	var rows []kvRow
	if !kvLimit(0, limit) {
		n := nanos(now)
		tx.historyExpiring(func(r kvRow) bool {
			if r.i("expires") > n {
				return false
			}
			rows = append(rows, r)
			return !kvLimit(len(rows), limit)
		})
	}
	return tx.historyRows(rows)
}

// NextExpiry implements Tx.
func (tx *kvTx) NextExpiry() (time.Time, error) {
	var next int64
	tx.historyExpiring(func(r kvRow) bool {
		next = r.i("expires")
		return false
	})
	return fromNanos(next), nil
}

// UpdateHistory implements Tx.
func (tx *kvTx) UpdateHistory(r HistoryRow) error {
	if err := tx.writable(); err != nil {
		return err
	}
	body, reactions, err := tx.s.sealHistory(&r)
	if err != nil {
		return err
	}
	h := tx.t("history")
	row, ok := h.unique([]string{"conversation", "id"}, r.Conversation, nonNil(r.ID))
	if !ok || row.s("sender") != r.Sender {
		return fmt.Errorf("%w: update history", ErrNotFound)
	}
	row.set("body", kvNullable(body)).set("reactions", kvNullable(reactions)).set("edited", nanos(r.Edited)).
		set("deleted", r.Deleted).set("read", nanos(r.Read)).set("expires", nanos(r.Expires))
	_, err = h.update(row)
	return err
}

// DeleteHistory implements Tx.
func (tx *kvTx) DeleteHistory(conversation string, id []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("history")
	row, ok := h.unique([]string{"conversation", "id"}, conversation, nonNil(id))
	if !ok {
		return fmt.Errorf("%w: delete history", ErrNotFound)
	}
	if _, err := h.delRow(row); err != nil {
		return err
	}
	md := tx.t("message_devices")
	var err error
	md.scan(false, func(r kvRow) bool {
		_, err = md.delRow(r)
		return err == nil
	}, nonNil(id), conversation)
	return err
}

// PutHeldContent implements Tx.
func (tx *kvTx) PutHeldContent(hc HeldContent) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(heldAD(&hc), hc.Payload)
	if err != nil {
		return err
	}
	h := tx.t("held_content")
	_, err = h.insert(h.row("conversation", hc.Conversation, "target", nonNil(hc.Target), "sender", hc.Sender,
		"sender_device", hc.SenderDevice, "received", nanos(hc.Received), "payload", sealed))
	return err
}

// heldRows decodes held_content rows; nil for none.
func (tx *kvTx) heldRows(rows []kvRow) ([]HeldContent, error) {
	var hs []HeldContent
	for _, r := range rows {
		hc := HeldContent{Seq: r.i("seq"), Conversation: r.s("conversation"), Target: r.b("target"), Sender: r.s("sender")}
		if err := tx.s.openHeld(&hc, r.i("sender_device"), r.i("received"), r.b("payload")); err != nil {
			return nil, err
		}
		hs = append(hs, hc)
	}
	return hs, nil
}

// heldOf returns the held rows of the conversation (and target, if given),
// in seq order.
func (tx *kvTx) heldOf(conversation string, target ...any) []kvRow {
	var rows []kvRow
	tx.t("held_content").scanIndex("held_content_target", false, func(r kvRow) bool {
		rows = append(rows, r)
		return true
	}, append([]any{conversation}, target...)...)
	slices.SortFunc(rows, func(a, b kvRow) int { return cmp.Compare(a.i("seq"), b.i("seq")) })
	return rows
}

// deleteRows deletes rows of the table h.
func deleteRows(h kvH, rows []kvRow) error {
	for _, r := range rows {
		if _, err := h.delRow(r); err != nil {
			return err
		}
	}
	return nil
}

// TakeHeldContent implements Tx.
func (tx *kvTx) TakeHeldContent(conversation string, target []byte) ([]HeldContent, error) {
	rows := tx.heldOf(conversation, nonNil(target))
	hs, err := tx.heldRows(rows)
	if err != nil || len(hs) == 0 {
		return hs, err
	}
	return hs, deleteRows(tx.t("held_content"), rows)
}

// CountHeldContent implements Tx.
func (tx *kvTx) CountHeldContent(conversation string) (int, error) {
	n := 0
	tx.t("held_content").scanIndex("held_content_target", false, func(kvRow) bool { n++; return true }, conversation)
	return n, nil
}

// DropHeldContent implements Tx.
func (tx *kvTx) DropHeldContent(conversation string, before time.Time, keep int) ([]HeldContent, error) {
	h := tx.t("held_content")
	t := nanos(before)
	var drop []kvRow
	if conversation == "" {
		h.scan(false, func(r kvRow) bool {
			if r.i("received") < t {
				drop = append(drop, r)
			}
			return true
		})
	} else {
		rows := tx.heldOf(conversation)
		// The newest keep rows are kept unless too old (LIMIT keep: a
		// negative keep keeps every row).
		kept := len(rows)
		if keep >= 0 && keep < kept {
			kept = keep
		}
		for i, r := range rows {
			if r.i("received") < t || i < len(rows)-kept {
				drop = append(drop, r)
			}
		}
	}
	hs, err := tx.heldRows(drop)
	if err != nil {
		return nil, err
	}
	if err := deleteRows(h, drop); err != nil {
		return nil, err
	}
	return hs, nil
}

// ConversationTimer implements Tx.
func (tx *kvTx) ConversationTimer(peer string) (int64, error) {
	r, ok := tx.t("conversations").get(peer)
	if !ok {
		return 0, nil
	}
	return r.i("timer"), nil
}

// SetConversationTimer implements Tx.
func (tx *kvTx) SetConversationTimer(peer string, seconds int64, at time.Time) error {
	h := tx.t("conversations")
	_, err := h.put(h.row("peer", peer, "timer", seconds, "changed", nanos(at)))
	return err
}

// PutMessageDevice implements Tx.
func (tx *kvTx) PutMessageDevice(messageID []byte, recipient string, device uint32) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("message_devices")
	if _, ok := h.get(nonNil(messageID), recipient, device); ok {
		return nil // INSERT OR IGNORE
	}
	_, err := h.insert(h.row("message_id", nonNil(messageID), "recipient", recipient, "device", device))
	return err
}

// MessageDevices implements Tx.
func (tx *kvTx) MessageDevices(messageID []byte) ([]MessageDevice, error) {
	var (
		ms  []MessageDevice
		err error
	)
	tx.t("message_devices").scan(false, func(r kvRow) bool {
		var m MessageDevice
		m, err = messageDevice(messageID, r.s("recipient"), r.i("device"), r.i("delivered"), r.i("read"))
		ms = append(ms, m)
		return err == nil
	}, nonNil(messageID))
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// MarkMessageDevice implements Tx.
func (tx *kvTx) MarkMessageDevice(messageID []byte, recipient string, device uint32, read bool, at time.Time) (bool, error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	h := tx.t("message_devices")
	r, ok := h.get(nonNil(messageID), recipient, device)
	if !ok {
		return false, nil
	}
	n := nanos(at)
	switch {
	case !read && r.i("delivered") == 0:
		r.set("delivered", n)
	case read && r.i("read") == 0:
		if r.i("delivered") == 0 {
			r.set("delivered", n)
		}
		r.set("read", n)
	default:
		return false, nil
	}
	if _, err := h.update(r); err != nil {
		return false, err
	}
	return true, nil
}

// QueueReceipt implements Tx.
func (tx *kvTx) QueueReceipt(peer string, typ int, messageID []byte, at time.Time) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("receipts_out")
	if _, ok := h.get(peer, typ, nonNil(messageID)); ok {
		return nil // INSERT OR IGNORE
	}
	_, err := h.insert(h.row("peer", peer, "type", typ, "message_id", nonNil(messageID), "created", nanos(at)))
	return err
}

// PendingReceiptBatch implements Tx. receipts_out is small (receipts wait
// only until the next send): it is read whole, as SQLite does.
func (tx *kvTx) PendingReceiptBatch(limit int) (*PendingReceipts, error) {
	h := tx.t("receipts_out")
	var (
		oldest kvRow
		found  bool
	)
	// The first row of the oldest created, in primary key order (SQLite's
	// sort keeps the scan order of ties).
	h.scan(false, func(r kvRow) bool {
		if !found || r.i("created") < oldest.i("created") {
			oldest, found = r, true
		}
		return true
	})
	if !found {
		return nil, nil
	}
	p := &PendingReceipts{Peer: oldest.s("peer"), Type: int(oldest.i("type"))}
	var rows []kvRow
	h.scan(false, func(r kvRow) bool { rows = append(rows, r); return true }, p.Peer, p.Type)
	// In primary key order the message ids are sorted: a stable sort by
	// created gives ORDER BY created, message_id.
	slices.SortStableFunc(rows, func(a, b kvRow) int { return cmp.Compare(a.i("created"), b.i("created")) })
	for _, r := range rows {
		if kvLimit(len(p.IDs), limit) {
			break
		}
		p.IDs = append(p.IDs, r.b("message_id"))
	}
	return p, nil
}

// DeleteReceipts implements Tx.
func (tx *kvTx) DeleteReceipts(peer string, typ int, ids [][]byte) error {
	h := tx.t("receipts_out")
	for _, id := range ids {
		if _, err := h.del(peer, typ, nonNil(id)); err != nil {
			return err
		}
	}
	return nil
}
