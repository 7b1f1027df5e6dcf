package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/syncpb"
	"github.com/sealpost/sealpost/crypto/keys"
)

// The linking snapshot (spec/client.md §17.1, §17.2): what a device gives
// a new device of its account, built from its local store, and applied by
// the new device in the transaction that adopts its identity.

// Bounds of a snapshot (spec/client.md §17.2).
const (
	snapshotVersion = 1
	// MaxSnapshot is the largest snapshot encoding, 64 MiB (the linking
	// channel's bound, spec/linking.md).
	MaxSnapshot = 64 << 20
	// MaxHistoryDays is the most days of history a snapshot carries.
	MaxHistoryDays = 3650

	maxSnapshotDevices    = 1024
	maxSnapshotContacts   = 100_000
	maxSnapshotBlocked    = 100_000
	maxSnapshotTimers     = 100_000
	maxSnapshotHistory    = 200_000
	maxSnapshotRecipients = 1_000_000 // over the whole history
	maxMessageRecipients  = 1024      // of one message
	// snapshotHistoryPage is how many history rows one read takes.
	snapshotHistoryPage = 512
)

// Top-level field numbers of spec/sync.proto LinkSnapshot that repeat,
// and HistoryMessage.recipients: counted before anything is decoded.
const (
	snapFieldDevices    = 5
	snapFieldContacts   = 6
	snapFieldBlocked    = 7
	snapFieldTimers     = 9
	snapFieldHistory    = 11
	histFieldRecipients = 15
)

