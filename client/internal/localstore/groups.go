package localstore

import (
	"database/sql"
	"errors"
	"time"
)

func groupAD(id []byte) rowKey { return newRowKey("groups", "tracker").bytes(id) }

// PutGroup stores the encoded tracker of group id (spec/client-store.md
// §4.25), replacing the one stored.
func (tx *sqlTx) PutGroup(id, tracker []byte, updated time.Time) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(groupAD(id), tracker)
	if err != nil {
		return err
	}
	_, err = tx.exec("put group", `INSERT OR REPLACE INTO groups (id, tracker, updated) VALUES (?, ?, ?)`, nonNil(id), sealed, nanos(updated))
	return err
}

// Group returns the encoded tracker of group id, or ErrNotFound.
func (tx *sqlTx) Group(id []byte) ([]byte, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT tracker FROM groups WHERE id = ?`, nonNil(id)).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get group", err)
	}
	return tx.s.open(groupAD(id), sealed)
}

// GroupSealed returns the stored (sealed) tracker of group id, or
// ErrNotFound: a cache key that costs no decryption. OpenGroup opens it.
func (tx *sqlTx) GroupSealed(id []byte) ([]byte, error) {
	var sealed []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT tracker FROM groups WHERE id = ?`, nonNil(id)).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get group", err)
	}
	return sealed, nil
}

// OpenGroup opens a tracker GroupSealed returned for group id.
func (tx *sqlTx) OpenGroup(id, sealed []byte) ([]byte, error) { return tx.s.open(groupAD(id), sealed) }

// GroupIDs returns the ids of the stored groups, in byte order.
func (tx *sqlTx) GroupIDs() ([][]byte, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id FROM groups ORDER BY id`)
	if err != nil {
		return nil, dbErr("list groups", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr("list groups", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list groups", err)
	}
	return out, nil
}

func groupSendAD(id []byte) rowKey { return newRowKey("group_send", "chain").bytes(id) }

func groupRecvAD(id, chainID []byte, handle string, device uint32) rowKey {
	return newRowKey("group_recv", "chain").bytes(id).bytes(chainID).text(handle).int(uint64(device))
}

// PutGroupSend stores this device's sending chain of group id.
func (tx *sqlTx) PutGroupSend(id, chain []byte, rotate bool) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(groupSendAD(id), chain)
	if err != nil {
		return err
	}
	r := 0
	if rotate {
		r = 1
	}
	_, err = tx.exec("put group send", `INSERT INTO group_send (id, chain, rotate) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET chain = excluded.chain, rotate = excluded.rotate`, nonNil(id), sealed, r)
	return err
}

// StartGroupChain stores a new sending chain of group id, made at started
// and distributed to addrs, replacing the one stored
// (spec/client-store.md §4.26).
func (tx *sqlTx) StartGroupChain(id, chain []byte, addrs [][]byte, started time.Time) error {
	if err := tx.PutGroupSend(id, chain, false); err != nil {
		return err
	}
	if err := tx.SetGroupSentTo(id, addrs); err != nil {
		return err
	}
	_, err := tx.exec("set group chain start", `UPDATE group_send SET started = ? WHERE id = ?`, nanos(started), nonNil(id))
	return err
}

// SetGroupSentTo records the device addresses this device's sending chain
// of group id was distributed to (spec/client-store.md §4.26), replacing
// the record.
func (tx *sqlTx) SetGroupSentTo(id []byte, addrs [][]byte) error {
	if tx.readOnly {
		return errReadOnly
	}
	rs, err := encodeAddresses(addrs)
	if err != nil {
		return err
	}
	return tx.execOne("set group sent_to", `UPDATE group_send SET sent_to = ? WHERE id = ?`, nonNil(rs), nonNil(id))
}

// encodeAddresses lays device addresses out as u8 length ‖ address, each.
func encodeAddresses(addrs [][]byte) ([]byte, error) {
	var rs []byte
	for _, r := range addrs {
		if len(r) > 255 {
			return nil, errors.New("localstore: recipient address too long")
		}
		rs = append(append(rs, byte(len(r))), r...)
	}
	return rs, nil
}

// decodeAddresses undoes encodeAddresses.
func decodeAddresses(rs []byte) ([][]byte, bool) {
	var out [][]byte
	for len(rs) > 0 {
		n := int(rs[0])
		if len(rs) < 1+n {
			return nil, false
		}
		out = append(out, rs[1:1+n])
		rs = rs[1+n:]
	}
	return out, true
}

// GroupSend returns this device's sending chain of group id and whether a
// new one is due, or ErrNotFound.
func (tx *sqlTx) GroupSend(id []byte) (chain []byte, rotate bool, err error) {
	var (
		sealed []byte
		r      int
	)
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT chain, rotate FROM group_send WHERE id = ?`, nonNil(id)).Scan(&sealed, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, ErrNotFound
	}
	if err != nil {
		return nil, false, dbErr("get group send", err)
	}
	chain, err = tx.s.open(groupSendAD(id), sealed)
	return chain, r != 0, err
}

