package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"google.golang.org/protobuf/proto"
)

// Conversation content (spec/client.md §12, spec/content.md): typed
// messages, receipts, reactions, edits, deletions, disappearing messages,
// typing and presence, carried as version 2 payloads.

// Errors of the conversation API.
var (
	// ErrUnknownMessage is returned for a message id this device has no
	// record of in the conversation (History): MarkRead, MessageStatus,
	// and React, Edit and Delete of a message this device never saw.
	ErrUnknownMessage = errors.New("client: no such message")
	// ErrNotSender is returned by Edit and Delete of a message this
	// account did not send: only the original sender's edits and deletions
	// apply (spec/client.md §12.4).
	ErrNotSender = errors.New("client: only the sender can edit or delete a message")
	// ErrInvalidContent is returned for content that spec/content.md
	// refuses (it wraps content.ErrMalformed, ErrTooLarge, ErrInvalidUTF8
	// or ErrOutOfRange), or a kind the call does not send.
	ErrInvalidContent = errors.New("client: invalid content")
	// ErrNotConnected is returned by Typing and AnnouncePresence while the
	// relay connection is down: ephemeral signals are never queued
	// (spec/client.md §12.7).
	ErrNotConnected = errors.New("client: not connected to the relay")
)

// SendText sends text (UTF-8, 1 to content.MaxTextBytes bytes) to handle as
// a version 2 text message (spec/client.md §12.1) and returns as Send
// does. WithReplyTo makes it a reply.
func (c *Client) SendText(ctx context.Context, handle, text string, opts ...SendOption) (MessageID, error) {
	ct := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: text}}}}
	return c.SendContent(ctx, handle, ct, opts...)
}

// WithReplyTo makes a text sent with SendText (or a Content sent with
// SendContent) quote the message id of sender (spec/content.md §4.1).
func WithReplyTo(id MessageID, sender string) SendOption {
	return func(o *sendOptions) { o.replyTo, o.replySender, o.hasReply = id, sender, true }
}

// SendContent sends a Content of kind text, app (application-defined) or a
// kind this version does not know to handle, as SendText does. Reactions,
// edits, deletions, timers, receipts, typing and presence have calls of
// their own (React, Edit, Delete, SetTimer, MarkRead, Typing,
// AnnouncePresence), which apply their rules; SendContent refuses them with
// ErrInvalidContent.
func (c *Client) SendContent(ctx context.Context, handle string, m *content.Content, opts ...SendOption) (MessageID, error) {
	if m == nil || m.Content == nil {
		return MessageID{}, fmt.Errorf("%w: no content", ErrInvalidContent)
	}
	switch k := m.Kind(); k {
	case content.KindText, content.KindApp, content.KindUnknown:
	default:
		return MessageID{}, fmt.Errorf("%w: SendContent does not send %v content", ErrInvalidContent, k)
	}
	var o sendOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.hasReply {
		cp := &content.Content{Content: proto.Clone(m.Content).(*contentpb.Content)}
		cp.ReplyTo = &contentpb.ReplyTo{MessageId: o.replyTo[:], Sender: o.replySender}
		m = cp
	}
	return c.sendContent(ctx, handle, m, true, nil, opts)
}

// React adds (remove false) or removes an emoji reaction to message target
// of the conversation with handle (spec/client.md §12.3).
func (c *Client) React(ctx context.Context, handle string, target MessageID, emoji string, remove bool) (MessageID, error) {
	if err := c.checkTarget(ctx, handle, target, false); err != nil {
		return MessageID{}, err
	}
	ct := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Reaction{Reaction: &contentpb.Reaction{
		TargetId: target[:], Emoji: emoji, Remove: remove,
	}}}}
	return c.sendChange(ctx, handle, target, ct)
}

// Edit replaces the text of target, a text message this account sent to
// handle, on every device of both accounts (spec/client.md §12.4).
// ErrNotSender for another account's message.
func (c *Client) Edit(ctx context.Context, handle string, target MessageID, text string) (MessageID, error) {
	if err := c.checkTarget(ctx, handle, target, true); err != nil {
		return MessageID{}, err
	}
	ct := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Edit{Edit: &contentpb.Edit{TargetId: target[:], Body: text}}}}
	return c.sendChange(ctx, handle, target, ct)
}

// Delete deletes target, a message this account sent to handle, for
// everyone: every device of both accounts deletes its content
// (spec/client.md §12.4). ErrNotSender for another account's message.
func (c *Client) Delete(ctx context.Context, handle string, target MessageID) (MessageID, error) {
	if err := c.checkTarget(ctx, handle, target, true); err != nil {
		return MessageID{}, err
	}
	ct := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Delete{Delete: &contentpb.Delete{TargetId: target[:]}}}}
	return c.sendChange(ctx, handle, target, ct)
}