// snapshotError is a snapshot that breaks spec/client.md §17.2.
func snapshotError(format string, a ...any) error {
	return fmt.Errorf("%w: link snapshot: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// buildLinkSnapshot builds, on this device, the snapshot for newDevice, a
// new device of this account being linked with certificate newCert and
// name newName (spec/client.md §17.1): this device's approvals (itself and
// the new device approved), the devices' names, contacts, blocked
// accounts, the contacts-only setting, conversation timers, the pinned
// checkpoint and, with historyDays > 0, the messages of the last
// historyDays days with their receipt state. Groups are not in it: the new
// device gets them as GroupSnapshot messages once approved (§17.1).
func (c *Client) buildLinkSnapshot(ctx context.Context, historyDays int, newDevice uint32, newCert []byte, newName string) ([]byte, error) {
	id, err := c.registered()
	if err != nil {
		return nil, err
	}
	if historyDays < 0 || historyDays > MaxHistoryDays {
		return nil, fmt.Errorf("client: %d days of history, at most %d", historyDays, MaxHistoryDays)
	}
	if newDevice == 0 || newDevice == uint32(id.device) || len(newCert) == 0 {
		return nil, fmt.Errorf("client: linking device %d: not a new device", newDevice)
	}
	if err := content.CheckDeviceName(newName); err != nil {
		return nil, fmt.Errorf("client: the new device's name: %w", err)
	}
	now := time.Now()
	s := &syncpb.LinkSnapshot{Version: snapshotVersion, Handle: id.handle, Device: newDevice, Created: now.UnixNano()}
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		own, err := tx.OwnDevices()
		if err != nil {
			return err
		}
		infos, err := tx.DeviceInfos()
		if err != nil {
			return err
		}
		self := sha256.Sum256(id.certBytes)
		own[uint32(id.device)] = localstore.OwnDevice{Device: uint32(id.device), State: localstore.OwnApproved, CertHash: self}
		own[newDevice] = localstore.OwnDevice{Device: newDevice, State: localstore.OwnApproved, CertHash: sha256.Sum256(newCert)}
		infos[newDevice] = localstore.DeviceInfo{Device: newDevice, Name: newName, NameChanged: now}
		for _, dev := range slices.Sorted(maps.Keys(own)) {
			d := own[dev]
			sd := &syncpb.OwnDevice{Device: dev, State: syncpb.OwnDevice_STATE_APPROVED, CertHash: d.CertHash[:]}
			if d.State == localstore.OwnRevoked {
				sd.State = syncpb.OwnDevice_STATE_REVOKED
			}
			if in, ok := infos[dev]; ok && in.Name != "" {
				sd.Name, sd.NameChanged = in.Name, in.NameChanged.UnixNano()
			}
			s.Devices = append(s.Devices, sd)
		}
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for _, ct := range cs {
			sc := &syncpb.Contact{Handle: ct.Handle, AccountKey: bytes.Clone(ct.AccountKey[:]), Verified: ct.Verified,
				KeySetVersion: ct.KeySetVersion, LogIndex: ct.LogIndex}
			if ct.Pending {
				sc.PendingKey = bytes.Clone(ct.PendingKey[:])
			}
			s.Contacts = append(s.Contacts, sc)
		}
		if s.Blocked, err = tx.BlockedHandles(); err != nil {
			return err
		}
		a, err := tx.Access()
		if err == nil {
			s.ContactsOnly = a.Contacts
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		timers, err := tx.ConversationTimers()
		if err != nil {
			return err
		}
		for _, t := range timers {
			s.Timers = append(s.Timers, &syncpb.ConversationTimer{Peer: t.Peer, Seconds: uint32(t.Seconds), Changed: t.Changed.UnixNano()})
		}
		cp, _, err := tx.Checkpoint()
		if err == nil {
			s.Checkpoint = cp
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if historyDays == 0 {
			return nil
		}
		since := now.Add(-time.Duration(historyDays) * 24 * time.Hour)
		for seq := int64(0); ; {
			rows, err := tx.HistorySince(since, seq, snapshotHistoryPage)
			if err != nil {
				return err
			}
			for i := range rows {
				seq = rows[i].Seq
				hm, err := snapshotMessage(tx, &rows[i])
				if err != nil {
					return err
				}
				if checkSnapshotMessage(id.handle, hm) != nil || len(s.History) == maxSnapshotHistory {
					// A row the new device would refuse (§17.2) is
					// left out rather than failing the link.
					continue
				}
				s.History = append(s.History, hm)
			}
			if len(rows) < snapshotHistoryPage {
				return nil
			}
		}
	})
	if err != nil {
		return nil, storeError(err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("client: link snapshot: %w", err)
	}
	if len(b) > MaxSnapshot {
		return nil, fmt.Errorf("%w: a link snapshot of %d bytes, at most %d: link with fewer days of history", ErrTooLarge, len(b), MaxSnapshot)
	}
	// What this device sends, the new device must take: a store whose
	// rows break §17.2 fails here, not there.
	if _, err := parseLinkSnapshot(b); err != nil {
		return nil, err
	}
	return b, nil
}

// snapshotMessage turns a history row into a snapshot message, with the
// receipt state of each peer device for a message this account sent.
func snapshotMessage(tx localstore.Tx, r *localstore.HistoryRow) (*syncpb.HistoryMessage, error) {
	hm := &syncpb.HistoryMessage{
		Conversation: r.Conversation, Id: r.ID, Sender: r.Sender, SenderDevice: r.SenderDevice, Outgoing: r.Outgoing,
		Sent: unixNanos(r.Sent), Received: unixNanos(r.Received), Body: r.Body, Reactions: r.Reactions,
		Edited: unixNanos(r.Edited), Deleted: r.Deleted, Timer: uint32(r.Timer), Read: unixNanos(r.Read), Expires: unixNanos(r.Expires),
	}
	if !r.Outgoing {
		return hm, nil
	}
	mds, err := tx.MessageDevices(r.ID)
	if err != nil {
		return nil, err
	}
	for _, md := range mds {
		if md.Recipient == r.Conversation {
			hm.Recipients = append(hm.Recipients, &syncpb.Recipient{Device: md.Device, Delivered: unixNanos(md.Delivered), Read: unixNanos(md.Read)})
		}
	}
	return hm, nil
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// parseLinkSnapshot decodes and checks a snapshot (spec/client.md §17.2).
// Anything it refuses is ErrCorrupt. What it accepts re-encodes to the
// same bytes: the encoding is canonical, without unknown fields.
func parseLinkSnapshot(b []byte) (*syncpb.LinkSnapshot, error) {
	if len(b) > MaxSnapshot {
		return nil, snapshotError("%d bytes, at most %d", len(b), MaxSnapshot)
	}
	// The counts first, so that a small encoding of many empty entries
	// is refused before it is decoded.
	if err := countSnapshot(b); err != nil {
		return nil, err
	}
	s := new(syncpb.LinkSnapshot)
	if err := proto.Unmarshal(b, s); err != nil {
		return nil, snapshotError("%v", err)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(s)
	if err != nil || !bytes.Equal(again, b) {
		return nil, snapshotError("not the canonical encoding (an unknown or repeated field, fields out of order, a default written out)")
	}
	if hasUnknown(s.ProtoReflect()) {
		return nil, snapshotError("a field this version does not define")
	}
	if err := checkSnapshot(s); err != nil {
		return nil, err
	}
	return s, nil
}

// hasUnknown reports whether m or a message in it holds fields that
// spec/sync.proto does not define.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) != 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = hasUnknown(l.Get(i).Message())
			}
		} else {
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// countSnapshot walks the top level of an encoded snapshot and the
// recipients of its history messages and refuses more entries than §17.2
// allows.
func countSnapshot(b []byte) error {
	limits := map[protowire.Number]int{
		snapFieldDevices: maxSnapshotDevices, snapFieldContacts: maxSnapshotContacts, snapFieldBlocked: maxSnapshotBlocked,
		snapFieldTimers: maxSnapshotTimers, snapFieldHistory: maxSnapshotHistory,
	}
	counts := map[protowire.Number]int{}
	recipients := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return snapshotError("bad tag")
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return snapshotError("bad value of field %d", num)
		}
		if max, ok := limits[num]; ok {
			counts[num]++
			if counts[num] > max {
				return snapshotError("more than %d entries of field %d", max, num)
			}
		}
		if num == snapFieldHistory && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[n : n+m])
			k, err := countField(v, histFieldRecipients, maxMessageRecipients)
			if err != nil {
				return err
			}
			if recipients += k; recipients > maxSnapshotRecipients {
				return snapshotError("more than %d recipients in the history", maxSnapshotRecipients)
			}
		}
		b = b[n+m:]
	}
	return nil
}

