package localstore

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"
)

// The kv engine's groups, sender-key chains and what is held or queued for
// them (groups.go).

// blobOut returns a stored BLOB as the SQLite engine's Scan gives it to
// callers: a copy the caller may change, nil for NULL or empty.
func blobOut(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// PutGroup implements Tx.
func (tx *kvTx) PutGroup(id, tracker []byte, updated time.Time) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(groupAD(id), tracker)
	if err != nil {
		return err
	}
	h := tx.t("groups")
	_, err = h.put(h.row("id", nonNil(id), "tracker", sealed, "updated", nanos(updated)))
	return err
}

// Group implements Tx.
func (tx *kvTx) Group(id []byte) ([]byte, error) {
	r, ok := tx.t("groups").get(nonNil(id))
	if !ok {
		return nil, ErrNotFound
	}
	return tx.s.open(groupAD(id), r.b("tracker"))
}

// GroupSealed implements Tx.
func (tx *kvTx) GroupSealed(id []byte) ([]byte, error) {
	r, ok := tx.t("groups").get(nonNil(id))
	if !ok {
		return nil, ErrNotFound
	}
	return blobOut(r.b("tracker")), nil
}

// OpenGroup implements Tx.
func (tx *kvTx) OpenGroup(id, sealed []byte) ([]byte, error) { return tx.s.open(groupAD(id), sealed) }

// GroupIDs implements Tx.
func (tx *kvTx) GroupIDs() ([][]byte, error) {
	var out [][]byte
	tx.t("groups").scan(false, func(r kvRow) bool {
		out = append(out, blobOut(r.b("id")))
		return true
	})
	return out, nil
}

// PutGroupSend implements Tx: a new row starts with no recipients and no
// start time (the columns' defaults); an existing one keeps them.
func (tx *kvTx) PutGroupSend(id, chain []byte, rotate bool) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(groupSendAD(id), chain)
	if err != nil {
		return err
	}
	h := tx.t("group_send")
	r, ok := h.get(nonNil(id))
	if !ok {
		r = h.row("id", nonNil(id), "sent_to", []byte{}, "started", 0)
	}
	_, err = h.put(r.set("chain", sealed).set("rotate", rotate))
	return err
}

// StartGroupChain implements Tx.
func (tx *kvTx) StartGroupChain(id, chain []byte, addrs [][]byte, started time.Time) error {
	if err := tx.PutGroupSend(id, chain, false); err != nil {
		return err
	}
	if err := tx.SetGroupSentTo(id, addrs); err != nil {
		return err
	}
	h := tx.t("group_send")
	r, ok := h.get(nonNil(id))
	if !ok {
		return nil // as an UPDATE of no row
	}
	_, err := h.update(r.set("started", nanos(started)))
	return err
}

// SetGroupSentTo implements Tx.
func (tx *kvTx) SetGroupSentTo(id []byte, addrs [][]byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	rs, err := encodeAddresses(addrs)
	if err != nil {
		return err
	}
	h := tx.t("group_send")
	r, ok := h.get(nonNil(id))
	if !ok {
		return fmt.Errorf("%w: set group sent_to", ErrNotFound)
	}
	_, err = h.update(r.set("sent_to", nonNil(rs)))
	return err
}

// GroupSend implements Tx.
func (tx *kvTx) GroupSend(id []byte) (chain []byte, rotate bool, err error) {
	r, ok := tx.t("group_send").get(nonNil(id))
	if !ok {
		return nil, false, ErrNotFound
	}
	chain, err = tx.s.open(groupSendAD(id), r.b("chain"))
	return chain, r.i("rotate") != 0, err
}

// MarkGroupRotate implements Tx.
func (tx *kvTx) MarkGroupRotate(id []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("group_send")
	r, ok := h.get(nonNil(id))
	if !ok {
		return nil
	}
	_, err := h.update(r.set("rotate", 1))
	return err
}

// PutGroupRecv implements Tx.
func (tx *kvTx) PutGroupRecv(id, chainID []byte, r GroupRecv) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(groupRecvAD(id, chainID, r.Handle, r.Device), r.Chain)
	if err != nil {
		return err
	}
	h := tx.t("group_recv")
	_, err = h.put(h.row("id", nonNil(id), "chain_id", nonNil(chainID), "handle", r.Handle, "device", r.Device, "chain", sealed))
	return err
}