// MarkGroupRotate makes a new sending chain due for group id, if this
// device has one.
func (tx *sqlTx) MarkGroupRotate(id []byte) error {
	_, err := tx.exec("mark group rotate", `UPDATE group_send SET rotate = 1 WHERE id = ?`, nonNil(id))
	return err
}

// GroupRecv is a receiving chain and the device it is bound to.
type GroupRecv struct {
	Handle string
	Device uint32
	Chain  []byte
}

// PutGroupRecv stores a receiving chain of group id, bound to a device.
func (tx *sqlTx) PutGroupRecv(id, chainID []byte, r GroupRecv) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(groupRecvAD(id, chainID, r.Handle, r.Device), r.Chain)
	if err != nil {
		return err
	}
	_, err = tx.exec("put group recv", `INSERT OR REPLACE INTO group_recv (id, chain_id, handle, device, chain) VALUES (?, ?, ?, ?, ?)`,
		nonNil(id), nonNil(chainID), r.Handle, int64(r.Device), sealed)
	return err
}

// GroupRecv returns the receiving chain chainID of group id, or
// ErrNotFound.
func (tx *sqlTx) GroupRecv(id, chainID []byte) (GroupRecv, error) {
	var (
		handle string
		device int64
		sealed []byte
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT handle, device, chain FROM group_recv WHERE id = ? AND chain_id = ?`, nonNil(id), nonNil(chainID)).Scan(&handle, &device, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return GroupRecv{}, ErrNotFound
	}
	if err != nil {
		return GroupRecv{}, dbErr("get group recv", err)
	}
	return tx.s.openGroupRecv(id, chainID, handle, device, sealed)
}

// openGroupRecv checks a group_recv row's device and opens its chain
// (both engines).
func (s *Store) openGroupRecv(id, chainID []byte, handle string, device int64, sealed []byte) (GroupRecv, error) {
	if device < 0 || device > 1<<32-1 {
		return GroupRecv{}, corrupt("group_recv.device out of range")
	}
	r := GroupRecv{Handle: handle, Device: uint32(device)}
	var err error
	if r.Chain, err = s.open(groupRecvAD(id, chainID, r.Handle, r.Device), sealed); err != nil {
		return GroupRecv{}, err
	}
	return r, nil
}

// DeleteGroupRecvOf deletes the receiving chains of group id bound to
// handle's devices (a member removed or left, spec/groups.md §8.3).
func (tx *sqlTx) DeleteGroupRecvOf(id []byte, handle string) error {
	_, err := tx.exec("delete group recv", `DELETE FROM group_recv WHERE id = ? AND handle = ?`, nonNil(id), handle)
	return err
}

// DeleteGroupRecvOfDevice deletes the receiving chains of group id bound
// to one device (revoked, spec/groups.md §8.3).
func (tx *sqlTx) DeleteGroupRecvOfDevice(id []byte, handle string, device uint32) error {
	_, err := tx.exec("delete group recv", `DELETE FROM group_recv WHERE id = ? AND handle = ? AND device = ?`, nonNil(id), handle, int64(device))
	return err
}

// GroupOutgoing is a group message waiting for the relay's answer
// (spec/client-store.md §4.27).
type GroupOutgoing struct {
	MessageID  []byte
	Body       []byte
	Recipients [][]byte
	Created    time.Time
}

func groupOutgoingAD(messageID []byte) rowKey {
	return newRowKey("group_outgoing", "body").bytes(messageID)
}

// PutGroupOutgoing queues a group message.
func (tx *sqlTx) PutGroupOutgoing(o GroupOutgoing) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, rs, err := tx.s.sealGroupOutgoing(o)
	if err != nil {
		return err
	}
	_, err = tx.exec("put group outgoing", `INSERT INTO group_outgoing (message_id, body, recipients, created) VALUES (?, ?, ?, ?)`,
		nonNil(o.MessageID), sealed, nonNil(rs), nanos(o.Created))
	return err
}

// sealGroupOutgoing returns o's sealed body and encoded recipients (both
// engines).
func (s *Store) sealGroupOutgoing(o GroupOutgoing) (sealed, recipients []byte, err error) {
	if sealed, err = s.seal(groupOutgoingAD(o.MessageID), o.Body); err != nil {
		return nil, nil, err
	}
	if recipients, err = encodeAddresses(o.Recipients); err != nil {
		return nil, nil, err
	}
	return sealed, recipients, nil
}

// GroupOutgoingQueue returns the queued group messages, oldest first.
func (tx *sqlTx) GroupOutgoingQueue() ([]GroupOutgoing, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT message_id, body, recipients, created FROM group_outgoing ORDER BY seq`)
	if err != nil {
		return nil, dbErr("list group outgoing", err)
	}
	defer rows.Close()
	var out []GroupOutgoing
	for rows.Next() {
		var (
			messageID, sealed, rs []byte
			created               int64
		)
		if err := rows.Scan(&messageID, &sealed, &rs, &created); err != nil {
			return nil, dbErr("list group outgoing", err)
		}
		o, err := tx.s.openGroupOutgoing(messageID, sealed, rs, created)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list group outgoing", err)
	}
	return out, nil
}