// countField counts the fields num of an encoded message, at most max.
func countField(b []byte, num protowire.Number, max int) (int, error) {
	k := 0
	for len(b) > 0 {
		f, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, snapshotError("bad tag in a history message")
		}
		m := protowire.ConsumeFieldValue(f, typ, b[n:])
		if m < 0 {
			return 0, snapshotError("bad value in a history message")
		}
		if f == num {
			if k++; k > max {
				return 0, snapshotError("a history message with more than %d recipients", max)
			}
		}
		b = b[n+m:]
	}
	return k, nil
}

// checkSnapshot applies the field rules of spec/client.md §17.2.
func checkSnapshot(s *syncpb.LinkSnapshot) error {
	if s.GetVersion() != snapshotVersion {
		return snapshotError("version %d", s.GetVersion())
	}
	if keys.CheckHandle(s.GetHandle()) != nil {
		return snapshotError("handle %q", s.GetHandle())
	}
	if s.GetDevice() == 0 || s.GetCreated() <= 0 {
		return snapshotError("device %d, created %d", s.GetDevice(), s.GetCreated())
	}
	last, selfApproved := uint32(0), false
	for _, d := range s.GetDevices() {
		if d.GetDevice() <= last {
			return snapshotError("devices out of order or repeated at %d", d.GetDevice())
		}
		last = d.GetDevice()
		if len(d.GetCertHash()) != sha256.Size {
			return snapshotError("device %d: certificate hash of %d bytes", last, len(d.GetCertHash()))
		}
		switch d.GetState() {
		case syncpb.OwnDevice_STATE_APPROVED:
			selfApproved = selfApproved || last == s.GetDevice()
		case syncpb.OwnDevice_STATE_REVOKED:
		default:
			return snapshotError("device %d: state %d", last, d.GetState())
		}
		if d.GetName() == "" {
			if d.GetNameChanged() != 0 {
				return snapshotError("device %d: a name time without a name", last)
			}
		} else if err := content.CheckDeviceName(d.GetName()); err != nil || d.GetNameChanged() <= 0 {
			return snapshotError("device %d: name: %v", last, err)
		}
	}
	if !selfApproved {
		return snapshotError("the new device %d is not approved in it", s.GetDevice())
	}
	prev := ""
	for _, ct := range s.GetContacts() {
		h := ct.GetHandle()
		if keys.CheckHandle(h) != nil || h <= prev || h == s.GetHandle() {
			return snapshotError("contact %q: not a handle, out of order, repeated or this account's", h)
		}
		prev = h
		if len(ct.GetAccountKey()) != 32 || (len(ct.GetPendingKey()) != 0 && len(ct.GetPendingKey()) != 32) {
			return snapshotError("contact %q: an account key of %d bytes, a pending key of %d", h, len(ct.GetAccountKey()), len(ct.GetPendingKey()))
		}
	}
	prev = ""
	for _, h := range s.GetBlocked() {
		if keys.CheckHandle(h) != nil || h <= prev || h == s.GetHandle() {
			return snapshotError("blocked %q: not a handle, out of order, repeated or this account's", h)
		}
		prev = h
	}
	prev = ""
	for _, t := range s.GetTimers() {
		if keys.CheckHandle(t.GetPeer()) != nil || t.GetPeer() <= prev {
			return snapshotError("timer of %q: not a handle, out of order or repeated", t.GetPeer())
		}
		prev = t.GetPeer()
		if sec := t.GetSeconds(); sec != 0 && (sec < content.MinTimerSeconds || sec > content.MaxTimerSeconds) {
			return snapshotError("timer of %q: %d seconds", prev, sec)
		}
		if t.GetChanged() < 0 {
			return snapshotError("timer of %q: time %d", prev, t.GetChanged())
		}
	}
	seen := map[string]bool{}
	for i, hm := range s.GetHistory() {
		if err := checkSnapshotMessage(s.GetHandle(), hm); err != nil {
			return snapshotError("history message %d: %v", i, err)
		}
		k := hm.GetConversation() + "\x00" + string(hm.GetId())
		if seen[k] {
			return snapshotError("history message %d: repeated", i)
		}
		seen[k] = true
	}
	return nil
}

