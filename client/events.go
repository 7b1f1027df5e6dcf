package client

import (
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Message is a received message (spec/client.md §2, §5).
type Message struct {
	// ID is the sender's message id: every device of the recipient, and
	// the sender's other devices, see the same id for one message.
	ID MessageID
	// From and FromDevice name the sending account and device, as
	// verified through the key directory.
	From       string
	FromDevice uint32
	// To is the account the message was sent to: this account, or, for a
	// Sent copy, the peer it was sent to; "" for a group message.
	To string
	// Group is the group of a group message (spec/client.md §14.4); zero
	// for a one-to-one message.
	Group GroupID
	// Sent marks a copy of a message this account sent from another of
	// its devices.
	Sent bool
	// KeyChanged marks a message that arrived under an account key of the
	// sender that the user had not accepted (spec/client.md §6.2): it
	// authenticates under the key the log holds, which is not the one this
	// device knew. Show it with a warning. (A verified contact's such
	// messages are held until the user verifies or accepts the new key,
	// then offered with this mark.)
	KeyChanged bool
	// Time is the sender's clock when it sent the message; Received is
	// when this device decrypted it.
	Time     time.Time
	Received time.Time
	// Plaintext is the message. The application zeroes it when done if it
	// cares to. For a version 2 message (Content not nil) of kind text it
	// is the text; for other kinds it is empty.
	Plaintext []byte
	// Content is the message's content (spec/content.md), nil for a
	// version 1 message, whose body is Plaintext. Switch on its Kind():
	// a text, an application-defined or unknown kind is a message to show;
	// a reaction, edit or delete applies to an earlier message (already
	// applied to History, and only when the rules of spec/client.md §12
	// allow: an edit or delete by another account than the target's sender
	// never arrives here); a timer is a system event. Receipts, typing and
	// presence never arrive here (they are Events).
	Content *content.Content
	// Timer is the conversation's disappearing-message timer this message
	// falls under (0: none): an application that keeps its own copy
	// deletes it this long after displaying it (EventMessageExpired tells
	// when this device deleted its copy).
	Timer time.Duration

	conversation string // the peer account (spec/client.md §12.1)
	shown        bool   // kept in History (spec/client.md §12.6)
	acked        chan struct{}
	onAck        func() // counts the ack until its commit (SendReceipts)
	ackOnce      sync.Once
}

// Ack tells the client that the application has the message for good
// (shown it, or stored it with its ID): the client then deletes it from
// its store and lets the relay forget the envelope, and offers the next
// message (spec/client.md §5.2). A message not acked before a crash or
// Close is offered again after the next Open, with the same ID. Ack may be
// called more than once and from any goroutine.
func (m *Message) Ack() {
	if m.acked != nil {
		m.ackOnce.Do(func() {
			if m.onAck != nil {
				m.onAck()
			}
			close(m.acked)
		})
	}
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventKeyChanged: the transparency log holds another account key for
	// a contact than the one this device knows (spec/client.md §6.2).
	// Event.KeyChange has both safety numbers. Send to the contact fails
	// (ErrKeyChanged; for a verified contact ErrSecurity) until
	// AcceptKeyChange, or MarkVerified with the new safety number.
	EventKeyChanged EventKind = iota + 1
	// EventDeviceAdded: a contact's account has a device it did not have
	// in the key set this device saw before, under the same account key.
	// Device and Time (from the device certificate) say which and when.
	EventDeviceAdded
	// EventDeviceRemoved: a contact revoked a device (Time is the
	// revocation's); its session is deleted and nothing is sent to it.
	EventDeviceRemoved
	// EventEnvelopeDropped: an envelope could not be opened, did not come
	// from a device its account lists, or did not decrypt; it was
	// discarded (Err says why). The session with the sender is unchanged.
	EventEnvelopeDropped
	// EventSecurity: the key server answered something only a misbehaving
	// server would (Err wraps ErrSecurity), or denies an account this
	// device knows (Err also wraps ErrUnknownHandle).
	EventSecurity
	// EventConnected and EventDisconnected follow the relay connection.
	EventConnected
	EventDisconnected
	// EventOwnAccountChanged: this account has a device this device did
	// not create or approve (Device, Time from its certificate), or
	// (Revoked) another device revoked a device of this account (Time of
	// the revocation) (spec/client.md §6.3). An unapproved device gets no
	// sent copies until ApproveDevice; if it is not the user's, revoke it
	// (RevokeDevice) and change the backup passphrase.
	EventOwnAccountChanged
	// EventRevoked: this device has been revoked (by another device of
	// the account): the relay closed its connection and the key server
	// refuses it. It stops connecting; Send fails with ErrDeviceRevoked.
	EventRevoked
	// EventReceipt: a device of Handle (Device) reported Messages, sent by
	// this account, delivered or (Read) read; MessageStatus has the new
	// state (spec/client.md §12.2).
	EventReceipt
	// EventTyping: Handle (Device) started (Typing) or stopped typing
	// (spec/client.md §12.7). A start not repeated within 15 seconds means
	// stopped.
	EventTyping
	// EventPresence: Handle (Device) announced that it is online now.
	EventPresence
	// EventContentDropped: a message authenticated but its content was
	// refused by the rules of spec/client.md §12 (Err says why: an edit
	// or delete by another account than the target's sender, a reaction,
	// edit or delete whose target never arrived, content that does not
	// parse): nothing was applied or shown.
	EventContentDropped
	// EventMessageExpired: this device deleted Messages of the
	// conversation with Handle, whose disappearing timer ran out.
	EventMessageExpired
	// EventAnonymousStalled: an envelope for Handle could not be sent
	// anonymously for want of a send token (Err wraps ErrNoSendTokens:
	// the key server's per-account limit of the day is reached, or it
	// could not be asked). It stays queued, and goes once tokens can be
	// had; it is never sent authenticated instead (spec/client.md §13.2).
	EventAnonymousStalled
	// EventGroupChanged: a change of Group by Handle (its author) was
	// applied here; GroupChange names its kind (create, add, remove,
	// leave, rename, promote, demote). GroupMembers has the new state.
	EventGroupChanged
	// EventGroupRefused: a group change from Handle was refused (Err
	// wraps ErrGroupRefused and client/group's reason); the group's
	// state is unchanged (spec/groups.md §5, §7).
	EventGroupRefused
	// EventGroupOutOfSync: a group message from Handle (Device) named a
	// state of Group that this device's does not agree with (Err wraps
	// ErrGroupOutOfSync and says how): a later epoch, whose changes have
	// not arrived here (yet: the relay may deliver them later, or never),
	// or another state at an epoch this device holds (members applied
	// different changes). The message itself was delivered. Reported once
	// per group, epoch and kind (spec/client.md §14.4).
	EventGroupOutOfSync
	// EventFileFailed: a file SendFile recorded will not be sent
	// (Messages has its message id, Handle the recipient, "" for a
	// group): the blob service refused it for good (Err wraps
	// ErrFileRefused) or its message could not be sent (a blocked or
	// unknown account, a changed key). Its spool file is deleted; send it
	// again if appropriate.
	EventFileFailed
	// EventPushRefused: the relay refused, after a connect, the push
	// target this device registered earlier (its operator turned that
	// kind of wake-up off, or no longer knows the gateway): the device is
	// not woken until SetPush sets a target it takes. Err wraps
	// ErrPushRefused (a *PushRefusedError says why). Reported once per
	// run and refusal (spec/client.md §16.1).
	EventPushRefused
	// EventSyncRefused: a Sync (a change made on another device of this
	// account, spec/client.md §17.3) came from Handle (Device), which is
	// not a device of this account that this device approves, or broke a
	// rule (Err says which); nothing was applied.
	EventSyncRefused
)

var eventNames = map[EventKind]string{
	EventKeyChanged:        "key-changed",
	EventDeviceAdded:       "device-added",
	EventDeviceRemoved:     "device-removed",
	EventEnvelopeDropped:   "envelope-dropped",
	EventSecurity:          "security",
	EventConnected:         "connected",
	EventDisconnected:      "disconnected",
	EventOwnAccountChanged: "own-account-changed",
	EventRevoked:           "revoked",
	EventReceipt:           "receipt",
	EventTyping:            "typing",
	EventPresence:          "presence",
	EventContentDropped:    "content-dropped",
	EventMessageExpired:    "message-expired",
	EventAnonymousStalled:  "anonymous-stalled",
	EventGroupChanged:      "group-changed",
	EventGroupRefused:      "group-refused",
	EventGroupOutOfSync:    "group-out-of-sync",
	EventPushRefused:       "push-refused",
	EventFileFailed:        "file-failed",
	EventSyncRefused:       "sync-refused",
}

// String returns the kind's name, such as "key-changed".
func (k EventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something the application should know about.
type Event struct {
	Kind   EventKind
	Handle string // the account concerned, if any
	Device uint32 // the device concerned, if any
	// Time is, for device events, when the device was certified (added)
	// or revoked, as its certificate or revocation says.
	Time time.Time
	// Revoked marks an EventOwnAccountChanged that reports a revocation.
	Revoked bool
	// KeyChange describes an EventKeyChanged.
	KeyChange *KeyChange
	Err       error // why, for EventEnvelopeDropped, EventSecurity, EventDisconnected, EventContentDropped
	// Messages are the messages an EventReceipt or EventMessageExpired
	// concerns.
	Messages []MessageID
	// Read marks an EventReceipt of read (not delivered) messages; Typing
	// an EventTyping that reports a start.
	Read, Typing bool
	// Group is the group of EventGroupChanged, EventGroupRefused and
	// EventGroupOutOfSync, and
	// GroupChange the kind of change applied.
	Group       GroupID
	GroupChange string
}

// KeyChange is a change of a contact's account key that the user has not
// accepted (spec/client.md §6.2).
type KeyChange struct {
	Handle string
	// Old is the safety number with the key this device knew, New the one
	// with the key the transparency log holds now.
	Old, New *keys.SafetyNumber
	// Verified says the user had verified the old key: sends fail with
	// ErrSecurity and messages under the new key are held.
	Verified bool
}

// eventBuffer is how many events wait for the application before new ones
// are dropped (and logged).
const eventBuffer = 256

// Messages returns the channel on which received messages arrive, in the
// order the relay delivered them, one at a time: each message is stored
// locally before it is offered here, and the next is offered only after
// the application calls Ack on it. Ack deletes it from the store, and only
// then is the relay told it may forget the envelope. So a crash at any
// point loses nothing: a message not yet acked is offered again after the
// next Open, with the same ID. An application that shows or stores a
// message and then crashes before Ack sees it again; one that records the
// ID with the message, in the same transaction, sees it exactly once
// (spec/client.md §5.3).
//
// The application must keep reading and acking: while a message waits for
// it, no further message is received. Close closes the channel.
func (c *Client) Messages() <-chan *Message { return c.messages }

// Events returns the channel of events. It is closed by Close.
func (c *Client) Events() <-chan Event { return c.events }

// Contact is another account this device has looked up.
type Contact struct {
	Handle     string
	AccountKey [32]byte
	// Verified says the user compared safety numbers (MarkVerified).
	Verified bool
	// KeyChanged says the log holds another account key, PendingKey, that
	// the user has not accepted (spec/client.md §6.2).
	KeyChanged bool
	PendingKey [32]byte
}

// Device is one device of this account.
type Device struct {
	ID      uint32
	Created time.Time
	Revoked bool
	// Current marks this device.
	Current bool
	// Approved says this device created or approved the device
	// (spec/client.md §6.3): only approved devices get sent copies.
	Approved bool
	// Name is the device's name as this device knows it ("": none), set
	// on the device itself (SetDeviceName) and told to the account's
	// other devices only (spec/client.md §17.4).
	Name string
	// LastSeen is the newest sent time, by that device's clock, of a
	// message (a sent copy, a sync or a group message) this device got
	// from it; zero for none, and for this device.
	LastSeen time.Time
}
