package client

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
)

// The history of conversations and the rules of reactions, edits,
// deletions, receipts and timers (spec/client.md §12).

// Bounds of spec/client.md §12.
const (
	// maxHeldPerConversation is how many reactions, edits and deletes
	// waiting for their target a conversation keeps; heldLifetime how
	// long one waits (§12.3).
	maxHeldPerConversation = 1000
	heldLifetime           = 7 * 24 * time.Hour
	// maxReactionsPerSender is how many reactions one account keeps on
	// one message; a further one replaces its oldest (§12.3).
	maxReactionsPerSender = 16
)

// Content refusals of spec/client.md §12, reported by EventContentDropped.
var (
	errTargetDeleted = errors.New("client: the target message was deleted")
	errNotText       = errors.New("client: only a text message can be edited")
	errIDCollision   = errors.New("client: the conversation has another message with this id")
	errHeldTooLong   = errors.New("client: the target message never arrived")
	errNotEphemeral  = errors.New("client: an ephemeral signal carried stored content")
)

// shown reports whether a payload is a message History keeps and the
// application is offered as one: version 1, and texts, timers,
// application-defined and unknown kinds (§12.6).
func shown(p *payload) bool {
	if p.content == nil {
		return true
	}
	switch p.content.Kind() {
	case content.KindText, content.KindApp, content.KindUnknown, content.KindTimer, content.KindAttachment:
		return true
	}
	return false
}

// conversationOf names the conversation of a payload from sender: the
// peer account (spec/client.md §12.1).
func conversationOf(p *payload, self, sender string) string {
	if sender == self {
		return p.to
	}
	return sender
}

// historyBody is what a history row keeps: version || body.
func historyBody(version byte, body []byte) []byte {
	return append([]byte{version}, body...)
}

// recordSent stores a message this device sends in the history, with a
// receipt record for each peer device (§12.2, §12.6), in the queueing
// transaction.
func (c *Client) recordSent(tx localstore.Tx, id *identity, msgID MessageID, to string, m *outMessage, now time.Time, ts []target) error {
	timer, err := tx.ConversationTimer(to)
	if err != nil {
		return err
	}
	if m.kind == content.KindTimer {
		timer = 0 // the timer's own system event stays
	}
	row := localstore.HistoryRow{
		Conversation: to, ID: msgID[:], Sender: id.handle, SenderDevice: uint32(id.device), Outgoing: true,
		Sent: now, Received: now, Read: now, Body: historyBody(m.version, m.body), Timer: timer,
	}
	if timer > 0 {
		row.Expires = now.Add(time.Duration(timer) * time.Second)
	}
	if _, err := tx.PutHistory(row); err != nil {
		if !errors.Is(err, localstore.ErrDuplicate) {
			return err
		}
		// The history has the id: this message, sent again after its
		// record of sent ids was forgotten, keeps its row; another
		// account's message under the id is a reuse.
		old, err := tx.History(to, msgID[:])
		if err != nil {
			return err
		}
		if !old.Outgoing || old.Sender != id.handle {
			return fmt.Errorf("%w: %s", ErrMessageIDReused, msgID)
		}
	}
	for _, t := range ts {
		if t.kind == kindMessage {
			if err := tx.PutMessageDevice(msgID[:], t.handle, uint32(t.dev.Device)); err != nil {
				return err
			}
		}
	}
	return nil
}

// received is what applying a received payload gives.
type received struct {
	offer     bool                      // store in the inbox and offer to the application
	extra     []localstore.InboxMessage // held content released by it, offered after it
	events    []Event                   // reported after the commit
	followUps []groupFollowUp           // group work for after the commit
	// released are group messages its arrival released (held for the
	// chain it distributed, spec/client.md §14.4): already in the inbox,
	// handed over after it.
	released []*localstore.InboxMessage
	// syncs, accessUpdates and accessChanged are the work of received
	// Syncs for after the commit (spec/client.md §17.3).
	syncs         []syncFollowUp
	accessUpdates []string
	accessChanged bool
}