// checkSnapshotMessage checks one history message of a snapshot for
// handle's account.
func checkSnapshotMessage(handle string, hm *syncpb.HistoryMessage) error {
	if keys.CheckHandle(hm.GetConversation()) != nil || keys.CheckHandle(hm.GetSender()) != nil {
		return errors.New("conversation or sender not a handle")
	}
	if len(hm.GetId()) != content.MessageIDSize {
		return fmt.Errorf("id of %d bytes", len(hm.GetId()))
	}
	if hm.GetOutgoing() != (hm.GetSender() == handle) {
		return errors.New("outgoing does not match the sender")
	}
	if !hm.GetOutgoing() && hm.GetSender() != hm.GetConversation() {
		return errors.New("a received message from another account than the conversation's")
	}
	for _, t := range []int64{hm.GetSent(), hm.GetReceived(), hm.GetEdited(), hm.GetRead(), hm.GetExpires()} {
		if t < 0 {
			return errors.New("a negative time")
		}
	}
	if hm.GetTimer() > content.MaxTimerSeconds {
		return fmt.Errorf("timer of %d seconds", hm.GetTimer())
	}
	if hm.GetDeleted() {
		if len(hm.GetBody()) != 0 || len(hm.GetReactions()) != 0 {
			return errors.New("deleted with a body or reactions")
		}
	} else {
		if _, err := historyContent(hm.GetBody()); err != nil {
			return err
		}
	}
	if _, err := decodeReactions(hm.GetReactions()); err != nil {
		return err
	}
	if len(hm.GetRecipients()) > maxMessageRecipients {
		return fmt.Errorf("%d recipients", len(hm.GetRecipients()))
	}
	if !hm.GetOutgoing() && len(hm.GetRecipients()) != 0 {
		return errors.New("receipt state of a received message")
	}
	last := uint32(0)
	for _, r := range hm.GetRecipients() {
		if r.GetDevice() <= last || r.GetDelivered() < 0 || r.GetRead() < 0 {
			return fmt.Errorf("recipient device %d: out of order, repeated or a negative time", r.GetDevice())
		}
		last = r.GetDevice()
	}
	return nil
}

