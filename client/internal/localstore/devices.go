package localstore

import (
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"
)

// DeviceInfo is what this device knows of a device of its own account
// besides its approval (spec/client-store.md §4.33): its name, sealed on
// disk, and when this device last heard from it.
type DeviceInfo struct {
	Device      uint32
	Name        string    // "": none
	NameChanged time.Time // when the name was set, by the naming device's clock
	LastSeen    time.Time // the newest sent time of a message from it
}

func deviceNameAD(device uint32) rowKey {
	return newRowKey("device_info", "name").int(uint64(device))
}

// SetDeviceName records name for device if changed is later than the time
// of the name recorded (of equal times, the greater name wins, so that
// every device ends with the same one). It reports whether anything
// changed; the same name again changes nothing.
func (tx *sqlTx) SetDeviceName(device uint32, name string, changed time.Time) (bool, error) {
	if tx.readOnly {
		return false, errReadOnly
	}
	if name == "" {
		return false, errors.New("localstore: empty device name")
	}
	old, err := tx.deviceInfo(device)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if err == nil && !nameWins(old, name, changed) {
		return false, nil
	}
	sealed, err := tx.s.seal(deviceNameAD(device), []byte(name))
	if err != nil {
		return false, err
	}
	_, err = tx.exec("set device name", `INSERT INTO device_info (device, name, name_changed, last_seen) VALUES (?, ?, ?, 0)
		ON CONFLICT (device) DO UPDATE SET name = excluded.name, name_changed = excluded.name_changed`,
		int64(device), sealed, nanos(changed))
	return err == nil, err
}

// nameWins reports whether name, set at changed, replaces what old
// records (both engines): a later time wins, and of equal times the
// greater name.
func nameWins(old DeviceInfo, name string, changed time.Time) bool {
	if old.Name == "" {
		return true
	}
	t0, t1 := nanos(old.NameChanged), nanos(changed)
	return t1 > t0 || (t1 == t0 && name > old.Name)
}

// SeeDevice records that a message sent at sent came from device: its
// last-seen time becomes sent if that is later.
func (tx *sqlTx) SeeDevice(device uint32, sent time.Time) error {
	if sent.IsZero() {
		return nil
	}
	_, err := tx.exec("see device", `INSERT INTO device_info (device, name, name_changed, last_seen) VALUES (?, NULL, 0, ?)
		ON CONFLICT (device) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)`, int64(device), nanos(sent))
	return err
}

// DeviceInfos returns what is recorded of this account's devices, by id.
func (tx *sqlTx) DeviceInfos() (map[uint32]DeviceInfo, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT device, name, name_changed, last_seen FROM device_info ORDER BY device`)
	if err != nil {
		return nil, dbErr("list device info", err)
	}
	defer rows.Close()
	out := map[uint32]DeviceInfo{}
	for rows.Next() {
		d, err := tx.scanDeviceInfo(rows)
		if err != nil {
			return nil, err
		}
		out[d.Device] = d
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list device info", err)
	}
	return out, nil
}

func (tx *sqlTx) deviceInfo(device uint32) (DeviceInfo, error) {
	d, err := tx.scanDeviceInfo(tx.tx.QueryRowContext(tx.ctx, `SELECT device, name, name_changed, last_seen FROM device_info WHERE device = ?`, int64(device)))
	if errors.Is(err, sql.ErrNoRows) {
		return DeviceInfo{}, ErrNotFound
	}
	return d, err
}

func (tx *sqlTx) scanDeviceInfo(row interface{ Scan(...any) error }) (DeviceInfo, error) {
	var (
		device, changed, seen int64
		sealed                []byte
	)
	if err := row.Scan(&device, &sealed, &changed, &seen); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return DeviceInfo{}, err
		}
		return DeviceInfo{}, dbErr("get device info", err)
	}
	return tx.s.openDeviceInfo(device, sealed, changed, seen)
}

// openDeviceInfo decodes a device_info row, opening its name (both
// engines).
func (s *Store) openDeviceInfo(device int64, sealed []byte, changed, seen int64) (DeviceInfo, error) {
	id, err := deviceColumn(device, "device_info.device")
	if err != nil {
		return DeviceInfo{}, err
	}
	d := DeviceInfo{Device: id, NameChanged: fromNanos(changed), LastSeen: fromNanos(seen)}
	if sealed != nil {
		name, err := s.open(deviceNameAD(d.Device), sealed)
		if err != nil {
			return DeviceInfo{}, err
		}
		d.Name = string(name)
	}
	return d, nil
}

// PutOwnDeviceHash is PutOwnDevice with the certificate's SHA-256 instead
// of the certificate: what a linking snapshot carries (spec/client.md
// §17.1).
func (tx *sqlTx) PutOwnDeviceHash(device uint32, state OwnDeviceState, certHash [32]byte) error {
	sealed, err := tx.s.sealOwnDevice(device, state, certHash)
	if err != nil {
		return err
	}
	_, err = tx.exec("put own device", `INSERT OR REPLACE INTO own_devices (device, record) VALUES (?, ?)`, int64(device), sealed)
	return err
}

// MatchesHash reports whether hash is the certificate hash d was approved
// with.
func (d OwnDevice) MatchesHash(hash [32]byte) bool {
	return subtle.ConstantTimeCompare(hash[:], d.CertHash[:]) == 1
}

// ConversationTimerRow is one conversation's timer setting
// (spec/client-store.md §4.17).
type ConversationTimerRow struct {
	Peer    string
	Seconds int64
	Changed time.Time
}

// ConversationTimers returns every conversation's timer setting, by peer.
func (tx *sqlTx) ConversationTimers() ([]ConversationTimerRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT peer, timer, changed FROM conversations ORDER BY peer`)
	if err != nil {
		return nil, dbErr("list timers", err)
	}
	defer rows.Close()
	var out []ConversationTimerRow
	for rows.Next() {
		var (
			r       ConversationTimerRow
			changed int64
		)
		if err := rows.Scan(&r.Peer, &r.Seconds, &changed); err != nil {
			return nil, dbErr("list timers", err)
		}
		r.Changed = fromNanos(changed)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list timers", err)
	}
	return out, nil
}

// HistorySince returns up to limit messages, of every conversation, sent
// at or after since and stored after seq, in storage order: a way to page
// through the recent history (spec/client.md §17.1).
func (tx *sqlTx) HistorySince(since time.Time, seq int64, limit int) ([]HistoryRow, error) {
	return tx.historyList(`SELECT `+historyColumns+` FROM history WHERE sent >= ? AND seq > ? ORDER BY seq LIMIT ?`, nanos(since), seq, limit)
}

// PutMessageDeviceState records the receipt state of a sent message at a
// device as m says, replacing what was recorded.
func (tx *sqlTx) PutMessageDeviceState(m MessageDevice) error {
	_, err := tx.exec("put message device", `INSERT OR REPLACE INTO message_devices (message_id, recipient, device, delivered, read) VALUES (?, ?, ?, ?, ?)`,
		nonNil(m.MessageID), m.Recipient, int64(m.Device), nanos(m.Delivered), nanos(m.Read))
	return err
}