// applyReceived applies a received, accepted, new payload to the history
// in the receiving transaction (spec/client.md §12): what History keeps,
// what waits for a target, what receipts report, and whether the
// application is offered it.
func (c *Client) applyReceived(tx localstore.Tx, id *identity, envID []byte, p *payload, sender string, device uint32, now time.Time) (received, error) {
	conv := conversationOf(p, id.handle, sender)
	if shown(p) {
		return c.storeReceived(tx, id, envID, p, conv, sender, device, now)
	}
	var r received
	switch k := p.content.Kind(); k {
	case content.KindReaction, content.KindEdit, content.KindDelete:
		target := changeTarget(p.content)
		row, err := tx.History(conv, target)
		if errors.Is(err, localstore.ErrNotFound) {
			// Before its target: held, bounded (§12.3).
			dropped, err := c.hold(tx, conv, target, sender, device, now, p)
			for range dropped {
				r.events = append(r.events, Event{Kind: EventContentDropped, Handle: conv, Err: fmt.Errorf("%w: held too long or too many held", errHeldTooLong)})
			}
			return r, err
		}
		if err != nil {
			return r, err
		}
		applied, err := applyChange(tx, &row, p.content, sender, p.sent)
		if err != nil {
			if errors.Is(err, localstore.ErrCorrupt) {
				return r, err
			}
			r.events = append(r.events, Event{Kind: EventContentDropped, Handle: sender, Device: device, Err: err})
			return r, nil
		}
		r.offer = applied
	case content.KindReceipt:
		ev, err := c.applyReceipt(tx, id, p, conv, sender, device, now)
		if err != nil {
			return r, err
		}
		if ev != nil {
			r.events = append(r.events, *ev)
		}
	case content.KindAccess:
		// An access update: its key was recorded with the message
		// (spec/client.md §13.6); nothing to show or keep.
	case content.KindSenderKey:
		// spec/groups.md §8.1: a member device's sending chain.
		fresh, err := c.applySenderKey(tx, id, sender, device, p.content.GetSenderKey(), now, &r)
		if err != nil {
			if !isGroupRefusal(err) {
				return r, err
			}
			r.events = append(r.events, Event{Kind: EventGroupRefused, Handle: sender, Device: device,
				Group: GroupID(p.content.GetSenderKey().GetGroupId()), Err: fmt.Errorf("%w: sender key: %w", ErrGroupRefused, err)})
		}
		if fresh && sender != id.handle {
			// A new chain may follow a device revoked: the sender's key
			// set is looked up again after the commit (spec/client.md
			// §14.4).
			r.followUps = append(r.followUps, groupFollowUp{lookup: sender})
		}
	case content.KindGroupSnapshot:
		// spec/groups.md §8.6: a group from another device of this account.
		if err := c.applyGroupSnapshot(tx, id, sender, p.content.GetGroupSnapshot(), now, &r); err != nil {
			return r, err
		}
	case content.KindGroupSync:
		// spec/groups.md §8.5: a member asking for the changes it lacks.
		reply, err := c.groupSyncRequest(tx, sender, p.content.GetGroupSync(), now)
		if err != nil {
			return r, err
		}
		if reply != nil {
			r.followUps = append(r.followUps, groupFollowUp{reply: reply})
		}
	case content.KindSync:
		// spec/client.md §17.3: a change made on another device of this
		// account.
		if err := c.applySync(tx, id, p, sender, device, now, &r); err != nil {
			return r, err
		}
	case content.KindGroupChange:
		// spec/groups.md §8.1: applied to the group, never shown.
		if err := c.applyGroupChange(tx, id, sender, p.content.GetGroupChange(), now, &r); err != nil {
			return r, err
		}
	default:
		// Typing and presence that came the stored way: ephemeral
		// signals are not kept (§12.7); nothing to do.
	}
	return r, nil
}