// applyLinkSnapshot applies a snapshot, on the new device, in tx: the
// transaction that adopts the identity of device self/device
// (spec/client.md §17.2). The snapshot is checked whole first: if it is
// refused (ErrCorrupt) or any write fails, the caller's transaction rolls
// back and nothing is stored. A checkpoint is stored only if the store
// holds none (the new device's own lookups may have pinned a newer one).
func applyLinkSnapshot(tx localstore.Tx, snap []byte, self string, device uint32) error {
	s, err := parseLinkSnapshot(snap)
	if err != nil {
		return err
	}
	if s.GetHandle() != self || s.GetDevice() != device {
		return snapshotError("made for %s device %d, not %s device %d", s.GetHandle(), s.GetDevice(), self, device)
	}
	for _, d := range s.GetDevices() {
		state := localstore.OwnApproved
		if d.GetState() == syncpb.OwnDevice_STATE_REVOKED {
			state = localstore.OwnRevoked
		}
		if err := tx.PutOwnDeviceHash(d.GetDevice(), state, [32]byte(d.GetCertHash())); err != nil {
			return err
		}
		if d.GetName() != "" {
			if _, err := tx.SetDeviceName(d.GetDevice(), d.GetName(), fromUnixNanos(d.GetNameChanged())); err != nil {
				return err
			}
		}
	}
	for _, ct := range s.GetContacts() {
		c := localstore.Contact{Handle: ct.GetHandle(), AccountKey: [32]byte(ct.GetAccountKey()), Verified: ct.GetVerified(),
			KeySetVersion: ct.GetKeySetVersion(), LogIndex: ct.GetLogIndex()}
		if len(ct.GetPendingKey()) != 0 {
			c.Pending, c.PendingKey = true, [32]byte(ct.GetPendingKey())
		}
		if err := tx.PutContact(c); err != nil {
			return err
		}
	}
	created := fromUnixNanos(s.GetCreated())
	for _, h := range s.GetBlocked() {
		if err := tx.Block(h, created); err != nil {
			return err
		}
	}
	if s.GetContactsOnly() {
		// This device's own access key (spec/client.md §13.6), in the
		// mode the linking device is in; told to the relay on the
		// first connection.
		a, err := tx.Access()
		if errors.Is(err, localstore.ErrNotFound) {
			a = localstore.Access{Key: make([]byte, localstore.AccessKeySize)}
			if _, err := rand.Read(a.Key); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		a.Contacts, a.Registered = true, false
		if err := tx.PutAccess(a); err != nil {
			return err
		}
	}
	for _, t := range s.GetTimers() {
		if err := tx.SetConversationTimer(t.GetPeer(), int64(t.GetSeconds()), fromUnixNanos(t.GetChanged())); err != nil {
			return err
		}
	}
	if len(s.GetCheckpoint()) != 0 {
		if _, _, err := tx.Checkpoint(); errors.Is(err, localstore.ErrNotFound) {
			if err := tx.PutCheckpoint(s.GetCheckpoint(), created); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	for _, hm := range s.GetHistory() {
		row := localstore.HistoryRow{
			Conversation: hm.GetConversation(), ID: hm.GetId(), Sender: hm.GetSender(), SenderDevice: hm.GetSenderDevice(),
			Outgoing: hm.GetOutgoing(), Sent: fromUnixNanos(hm.GetSent()), Received: fromUnixNanos(hm.GetReceived()),
			Edited: fromUnixNanos(hm.GetEdited()), Deleted: hm.GetDeleted(), Timer: int64(hm.GetTimer()),
			Read: fromUnixNanos(hm.GetRead()), Expires: fromUnixNanos(hm.GetExpires()),
		}
		if !hm.GetDeleted() {
			row.Body = hm.GetBody()
		}
		if len(hm.GetReactions()) != 0 {
			row.Reactions = hm.GetReactions()
		}
		if _, err := tx.PutHistory(row); err != nil {
			return err
		}
		for _, r := range hm.GetRecipients() {
			if err := tx.PutMessageDeviceState(localstore.MessageDevice{MessageID: hm.GetId(), Recipient: hm.GetConversation(),
				Device: r.GetDevice(), Delivered: fromUnixNanos(r.GetDelivered()), Read: fromUnixNanos(r.GetRead())}); err != nil {
				return err
			}
		}
	}
	return nil
}