// GroupRecv implements Tx.
func (tx *kvTx) GroupRecv(id, chainID []byte) (GroupRecv, error) {
	r, ok := tx.t("group_recv").get(nonNil(id), nonNil(chainID))
	if !ok {
		return GroupRecv{}, ErrNotFound
	}
	return tx.s.openGroupRecv(id, chainID, r.s("handle"), r.i("device"), r.b("chain"))
}

// DeleteGroupRecvOf implements Tx.
func (tx *kvTx) DeleteGroupRecvOf(id []byte, handle string) error {
	return tx.deleteGroupRecv(id, func(r kvRow) bool { return r.s("handle") == handle })
}

// DeleteGroupRecvOfDevice implements Tx.
func (tx *kvTx) DeleteGroupRecvOfDevice(id []byte, handle string, device uint32) error {
	return tx.deleteGroupRecv(id, func(r kvRow) bool { return r.s("handle") == handle && r.i("device") == int64(device) })
}

// deleteGroupRecv deletes the receiving chains of group id that match.
func (tx *kvTx) deleteGroupRecv(id []byte, match func(kvRow) bool) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("group_recv")
	var err error
	h.scan(false, func(r kvRow) bool {
		if match(r) {
			_, err = h.delRow(r)
		}
		return err == nil
	}, nonNil(id))
	return err
}

// PutGroupOutgoing implements Tx.
func (tx *kvTx) PutGroupOutgoing(o GroupOutgoing) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, rs, err := tx.s.sealGroupOutgoing(o)
	if err != nil {
		return err
	}
	h := tx.t("group_outgoing")
	if _, err := h.insert(h.row("message_id", nonNil(o.MessageID), "body", sealed, "recipients", nonNil(rs), "created", nanos(o.Created))); err != nil {
		return fmt.Errorf("localstore: put group outgoing: %w", err)
	}
	return nil
}