// openGroupOutgoing opens a group_outgoing row (both engines); the
// recipients alias rs.
func (s *Store) openGroupOutgoing(messageID, sealed, rs []byte, created int64) (GroupOutgoing, error) {
	o := GroupOutgoing{MessageID: messageID, Created: fromNanos(created)}
	var err error
	if o.Body, err = s.open(groupOutgoingAD(messageID), sealed); err != nil {
		return GroupOutgoing{}, err
	}
	var ok bool
	if o.Recipients, ok = decodeAddresses(rs); !ok {
		return GroupOutgoing{}, corrupt("group_outgoing.recipients")
	}
	return o, nil
}

// DeleteGroupOutgoing removes an answered group message; ErrNotFound if it
// is not queued.
func (tx *sqlTx) DeleteGroupOutgoing(messageID []byte) error {
	return tx.execOne("delete group outgoing", `DELETE FROM group_outgoing WHERE message_id = ?`, nonNil(messageID))
}

func groupHeldKeyAD(id []byte, handle string, device uint32) rowKey {
	return newRowKey("group_held_keys", "dist").bytes(id).text(handle).int(uint64(device))
}

// maxGroupHeldKeys bounds the held distributions of all groups together;
// past it the oldest are dropped (spec/client-store.md §4.28).
const maxGroupHeldKeys = 4096

// GroupHeldKey is a sender-key distribution held until its sender is a
// member of the group (spec/client-store.md §4.28).
type GroupHeldKey struct {
	Handle       string
	Device       uint32
	Distribution []byte
	Received     time.Time
}

// PutGroupHeldKey holds a distribution of group id, replacing one held
// from the same device, and drops the oldest past maxGroupHeldKeys.
func (tx *sqlTx) PutGroupHeldKey(id []byte, k GroupHeldKey) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(groupHeldKeyAD(id, k.Handle, k.Device), k.Distribution)
	if err != nil {
		return err
	}
	if _, err := tx.exec("put group held key", `INSERT OR REPLACE INTO group_held_keys (id, handle, device, dist, received) VALUES (?, ?, ?, ?, ?)`,
		nonNil(id), k.Handle, int64(k.Device), sealed, nanos(k.Received)); err != nil {
		return err
	}
	_, err = tx.exec("trim group held keys", `DELETE FROM group_held_keys WHERE (id, handle, device) IN
		(SELECT id, handle, device FROM group_held_keys ORDER BY received DESC LIMIT -1 OFFSET ?)`, maxGroupHeldKeys)
	return err
}

