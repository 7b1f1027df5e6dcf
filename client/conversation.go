package client

import (
	"context"
	"errors"
	"time"

	"github.com/sealpost/sealpost/client/content"
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
	return MessageID{}, errors.New("client: SendText: not yet")
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
	return MessageID{}, errors.New("client: SendContent: not yet")
}

// React adds (remove false) or removes an emoji reaction to message target
// of the conversation with handle (spec/client.md §12.3).
func (c *Client) React(ctx context.Context, handle string, target MessageID, emoji string, remove bool) (MessageID, error) {
	return MessageID{}, errors.New("client: React: not yet")
}

// Edit replaces the text of target, a text message this account sent to
// handle, on every device of both accounts (spec/client.md §12.4).
// ErrNotSender for another account's message.
func (c *Client) Edit(ctx context.Context, handle string, target MessageID, text string) (MessageID, error) {
	return MessageID{}, errors.New("client: Edit: not yet")
}

// Delete deletes target, a message this account sent to handle, for
// everyone: every device of both accounts deletes its content
// (spec/client.md §12.4). ErrNotSender for another account's message.
func (c *Client) Delete(ctx context.Context, handle string, target MessageID) (MessageID, error) {
	return MessageID{}, errors.New("client: Delete: not yet")
}

// SetTimer sets the conversation's disappearing-message timer for both
// sides: 0 turns it off, else 30 seconds to 365 days, in whole seconds
// (spec/client.md §12.5). Messages sent and received after it are deleted
// from every device's store that long after they were first displayed (the
// receiver's clock) or sent (the sender's).
func (c *Client) SetTimer(ctx context.Context, handle string, d time.Duration) (MessageID, error) {
	return MessageID{}, errors.New("client: SetTimer: not yet")
}

// Timer returns the conversation's disappearing-message timer (0: off).
func (c *Client) Timer(ctx context.Context, handle string) (time.Duration, error) {
	return 0, errors.New("client: Timer: not yet")
}

// MarkRead records that the user has read the received messages ids: their
// disappearing timers start, this account's other devices are told, and,
// unless Config.NoReadReceipts, the senders get read receipts, batched
// (spec/client.md §12.2). An id that is not a received message in History
// fails the call with ErrUnknownMessage, and nothing is marked.
func (c *Client) MarkRead(ctx context.Context, ids ...MessageID) error {
	return errors.New("client: MarkRead: not yet")
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

// MessageStatus returns the receipt state of a message this device sent
// (SendText, SendContent, Send), as it stands now. ErrUnknownMessage for
// another id, including a message sent from another device.
func (c *Client) MessageStatus(ctx context.Context, id MessageID) (*MessageStatus, error) {
	return nil, errors.New("client: MessageStatus: not yet")
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
	return nil, errors.New("client: History: not yet")
}

// Typing tells handle's connected devices that the user started (true) or
// stopped typing, as an ephemeral signal the relay never stores
// (spec/client.md §12.7). It goes only to devices this device has a
// session with; ErrNotConnected while the relay connection is down.
// Repeat a start at most every 5 seconds while typing: receivers treat a
// start not repeated within 15 seconds as a stop.
func (c *Client) Typing(ctx context.Context, handle string, typing bool) error {
	return errors.New("client: Typing: not yet")
}

// AnnouncePresence tells the connected devices of handles that this user
// is online now, as an ephemeral signal (spec/client.md §12.7). Presence is
// opt-in: the client never announces it by itself.
func (c *Client) AnnouncePresence(ctx context.Context, handles ...string) error {
	return errors.New("client: AnnouncePresence: not yet")
}