// SetTimer sets the conversation's disappearing-message timer for both
// sides: 0 turns it off, else 30 seconds to 365 days, in whole seconds
// (spec/client.md §12.5). Messages sent and received after it are deleted
// from every device's store that long after they were first displayed (the
// receiver's clock) or sent (the sender's).
func (c *Client) SetTimer(ctx context.Context, handle string, d time.Duration) (MessageID, error) {
	if d < 0 || d%time.Second != 0 || d > content.MaxTimerSeconds*time.Second || (d > 0 && d < content.MinTimerSeconds*time.Second) {
		return MessageID{}, fmt.Errorf("%w: %w: a timer of %v: 0, or whole seconds from 30 s to 365 days", ErrInvalidContent, content.ErrOutOfRange, d)
	}
	secs := uint32(d / time.Second)
	ct := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Timer{Timer: &contentpb.Timer{Seconds: secs}}}}
	return c.sendContent(ctx, handle, ct, true, func(tx localstore.Tx, _ MessageID, now time.Time) error {
		return tx.SetConversationTimer(handle, int64(secs), now)
	}, nil)
}

// Timer returns the conversation's disappearing-message timer (0: off).
func (c *Client) Timer(ctx context.Context, handle string) (time.Duration, error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	var secs int64
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		secs, err = tx.ConversationTimer(handle)
		return err
	})
	return time.Duration(secs) * time.Second, storeError(err)
}

// MarkRead records that the user has read the received messages ids: their
// disappearing timers start, this account's other devices are told, and,
// unless Config.NoReadReceipts, the senders get read receipts, batched
// (spec/client.md §12.2). An id that is not a received message in History
// fails the call with ErrUnknownMessage, and nothing is marked.
func (c *Client) MarkRead(ctx context.Context, ids ...MessageID) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		now := time.Now()
		for _, mid := range ids {
			rows, err := tx.HistoryByID(mid[:])
			if err != nil {
				return err
			}
			found := false
			for _, r := range rows {
				if r.Outgoing || r.Sender == id.handle {
					continue
				}
				found = true
				if startTimer(&r, now) {
					if err := tx.UpdateHistory(r); err != nil {
						return err
					}
				}
				if err := tx.QueueReceipt(r.Conversation, localstore.ReceiptRead, mid[:], now); err != nil {
					return err
				}
			}
			if !found {
				return fmt.Errorf("%w: %s is not a received message", ErrUnknownMessage, mid)
			}
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	c.kickReceipts()
	c.kickExpiry()
	return nil
}

// DeliveryState is how far a sent message has got.
type DeliveryState int

const (
	// StateQueued: queued on this device; the relay has not stored it for
	// every recipient device yet.
	StateQueued DeliveryState = iota + 1
	// StateStored: the relay stored it for every recipient device.
	StateStored
	// StateDelivered: at least one recipient device reported it delivered.
	StateDelivered
	// StateRead: at least one recipient device reported it read.
	StateRead
)

var deliveryStateNames = [...]string{"", "queued", "stored", "delivered", "read"}

// String returns "queued", "stored", "delivered" or "read".
func (s DeliveryState) String() string {
	if s > 0 && int(s) < len(deliveryStateNames) {
		return deliveryStateNames[s]
	}
	return "unknown"
}

// MessageStatus is the receipt state of a message this account sent
// (spec/client.md §12.2).
type MessageStatus struct {
	State DeliveryState
	// Devices is how many devices of the recipient the message was
	// encrypted for; Stored how many of them the relay has stored it for
	// (Refused it would not); Delivered and Read how many reported it
	// delivered and read (a device that reported it read counts in both).
	Devices, Stored, Refused, Delivered, Read int
	// DeviceStates has one entry per recipient device.
	DeviceStates []DeviceStatus
}

// DeviceStatus is a message's state at one recipient device.
type DeviceStatus struct {
	Device          uint32
	State           DeliveryState
	Refused         bool
	Delivered, Read time.Time // when the device reported it; zero: not yet
}