// GroupHeldKeys returns the distributions held for group id, oldest first.
func (tx *sqlTx) GroupHeldKeys(id []byte) ([]GroupHeldKey, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT handle, device, dist, received FROM group_held_keys WHERE id = ? ORDER BY received`, nonNil(id))
	if err != nil {
		return nil, dbErr("list group held keys", err)
	}
	defer rows.Close()
	var out []GroupHeldKey
	for rows.Next() {
		var (
			handle           string
			device, received int64
			sealed           []byte
		)
		if err := rows.Scan(&handle, &device, &sealed, &received); err != nil {
			return nil, dbErr("list group held keys", err)
		}
		k, err := tx.s.openGroupHeldKey(id, handle, device, sealed, received)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list group held keys", err)
	}
	return out, nil
}

// openGroupHeldKey checks a group_held_keys row's device and opens its
// distribution (both engines).
func (s *Store) openGroupHeldKey(id []byte, handle string, device int64, sealed []byte, received int64) (GroupHeldKey, error) {
	if device < 0 || device > 1<<32-1 {
		return GroupHeldKey{}, corrupt("group_held_keys.device out of range")
	}
	k := GroupHeldKey{Handle: handle, Device: uint32(device), Received: fromNanos(received)}
	var err error
	if k.Distribution, err = s.open(groupHeldKeyAD(id, k.Handle, k.Device), sealed); err != nil {
		return GroupHeldKey{}, err
	}
	return k, nil
}

// DeleteGroupHeldKey deletes the distribution held from one device for
// group id, if any.
func (tx *sqlTx) DeleteGroupHeldKey(id []byte, handle string, device uint32) error {
	_, err := tx.exec("delete group held key", `DELETE FROM group_held_keys WHERE id = ? AND handle = ? AND device = ?`, nonNil(id), handle, int64(device))
	return err
}

func groupLostAD(id, changeID []byte) rowKey {
	return newRowKey("group_lost", "change").bytes(id).bytes(changeID)
}

// GroupLost is one of this account's changes that lost a race
// (spec/client-store.md §4.29).
type GroupLost struct {
	Group, ChangeID, Change []byte
}

// PutGroupLost stores a lost change of this account until it is rebased.
func (tx *sqlTx) PutGroupLost(l GroupLost) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(groupLostAD(l.Group, l.ChangeID), l.Change)
	if err != nil {
		return err
	}
	_, err = tx.exec("put group lost", `INSERT OR REPLACE INTO group_lost (id, change_id, change) VALUES (?, ?, ?)`, nonNil(l.Group), nonNil(l.ChangeID), sealed)
	return err
}

// GroupLostChanges returns the stored lost changes, by group and change id.
func (tx *sqlTx) GroupLostChanges() ([]GroupLost, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id, change_id, change FROM group_lost ORDER BY id, change_id`)
	if err != nil {
		return nil, dbErr("list group lost", err)
	}
	defer rows.Close()
	var out []GroupLost
	for rows.Next() {
		var (
			l      GroupLost
			sealed []byte
		)
		if err := rows.Scan(&l.Group, &l.ChangeID, &sealed); err != nil {
			return nil, dbErr("list group lost", err)
		}
		if l.Change, err = tx.s.open(groupLostAD(l.Group, l.ChangeID), sealed); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list group lost", err)
	}
	return out, nil
}

// DeleteGroupLost deletes a stored lost change; ErrNotFound if it is not
// stored (another run rebased it).
func (tx *sqlTx) DeleteGroupLost(id, changeID []byte) error {
	return tx.execOne("delete group lost", `DELETE FROM group_lost WHERE id = ? AND change_id = ?`, nonNil(id), nonNil(changeID))
}

// MaxGroupHeldMsgs bounds the group messages held for one group
// (spec/client-store.md §4.30); past it the oldest are dropped.
const MaxGroupHeldMsgs = 256

func groupHeldMsgAD(envID []byte) rowKey { return newRowKey("group_held_msgs", "body").bytes(envID) }

// GroupHeldMsg is a group message held until its chain arrives.
type GroupHeldMsg struct {
	EnvID, Group, ChainID, Body []byte
	Received                    time.Time
}

// PutGroupHeldMsg holds a group message and drops the oldest of its group
// past MaxGroupHeldMsgs; it returns how many it dropped.
func (tx *sqlTx) PutGroupHeldMsg(m GroupHeldMsg) (int, error) {
	if tx.readOnly {
		return 0, errReadOnly
	}
	sealed, err := tx.s.seal(groupHeldMsgAD(m.EnvID), m.Body)
	if err != nil {
		return 0, err
	}
	if _, err := tx.exec("put group held msg", `INSERT OR REPLACE INTO group_held_msgs (env_id, id, chain_id, body, received) VALUES (?, ?, ?, ?, ?)`,
		nonNil(m.EnvID), nonNil(m.Group), nonNil(m.ChainID), sealed, nanos(m.Received)); err != nil {
		return 0, err
	}
	res, err := tx.exec("trim group held msgs", `DELETE FROM group_held_msgs WHERE env_id IN
		(SELECT env_id FROM group_held_msgs WHERE id = ? ORDER BY received DESC, env_id LIMIT -1 OFFSET ?)`, nonNil(m.Group), MaxGroupHeldMsgs)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr("trim group held msgs", err)
	}
	return int(n), nil
}

