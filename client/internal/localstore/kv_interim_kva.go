package localstore

// Helpers that the kv engine's trust and history files (branch kv-c:
// kv_trust.go, kv_history.go) define too, here with the same names and
// behaviour so that this branch builds alone. This file is deleted when
// both branches are merged.

// putMeta stores value, sealed under ad, in the meta row name.
func (tx *kvTx) putMeta(name string, ad rowKey, value []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(ad, value)
	if err != nil {
		return err
	}
	h := tx.t("meta")
	_, err = h.put(h.row("name", name, "value", sealed))
	return err
}

// meta returns the value of the meta row name, opened under ad, or
// ErrNotFound.
func (tx *kvTx) meta(name string, ad rowKey) ([]byte, error) {
	r, ok := tx.t("meta").get(name)
	if !ok {
		return nil, ErrNotFound
	}
	return tx.s.open(ad, r.b("value"))
}

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

// historyRow decodes a history row (history.go's scanHistory).
func (tx *kvTx) historyRow(row kvRow) (HistoryRow, error) {
	r := HistoryRow{
		Seq: row.i("seq"), Conversation: row.s("conversation"), ID: row.b("id"), Sender: row.s("sender"),
		Outgoing: row.i("outgoing") != 0, Deleted: row.i("deleted") != 0, Timer: row.i("timer"),
	}
	device := row.i("sender_device")
	if device < 0 || device > 1<<32-1 {
		return HistoryRow{}, corrupt("history.sender_device out of range")
	}
	r.SenderDevice = uint32(device)
	r.Sent, r.Received, r.Edited = fromNanos(row.i("sent")), fromNanos(row.i("received")), fromNanos(row.i("edited"))
	r.Read, r.Expires = fromNanos(row.i("read")), fromNanos(row.i("expires"))
	var err error
	if body := row.b("body"); body != nil {
		if r.Body, err = tx.s.open(historyAD("body", r.Conversation, r.ID, r.Sender), body); err != nil {
			return HistoryRow{}, err
		}
	}
	if reactions := row.b("reactions"); reactions != nil {
		if r.Reactions, err = tx.s.open(historyAD("reactions", r.Conversation, r.ID, r.Sender), reactions); err != nil {
			return HistoryRow{}, err
		}
	}
	return r, nil
}