// storeReceived keeps a shown message in the history and applies the
// reactions, edits and deletes that were waiting for it.
func (c *Client) storeReceived(tx localstore.Tx, id *identity, envID []byte, p *payload, conv, sender string, device uint32, now time.Time) (received, error) {
	var r received
	timer, err := tx.ConversationTimer(conv)
	if err != nil {
		return r, err
	}
	if p.content != nil && p.content.Kind() == content.KindTimer {
		// Either side sets the conversation's timer (§12.5).
		secs := int64(p.content.GetTimer().GetSeconds())
		if err := tx.SetConversationTimer(conv, secs, now); err != nil {
			return r, err
		}
		timer = 0
	}
	row := localstore.HistoryRow{
		Conversation: conv, ID: p.id[:], Sender: sender, SenderDevice: device, Outgoing: sender == id.handle,
		Sent: p.sent, Received: now, Body: historyBody(p.version, p.body), Timer: timer,
	}
	if row.Outgoing {
		// A sent copy: the sender's clock runs its timer (§12.5).
		row.Read = now
		if timer > 0 {
			row.Expires = p.sent.Add(time.Duration(timer) * time.Second)
		}
	}
	if _, err := tx.PutHistory(row); err != nil {
		if errors.Is(err, localstore.ErrDuplicate) {
			r.events = append(r.events, Event{Kind: EventContentDropped, Handle: sender, Device: device, Err: errIDCollision})
			return r, nil
		}
		return r, err
	}
	if row.Outgoing && conv != id.handle {
		// A sent copy: the receipts the peer's devices send reach
		// this device too, so it keeps their state for the devices
		// the peer has in the key set this device holds (§12.2).
		ks, err := storedKeySetTx(tx, conv)
		if err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return r, err
		}
		if ks != nil {
			for _, dev := range ks.Active() {
				if err := tx.PutMessageDevice(p.id[:], conv, uint32(dev.Certificate.Device)); err != nil {
					return r, err
				}
			}
		}
	}
	r.offer = true
	held, err := tx.TakeHeldContent(conv, p.id[:])
	if err != nil || len(held) == 0 {
		return r, err
	}
	for _, h := range held {
		hp, err := parsePayload(h.Payload)
		if err != nil {
			return r, fmt.Errorf("%w: a held payload does not parse: %v", ErrCorrupt, err)
		}
		applied, err := applyChange(tx, &row, hp.content, h.Sender, hp.sent)
		if errors.Is(err, localstore.ErrCorrupt) {
			return r, err
		}
		if err != nil {
			r.events = append(r.events, Event{Kind: EventContentDropped, Handle: h.Sender, Device: h.SenderDevice, Err: err})
			continue
		}
		if applied {
			r.extra = append(r.extra, localstore.InboxMessage{
				ID: heldInboxID(envID, len(r.extra)), Sender: h.Sender, SenderDevice: h.SenderDevice, Time: now, Plaintext: h.Payload,
			})
		}
	}
	return r, nil
}

// heldInboxID is the inbox id of the i-th held item released by the
// envelope envID: SHA-256("sealpost/v1/held-release" || envID || u64 i),
// so that a repeated delivery of the envelope finds them (receive).
func heldInboxID(envID []byte, i int) []byte {
	h := sha256.New()
	h.Write([]byte("sealpost/v1/held-release"))
	h.Write(envID)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return h.Sum(nil)
}

// hold keeps a reaction, edit or delete whose target has not arrived,
// dropping what is held too long or beyond the bound (§12.3).
func (c *Client) hold(tx localstore.Tx, conv string, target []byte, sender string, device uint32, now time.Time, p *payload) ([]localstore.HeldContent, error) {
	if err := tx.PutHeldContent(localstore.HeldContent{
		Conversation: conv, Target: target, Sender: sender, SenderDevice: device, Received: now, Payload: p.marshal(),
	}); err != nil {
		return nil, err
	}
	return tx.DropHeldContent(conv, now.Add(-heldLifetime), maxHeldPerConversation)
}

// changeTarget returns the target of a reaction, edit or delete.
func changeTarget(c *content.Content) []byte {
	switch c.Kind() {
	case content.KindReaction:
		return c.GetReaction().GetTargetId()
	case content.KindEdit:
		return c.GetEdit().GetTargetId()
	case content.KindDelete:
		return c.GetDelete().GetTargetId()
	}
	return nil
}