// GroupOutgoingQueue implements Tx.
func (tx *kvTx) GroupOutgoingQueue() ([]GroupOutgoing, error) {
	var (
		out []GroupOutgoing
		err error
	)
	tx.t("group_outgoing").scan(false, func(r kvRow) bool {
		var o GroupOutgoing
		if o, err = tx.s.openGroupOutgoing(blobOut(r.b("message_id")), r.b("body"), blobOut(r.b("recipients")), r.i("created")); err != nil {
			return false
		}
		out = append(out, o)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteGroupOutgoing implements Tx.
func (tx *kvTx) DeleteGroupOutgoing(messageID []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("group_outgoing")
	r, ok := h.unique([]string{"message_id"}, nonNil(messageID))
	if !ok {
		return fmt.Errorf("%w: delete group outgoing", ErrNotFound)
	}
	_, err := h.delRow(r)
	return err
}

// PutGroupHeldKey implements Tx. Past maxGroupHeldKeys, the rows after the
// newest maxGroupHeldKeys go, ties in primary key order (as SQLite's sort
// of the table's scan).
func (tx *kvTx) PutGroupHeldKey(id []byte, k GroupHeldKey) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(groupHeldKeyAD(id, k.Handle, k.Device), k.Distribution)
	if err != nil {
		return err
	}
	h := tx.t("group_held_keys")
	if _, err := h.put(h.row("id", nonNil(id), "handle", k.Handle, "device", k.Device, "dist", sealed, "received", nanos(k.Received))); err != nil {
		return err
	}
	if h.count() <= maxGroupHeldKeys {
		return nil
	}
	rows := h.all()
	slices.SortStableFunc(rows, func(a, b kvRow) int { return cmp.Compare(b.i("received"), a.i("received")) })
	for _, r := range rows[maxGroupHeldKeys:] {
		if _, err := h.delRow(r); err != nil {
			return err
		}
	}
	return nil
}

// GroupHeldKeys implements Tx: ties in received time come in primary key
// order.
func (tx *kvTx) GroupHeldKeys(id []byte) ([]GroupHeldKey, error) {
	var rows []kvRow
	tx.t("group_held_keys").scan(false, func(r kvRow) bool { rows = append(rows, r); return true }, nonNil(id))
	slices.SortStableFunc(rows, func(a, b kvRow) int { return cmp.Compare(a.i("received"), b.i("received")) })
	var out []GroupHeldKey
	for _, r := range rows {
		k, err := tx.s.openGroupHeldKey(id, r.s("handle"), r.i("device"), r.b("dist"), r.i("received"))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// DeleteGroupHeldKey implements Tx.
func (tx *kvTx) DeleteGroupHeldKey(id []byte, handle string, device uint32) error {
	_, err := tx.t("group_held_keys").del(nonNil(id), handle, device)
	return err
}

// PutGroupLost implements Tx.
func (tx *kvTx) PutGroupLost(l GroupLost) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(groupLostAD(l.Group, l.ChangeID), l.Change)
	if err != nil {
		return err
	}
	h := tx.t("group_lost")
	_, err = h.put(h.row("id", nonNil(l.Group), "change_id", nonNil(l.ChangeID), "change", sealed))
	return err
}

// GroupLostChanges implements Tx.
func (tx *kvTx) GroupLostChanges() ([]GroupLost, error) {
	var out []GroupLost
	for _, r := range tx.t("group_lost").all() {
		l := GroupLost{Group: blobOut(r.b("id")), ChangeID: blobOut(r.b("change_id"))}
		var err error
		if l.Change, err = tx.s.open(groupLostAD(l.Group, l.ChangeID), r.b("change")); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// DeleteGroupLost implements Tx.
func (tx *kvTx) DeleteGroupLost(id, changeID []byte) error {
	ok, err := tx.t("group_lost").del(nonNil(id), nonNil(changeID))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: delete group lost", ErrNotFound)
	}
	return nil
}

// PutGroupHeldMsg implements Tx.
func (tx *kvTx) PutGroupHeldMsg(m GroupHeldMsg) (int, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	sealed, err := tx.s.seal(groupHeldMsgAD(m.EnvID), m.Body)
	if err != nil {
		return 0, err
	}
	h := tx.t("group_held_msgs")
	if _, err := h.put(h.row("env_id", nonNil(m.EnvID), "id", nonNil(m.Group), "chain_id", nonNil(m.ChainID), "body", sealed, "received", nanos(m.Received))); err != nil {
		return 0, err
	}
	// Keep the group's newest MaxGroupHeldMsgs by (received DESC, env_id).
	var rows []kvRow
	h.scanIndex("group_held_msgs_chain", false, func(r kvRow) bool { rows = append(rows, r); return true }, nonNil(m.Group))
	if len(rows) <= MaxGroupHeldMsgs {
		return 0, nil
	}
	slices.SortFunc(rows, func(a, b kvRow) int {
		if c := cmp.Compare(b.i("received"), a.i("received")); c != 0 {
			return c
		}
		return bytes.Compare(a.b("env_id"), b.b("env_id"))
	})
	n := 0
	for _, r := range rows[MaxGroupHeldMsgs:] {
		if _, err := h.delRow(r); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// GroupHeldMsgs implements Tx.
func (tx *kvTx) GroupHeldMsgs(id, chainID []byte) ([]GroupHeldMsg, error) {
	var rows []kvRow // in env_id order within (id, chain_id)
	tx.t("group_held_msgs").scanIndex("group_held_msgs_chain", false, func(r kvRow) bool { rows = append(rows, r); return true }, nonNil(id), nonNil(chainID))
	slices.SortStableFunc(rows, func(a, b kvRow) int { return cmp.Compare(a.i("received"), b.i("received")) })
	var out []GroupHeldMsg
	for _, r := range rows {
		m, err := tx.s.openGroupHeldMsg(id, chainID, blobOut(r.b("env_id")), r.b("body"), r.i("received"))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// DeleteGroupHeldMsg implements Tx.
func (tx *kvTx) DeleteGroupHeldMsg(envID []byte) error {
	_, err := tx.t("group_held_msgs").del(nonNil(envID))
	return err
}

// GroupSendRow implements Tx.
func (tx *kvTx) GroupSendRow(id []byte) (GroupSendRow, error) {
	r, ok := tx.t("group_send").get(nonNil(id))
	if !ok {
		return GroupSendRow{}, ErrNotFound
	}
	return tx.s.openGroupSendRow(id, r.b("chain"), blobOut(r.b("sent_to")), r.i("rotate"), r.i("started"))
}

// AdvanceGroupSend implements Tx.
func (tx *kvTx) AdvanceGroupSend(id, chain []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(groupSendAD(id), chain)
	if err != nil {
		return err
	}
	h := tx.t("group_send")
	r, ok := h.get(nonNil(id))
	if !ok {
		return fmt.Errorf("%w: advance group send", ErrNotFound)
	}
	_, err = h.update(r.set("chain", sealed))
	return err
}