// MessageStatus returns the receipt state of a message this account sent
// (SendText, SendContent, Send), as it stands now: on the device that sent
// it, and on this account's other devices, which get its sent copy and the
// receipts too (there Devices counts the peer's devices they know of, and
// a message is stored once they have its copy). ErrUnknownMessage for
// another id.
func (c *Client) MessageStatus(ctx context.Context, mid MessageID) (*MessageStatus, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var st *MessageStatus
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		st = nil
		devs, err := tx.MessageDevices(mid[:])
		if err != nil {
			return err
		}
		if len(devs) == 0 {
			// A message to this account's own devices only, or one this
			// device did not send.
			rows, err := tx.HistoryByID(mid[:])
			if err != nil {
				return err
			}
			for _, r := range rows {
				if r.Outgoing && r.Sender == id.handle {
					st = &MessageStatus{State: StateStored}
					queued, err := tx.OutgoingFor(mid[:])
					if len(queued) > 0 {
						st.State = StateQueued
					}
					return err
				}
			}
			return fmt.Errorf("%w: %s was not sent from this device", ErrUnknownMessage, mid)
		}
		queued, err := tx.OutgoingFor(mid[:])
		if err != nil {
			return err
		}
		refused, err := tx.RefusedFor(mid[:])
		if err != nil {
			return err
		}
		isQueued := map[laneKey]bool{}
		for _, o := range queued {
			isQueued[laneKey{o.Recipient, o.Device}] = true
		}
		isRefused := map[laneKey]bool{}
		for _, r := range refused {
			isRefused[laneKey{r.Recipient, r.Device}] = true
		}
		st = &MessageStatus{Devices: len(devs)}
		for _, d := range devs {
			k := laneKey{d.Recipient, d.Device}
			ds := DeviceStatus{Device: d.Device, Delivered: d.Delivered, Read: d.Read, Refused: isRefused[k]}
			switch {
			case !d.Read.IsZero():
				ds.State = StateRead
				st.Read++
				st.Delivered++
			case !d.Delivered.IsZero():
				ds.State = StateDelivered
				st.Delivered++
			case isQueued[k]:
				ds.State = StateQueued
			default:
				ds.State = StateStored
			}
			switch {
			case ds.Refused:
				st.Refused++
			case !isQueued[k]:
				st.Stored++
			}
			st.DeviceStates = append(st.DeviceStates, ds)
		}
		switch {
		case st.Read > 0:
			st.State = StateRead
		case st.Delivered > 0:
			st.State = StateDelivered
		case st.Stored+st.Refused == st.Devices:
			st.State = StateStored
		default:
			st.State = StateQueued
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return st, nil
}

// Reaction is one account's reaction to a message.
type Reaction struct {
	From  string
	Emoji string
	Time  time.Time
}

// HistoryEntry is a message of a conversation as this device keeps it,
// with edits, deletions and reactions applied (spec/client.md §12.6).
type HistoryEntry struct {
	ID         MessageID
	From       string // the sending account
	FromDevice uint32
	// Outgoing marks a message this account sent (from this device or,
	// as a sent copy, another).
	Outgoing bool
	Time     time.Time // the sender's clock
	Received time.Time // when this device stored it
	// Content is the message's content, after edits; nil when Deleted or
	// for a version 1 message (Plaintext).
	Content   *content.Content
	Plaintext []byte
	ReplyTo   *MessageID
	Edited    time.Time // the last applied edit; zero: never edited
	Deleted   bool      // deleted for everyone by its sender
	Reactions []Reaction
	// Read is when this account first displayed or read it (Ack or
	// MarkRead, on any of its devices); zero: not yet.
	Read time.Time
	// Expires is when this device deletes it (a disappearing message);
	// zero: never, or its timer has not started.
	Expires time.Time
}

// History returns up to limit of the newest messages of the conversation
// with handle, oldest first: texts, application-defined and unknown kinds,
// version 1 messages and timer changes (spec/client.md §12.6).
// Reactions, edits and deletions are applied to their targets; receipts,
// typing and presence are never kept.
func (c *Client) History(ctx context.Context, handle string, limit int) ([]HistoryEntry, error) {
	return c.history(ctx, handle, limit, func(tx localstore.Tx) ([]localstore.HistoryRow, error) {
		return tx.HistoryLatest(handle, limit)
	})
}

// history reads rows of handle's conversation with rows and turns them
// into entries.
func (c *Client) history(ctx context.Context, handle string, limit int, rows func(localstore.Tx) ([]localstore.HistoryRow, error)) ([]HistoryEntry, error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if keys.CheckHandle(handle) != nil {
		return nil, fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	if limit <= 0 {
		return nil, nil
	}
	var es []HistoryEntry
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		es = nil
		rs, err := rows(tx)
		if err != nil {
			return err
		}
		for i := range rs {
			e, err := toEntry(&rs[i])
			if err != nil {
				return err
			}
			es = append(es, e)
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return es, nil
}

// HistoryBefore returns up to limit messages of the conversation with
// handle stored before the message before (an entry History or an
// earlier HistoryBefore returned), oldest first: the page before it.
// ErrUnknownMessage if the conversation does not hold before.
func (c *Client) HistoryBefore(ctx context.Context, handle string, before MessageID, limit int) ([]HistoryEntry, error) {
	return c.history(ctx, handle, limit, func(tx localstore.Tx) ([]localstore.HistoryRow, error) {
		row, err := tx.History(handle, before[:])
		if errors.Is(err, localstore.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s in the conversation with %s", ErrUnknownMessage, before, handle)
		}
		if err != nil {
			return nil, err
		}
		return tx.HistoryBefore(handle, row.Seq, limit)
	})
}

// HistoryMessage returns the message id of the conversation with handle as
// History has it, or ErrUnknownMessage.
func (c *Client) HistoryMessage(ctx context.Context, handle string, id MessageID) (*HistoryEntry, error) {
	es, err := c.history(ctx, handle, 1, func(tx localstore.Tx) ([]localstore.HistoryRow, error) {
		row, err := tx.History(handle, id[:])
		if errors.Is(err, localstore.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s in the conversation with %s", ErrUnknownMessage, id, handle)
		}
		return []localstore.HistoryRow{row}, err
	})
	if err != nil {
		return nil, err
	}
	return &es[0], nil
}

// Typing tells handle's connected devices that the user started (true) or
// stopped typing, as an ephemeral signal the relay never stores
// (spec/client.md §12.7). It goes only to devices this device has a
// session with; ErrNotConnected while the relay connection is down.
// Repeat a start at most every 5 seconds while typing: receivers treat a
// start not repeated within 15 seconds as a stop.
func (c *Client) Typing(ctx context.Context, handle string, typing bool) error {
	state := contentpb.Typing_STATE_STOPPED
	if typing {
		state = contentpb.Typing_STATE_STARTED
	}
	return c.sendEphemeral(ctx, []string{handle}, &content.Content{Content: &contentpb.Content{
		Kind: &contentpb.Content_Typing{Typing: &contentpb.Typing{State: state}},
	}})
}

// AnnouncePresence tells the connected devices of handles that this user
// is online now, as an ephemeral signal (spec/client.md §12.7). Presence is
// opt-in: the client never announces it by itself.
func (c *Client) AnnouncePresence(ctx context.Context, handles ...string) error {
	return c.sendEphemeral(ctx, handles, &content.Content{Content: &contentpb.Content{
		Kind: &contentpb.Content_Presence{Presence: &contentpb.Presence{}},
	}})
}

// sendContent sends a Content as a version 2 message (spec/client.md §2,
// §12): kept in the history when it is shown, with apply run in the
// queueing transaction.
func (c *Client) sendContent(ctx context.Context, handle string, ct *content.Content, history bool, apply func(localstore.Tx, MessageID, time.Time) error, opts []SendOption) (MessageID, error) {
	body, err := content.Marshal(ct)
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	m := &outMessage{version: payloadVersion2, body: body, kind: ct.Kind(), history: history, wait: true, apply: apply}
	if own := c.Handle(); own != "" && handle != own {
		if m.wire, err = c.wireWithAccessKey(ctx, ct); err != nil {
			return MessageID{}, err
		}
	}
	return c.send(ctx, handle, m, opts)
}

// checkTarget checks that target is a message of the conversation with
// handle in the history, not deleted, and, for an edit or delete
// (mine), one this account sent.
func (c *Client) checkTarget(ctx context.Context, handle string, target MessageID, mine bool) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if keys.CheckHandle(handle) != nil {
		return fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	return storeError(c.store.View(ctx, func(tx localstore.Tx) error {
		row, err := tx.History(handle, target[:])
		if errors.Is(err, localstore.ErrNotFound) {
			return fmt.Errorf("%w: %s in the conversation with %s", ErrUnknownMessage, target, handle)
		}
		if err != nil {
			return err
		}
		if row.Deleted {
			return fmt.Errorf("%w: %w", ErrInvalidContent, errTargetDeleted)
		}
		if mine && row.Sender != id.handle {
			return fmt.Errorf("%w: %s is a message of %s", ErrNotSender, target, row.Sender)
		}
		return nil
	}))
}

// sendChange sends a reaction, edit or delete of target and applies it to
// this device's history in the queueing transaction, by the rules every
// receiving device applies (spec/client.md §12.3, §12.4).
func (c *Client) sendChange(ctx context.Context, handle string, target MessageID, ct *content.Content) (MessageID, error) {
	self := c.Handle()
	return c.sendContent(ctx, handle, ct, false, func(tx localstore.Tx, _ MessageID, now time.Time) error {
		row, err := tx.History(handle, target[:])
		if errors.Is(err, localstore.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrUnknownMessage, target)
		}
		if err != nil {
			return err
		}
		if _, err := applyChange(tx, &row, ct, self, now); err != nil {
			if errors.Is(err, errTargetDeleted) || errors.Is(err, errNotText) {
				return fmt.Errorf("%w: %w", ErrInvalidContent, err)
			}
			return err
		}
		return nil
	}, nil)
}