// GroupHeldMsgs returns the messages held for chain chainID of group id,
// oldest first.
func (tx *sqlTx) GroupHeldMsgs(id, chainID []byte) ([]GroupHeldMsg, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT env_id, body, received FROM group_held_msgs WHERE id = ? AND chain_id = ? ORDER BY received, env_id`, nonNil(id), nonNil(chainID))
	if err != nil {
		return nil, dbErr("list group held msgs", err)
	}
	defer rows.Close()
	var out []GroupHeldMsg
	for rows.Next() {
		var (
			envID, sealed []byte
			received      int64
		)
		if err := rows.Scan(&envID, &sealed, &received); err != nil {
			return nil, dbErr("list group held msgs", err)
		}
		m, err := tx.s.openGroupHeldMsg(id, chainID, envID, sealed, received)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list group held msgs", err)
	}
	return out, nil
}

// openGroupHeldMsg opens a group_held_msgs row of chain chainID of group
// id (both engines).
func (s *Store) openGroupHeldMsg(id, chainID, envID, sealed []byte, received int64) (GroupHeldMsg, error) {
	m := GroupHeldMsg{EnvID: envID, Group: id, ChainID: chainID, Received: fromNanos(received)}
	var err error
	if m.Body, err = s.open(groupHeldMsgAD(envID), sealed); err != nil {
		return GroupHeldMsg{}, err
	}
	return m, nil
}

// DeleteGroupHeldMsg deletes a held group message, if held.
func (tx *sqlTx) DeleteGroupHeldMsg(envID []byte) error {
	_, err := tx.exec("delete group held msg", `DELETE FROM group_held_msgs WHERE env_id = ?`, nonNil(envID))
	return err
}

// GroupSendRow is this device's sending chain of a group with what is
// recorded beside it (spec/client-store.md §4.26).
type GroupSendRow struct {
	Chain  []byte
	Rotate bool     // a new chain is due
	SentTo [][]byte // the device addresses it was distributed to
	// SentToRaw is SentTo's stored encoding (a cache key).
	SentToRaw []byte
	Started   time.Time // when it was made (zero: before this was recorded)
}

// GroupSendRow returns the sending chain row of group id, or ErrNotFound.
func (tx *sqlTx) GroupSendRow(id []byte) (GroupSendRow, error) {
	var (
		sealed, sentTo  []byte
		rotate, started int64
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT chain, rotate, sent_to, started FROM group_send WHERE id = ?`, nonNil(id)).Scan(&sealed, &rotate, &sentTo, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return GroupSendRow{}, ErrNotFound
	}
	if err != nil {
		return GroupSendRow{}, dbErr("get group send", err)
	}
	return tx.s.openGroupSendRow(id, sealed, sentTo, rotate, started)
}

// openGroupSendRow decodes a group_send row and opens its chain (both
// engines); SentTo and SentToRaw alias sentTo.
func (s *Store) openGroupSendRow(id, sealed, sentTo []byte, rotate, started int64) (GroupSendRow, error) {
	var (
		r   GroupSendRow
		ok  bool
		err error
	)
	if r.SentTo, ok = decodeAddresses(sentTo); !ok {
		return GroupSendRow{}, corrupt("group_send.sent_to")
	}
	if started != 0 {
		r.Started = fromNanos(started)
	}
	r.Rotate, r.SentToRaw = rotate != 0, sentTo
	if r.Chain, err = s.open(groupSendAD(id), sealed); err != nil {
		return GroupSendRow{}, err
	}
	return r, nil
}

// AdvanceGroupSend replaces the sending chain of group id by its next
// state, leaving the rest of the row (a new chain made due meanwhile stays
// due); ErrNotFound without one.
func (tx *sqlTx) AdvanceGroupSend(id, chain []byte) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(groupSendAD(id), chain)
	if err != nil {
		return err
	}
	return tx.execOne("advance group send", `UPDATE group_send SET chain = ? WHERE id = ?`, sealed, nonNil(id))
}
