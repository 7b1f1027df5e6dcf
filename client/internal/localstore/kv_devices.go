package localstore

import (
	"errors"
	"math"
	"time"
)

// The kv engine's device names and last-seen times, and the reads and
// writes of a linking snapshot (devices.go).

// SetDeviceName implements Tx.
func (tx *kvTx) SetDeviceName(device uint32, name string, changed time.Time) (bool, error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	if name == "" {
		return false, errors.New("localstore: empty device name")
	}
	h := tx.t("device_info")
	r, exists := h.get(device)
	if exists {
		old, err := tx.deviceInfo(r)
		if err != nil {
			return false, err
		}
		if !nameWins(old, name, changed) {
			return false, nil
		}
	}
	sealed, err := tx.s.seal(deviceNameAD(device), []byte(name))
	if err != nil {
		return false, err
	}
	if !exists {
		r = h.row("device", device, "last_seen", 0)
	}
	r.set("name", sealed).set("name_changed", nanos(changed))
	_, err = h.put(r)
	return err == nil, err
}

// SeeDevice implements Tx.
func (tx *kvTx) SeeDevice(device uint32, sent time.Time) error {
	if sent.IsZero() {
		return nil
	}
	h := tx.t("device_info")
	r, ok := h.get(device)
	if !ok {
		r = h.row("device", device, "name", nil, "name_changed", 0)
	}
	r.set("last_seen", max(r.i("last_seen"), nanos(sent)))
	_, err := h.put(r)
	return err
}

// DeviceInfos implements Tx.
func (tx *kvTx) DeviceInfos() (map[uint32]DeviceInfo, error) {
	out := map[uint32]DeviceInfo{}
	for _, r := range tx.t("device_info").all() {
		d, err := tx.deviceInfo(r)
		if err != nil {
			return nil, err
		}
		out[d.Device] = d
	}
	return out, nil
}

func (tx *kvTx) deviceInfo(r kvRow) (DeviceInfo, error) {
	return tx.s.openDeviceInfo(r.i("device"), r.b("name"), r.i("name_changed"), r.i("last_seen"))
}

// ConversationTimers implements Tx.
func (tx *kvTx) ConversationTimers() ([]ConversationTimerRow, error) {
	var out []ConversationTimerRow
	tx.t("conversations").scan(false, func(r kvRow) bool {
		out = append(out, ConversationTimerRow{Peer: r.s("peer"), Seconds: r.i("timer"), Changed: fromNanos(r.i("changed"))})
		return true
	})
	return out, nil
}

// HistorySince implements Tx: the rows after seq in seq order (SQLite's
// rowid range), those sent before since skipped.
func (tx *kvTx) HistorySince(since time.Time, seq int64, limit int) ([]HistoryRow, error) {
	if seq == math.MaxInt64 || kvLimit(0, limit) {
		return nil, nil
	}
	min := nanos(since)
	var (
		out []HistoryRow
		err error
	)
	tx.t("history").scanFrom(func(row kvRow) bool {
		if row.i("sent") < min {
			return true
		}
		var r HistoryRow
		if r, err = tx.historyRow(row); err != nil {
			return false
		}
		out = append(out, r)
		return !kvLimit(len(out), limit)
	}, seq+1)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutMessageDeviceState implements Tx.
func (tx *kvTx) PutMessageDeviceState(m MessageDevice) error {
	h := tx.t("message_devices")
	_, err := h.put(h.row("message_id", nonNil(m.MessageID), "recipient", m.Recipient, "device", m.Device,
		"delivered", nanos(m.Delivered), "read", nanos(m.Read)))
	return err
}