// applyChange applies a reaction, edit or delete by sender, sent at sent,
// to row and stores it (spec/client.md §12.3, §12.4). It reports whether
// anything changed; an error other than a store error is a refusal by the
// rules, and nothing changed.
func applyChange(tx localstore.Tx, row *localstore.HistoryRow, c *content.Content, sender string, sent time.Time) (bool, error) {
	if row.Deleted {
		return false, errTargetDeleted
	}
	switch c.Kind() {
	case content.KindEdit:
		if row.Sender != sender {
			return false, fmt.Errorf("%w: %s edited a message of %s", ErrNotSender, sender, row.Sender)
		}
		old, err := historyContent(row.Body)
		if err != nil {
			return false, err
		}
		if old == nil || old.Kind() != content.KindText {
			return false, errNotText
		}
		if !row.Edited.IsZero() && sent.Before(row.Edited) {
			// An older edit than the one applied: the newest wins.
			return false, nil
		}
		edited := &content.Content{Content: &contentpb.Content{
			Kind:    &contentpb.Content_Text{Text: &contentpb.Text{Body: c.GetEdit().GetBody()}},
			ReplyTo: old.GetReplyTo(),
		}}
		b, err := content.Marshal(edited)
		if err != nil {
			return false, err
		}
		row.Body, row.Edited = historyBody(payloadVersion2, b), sent
	case content.KindDelete:
		if row.Sender != sender {
			return false, fmt.Errorf("%w: %s deleted a message of %s", ErrNotSender, sender, row.Sender)
		}
		row.Body, row.Reactions, row.Deleted = nil, nil, true
	case content.KindReaction:
		rs, err := decodeReactions(row.Reactions)
		if err != nil {
			return false, err
		}
		r := c.GetReaction()
		rs = applyReaction(rs, Reaction{From: sender, Emoji: r.GetEmoji(), Time: sent}, r.GetRemove())
		row.Reactions = encodeReactions(rs)
	default:
		return false, fmt.Errorf("client: %v is not a change", c.Kind())
	}
	return true, tx.UpdateHistory(*row)
}

// applyReaction adds or removes r in rs: one reaction per account and
// emoji, at most maxReactionsPerSender per account (its oldest goes).
func applyReaction(rs []Reaction, r Reaction, remove bool) []Reaction {
	out := rs[:0]
	mine := 0
	for _, x := range rs {
		if x.From == r.From && x.Emoji == r.Emoji {
			continue
		}
		if x.From == r.From {
			mine++
		}
		out = append(out, x)
	}
	if remove {
		return out
	}
	if mine >= maxReactionsPerSender {
		for i, x := range out {
			if x.From == r.From {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
	}
	return append(out, r)
}

// encodeReactions encodes reactions for the history row
// (spec/client-store.md §4.15): for each, u8 len(from) || from ||
// u8 len(emoji) || emoji || u64 milliseconds. nil for none.
func encodeReactions(rs []Reaction) []byte {
	if len(rs) == 0 {
		return nil
	}
	var b []byte
	for _, r := range rs {
		b = append(b, byte(len(r.From)))
		b = append(b, r.From...)
		b = append(b, byte(len(r.Emoji)))
		b = append(b, r.Emoji...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixMilli()))
	}
	return b
}

func decodeReactions(b []byte) ([]Reaction, error) {
	var rs []Reaction
	for len(b) > 0 {
		var r Reaction
		for _, f := range []*string{&r.From, &r.Emoji} {
			if len(b) < 1 || len(b) < 1+int(b[0]) {
				return nil, fmt.Errorf("%w: reactions do not parse", ErrCorrupt)
			}
			*f, b = string(b[1:1+int(b[0])]), b[1+int(b[0]):]
		}
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: reactions do not parse", ErrCorrupt)
		}
		r.Time, b = time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC(), b[8:]
		rs = append(rs, r)
	}
	return rs, nil
}

// historyContent parses a history body: the Content of a version 2
// message, nil for version 1.
func historyContent(body []byte) (*content.Content, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty history body", ErrCorrupt)
	}
	switch body[0] {
	case payloadVersion:
		return nil, nil
	case payloadVersion2:
		c, err := content.Parse(body[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: a history body does not parse: %v", ErrCorrupt, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: history body of version %d", ErrCorrupt, body[0])
}

// applyReceipt records a receipt (spec/client.md §12.2): from a peer
// device, the receipt state of messages this device sent it; from this
// account's other device, that the user read messages (their timers
// start here too).
func (c *Client) applyReceipt(tx localstore.Tx, id *identity, p *payload, conv, sender string, device uint32, now time.Time) (*Event, error) {
	rc := p.content.GetReceipt()
	read := rc.GetType() == contentpb.Receipt_TYPE_READ
	if sender == id.handle {
		if !read {
			return nil, nil
		}
		for _, target := range rc.GetTargetIds() {
			row, err := tx.History(conv, target)
			if errors.Is(err, localstore.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if !row.Outgoing && startTimer(&row, now) {
				if err := tx.UpdateHistory(row); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	at := time.UnixMilli(int64(rc.GetTimestamp())).UTC()
	var changed []MessageID
	seen := map[MessageID]bool{}
	for _, target := range rc.GetTargetIds() {
		mid := MessageID(target)
		if seen[mid] {
			continue
		}
		seen[mid] = true
		// A message this account sent to the receipt's sender: on a
		// device that did not send it, the first receipt of a device
		// makes its record (§12.2).
		row, err := tx.History(sender, target)
		if errors.Is(err, localstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !row.Outgoing {
			continue
		}
		if err := tx.PutMessageDevice(target, sender, device); err != nil {
			return nil, err
		}
		ok, err := tx.MarkMessageDevice(target, sender, device, read, at)
		if err != nil {
			return nil, err
		}
		if ok {
			changed = append(changed, mid)
		}
	}
	if len(changed) == 0 {
		// Receipts for messages never sent to this device, or
		// reported before: nothing changes.
		return nil, nil
	}
	return &Event{Kind: EventReceipt, Handle: sender, Device: device, Messages: changed, Read: read}, nil
}

// startTimer records the first display of a received message and starts
// its disappearing timer (§12.5); it reports whether row changed.
func startTimer(row *localstore.HistoryRow, now time.Time) bool {
	if !row.Read.IsZero() {
		return false
	}
	row.Read = now
	if row.Timer > 0 {
		row.Expires = now.Add(time.Duration(row.Timer) * time.Second)
	}
	return true
}

// toEntry turns a history row into the application's HistoryEntry.
func toEntry(r *localstore.HistoryRow) (HistoryEntry, error) {
	id, ok := toMessageID(r.ID)
	if !ok {
		return HistoryEntry{}, fmt.Errorf("%w: history id of %d bytes", ErrCorrupt, len(r.ID))
	}
	e := HistoryEntry{
		ID: id, From: r.Sender, FromDevice: r.SenderDevice, Outgoing: r.Outgoing, Time: r.Sent, Received: r.Received,
		Edited: r.Edited, Deleted: r.Deleted, Read: r.Read, Expires: r.Expires,
	}
	if r.Body != nil {
		ct, err := historyContent(r.Body)
		if err != nil {
			return HistoryEntry{}, err
		}
		if ct == nil {
			e.Plaintext = r.Body[1:]
		} else {
			e.Content = ct
			if rt := ct.GetReplyTo(); rt != nil {
				if rid, ok := toMessageID(rt.GetMessageId()); ok {
					e.ReplyTo = &rid
				}
			}
		}
	}
	rs, err := decodeReactions(r.Reactions)
	if err != nil {
		return HistoryEntry{}, err
	}
	e.Reactions = rs
	return e, nil
}

// releaseHeld releases the messages held for handle's key change
// (spec/client.md §6.2) and applies each to the history as it would have
// been on arrival (§12.1): what is not offered (a receipt, a change
// refused or held for its target) leaves the inbox; what its arrival
// releases is offered after it. It returns the messages to offer, in
// order, and the events to report after the commit.
func (c *Client) releaseHeld(tx localstore.Tx, id *identity, handle string) ([]localstore.InboxMessage, []Event, error) {
	held, err := tx.ReleaseHeld(handle)
	if err != nil {
		return nil, nil, err
	}
	var (
		out    []localstore.InboxMessage
		events []Event
	)
	for _, m := range held {
		p, err := parsePayload(m.Plaintext)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: a held payload does not parse: %v", ErrCorrupt, err)
		}
		r, err := c.applyReceived(tx, id, m.ID, p, m.Sender, m.SenderDevice, m.Time)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, r.events...)
		if !r.offer {
			if err := tx.DeleteInbox(m.ID); err != nil {
				return nil, nil, err
			}
			continue
		}
		out = append(out, m)
		for _, x := range r.extra {
			if _, err := tx.PutInbox(x); err != nil {
				return nil, nil, err
			}
			out = append(out, x)
		}
	}
	return out, events, nil
}
