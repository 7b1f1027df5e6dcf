// Package store defines the relay's storage: one interface, Queue, with a
// SQLite implementation (relay/store/sqlite, the embedded default) and a
// PostgreSQL one (relay/store/postgres) side by side, and one conformance
// suite (relay/store/storetest) that both run.
//
// The relay keeps, per device address, an ordered queue of opaque envelopes
// with their arrival time and expiry, and, per (sending address, message id),
// a dedup record of the answer it gave. For an anonymous send the sender is
// the spent send token's key and the message id is zero, so those records
// are the relay's spent sets (spec/relay.md §15.4); to a store both are
// opaque bytes. Nothing else: it never parses an
// envelope. Every method is atomic. Send returns only after everything it
// stored is durable (spec/relay.md, "Durability").
package store

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// Errors callers act on.
var (
	// ErrNoMailbox reports an operation on an address that has no mailbox.
	ErrNoMailbox = errors.New("store: no such mailbox")
	// ErrClosed reports a call after Close.
	ErrClosed = errors.New("store: closed")
	// ErrSharedMismatch reports a shared Send whose items' envelopes are
	// not all the same bytes (a bug of the caller; nothing is stored).
	ErrSharedMismatch = errors.New("store: shared send with differing envelopes")
)

// Body returns the envelope every item of a shared send s carries, or
// ErrSharedMismatch if they differ (spec/relay.md §16). The relay passes
// one slice to every item, which bytes.Equal compares by pointer first.
func (s *Send) Body() ([]byte, error) {
	if len(s.Items) == 0 {
		return nil, nil
	}
	b := s.Items[0].Envelope
	for _, it := range s.Items[1:] {
		if !bytes.Equal(it.Envelope, b) {
			return nil, ErrSharedMismatch
		}
	}
	return b, nil
}

// BodyStats is what an engine holds of shared bodies (spec/relay.md §16).
type BodyStats struct {
	Count int   // bodies stored
	Bytes int64 // their bytes
	Refs  int64 // envelopes referencing them
}

// Bodies is implemented by the engines that store shared bodies once
// (both do): the conformance suite checks with it that a body is deleted
// with its last reference, and the relay's benchmark reports the bytes
// stored per recipient.
type Bodies interface {
	BodyStats(ctx context.Context) (BodyStats, error)
}

// MessageIDSize is the size of a client-chosen message id.
const MessageIDSize = 16

// Status is the outcome of a send for one recipient (spec/relay.md).
type Status uint8

const (
	// Stored: the envelope is durably queued for the recipient.
	Stored Status = 1
	// NoMailbox: the recipient address has no mailbox.
	NoMailbox Status = 2
	// QueueFull: the recipient's queue is at its count or byte cap.
	QueueFull Status = 3
	// TooLarge: the envelope exceeds the envelope size cap.
	TooLarge Status = 4
	// AccessDenied: an item of a Send with CheckAccess, to a mailbox in
	// mode AccessContacts, without a valid access verifier and beyond the
	// mailbox's first-contact allowance (spec/relay.md §15.8). Value 5 is
	// the relay's quota status, which is never stored.
	AccessDenied Status = 6
)

// String is the status's name in spec/errors.md §3.11.
func (s Status) String() string {
	switch s {
	case Stored:
		return "stored"
	case NoMailbox:
		return "no_mailbox"
	case QueueFull:
		return "queue_full"
	case TooLarge:
		return "too_large"
	case AccessDenied:
		return "access_denied"
	}
	return "unknown"
}

// Item is one envelope for one recipient device address.
type Item struct {
	Recipient []byte
	Envelope  []byte
	// AccessVerifier is the verifier of the item's access key,
	// SHA-256("sealpost/v1/access-key" || key) (spec/relay.md §15.8), or
	// nil if it has none. Only a Send with CheckAccess looks at it.
	AccessVerifier []byte
}

// Send is one send request: envelopes from one authenticated sender under
// one client-chosen message id.
type Send struct {
	// Sender is the first half of the dedup key: the sending device's
	// address, or an anonymous send's spent key (spec/relay.md §15.4).
	Sender    []byte
	MessageID [MessageIDSize]byte
	Items     []Item
	Now       time.Time
	// Expiry is when the stored envelopes expire (Now + TTL).
	Expiry time.Time
	// DedupUntil is when the dedup record of this send may be forgotten.
	DedupUntil time.Time
	// Limits applied per recipient.
	MaxEnvelope   int   // bytes; larger envelopes get TooLarge
	MaxQueueCount int   // envelopes per mailbox
	MaxQueueBytes int64 // envelope bytes per mailbox

	// CheckAccess applies the recipients' access settings to the items
	// (an anonymous send, spec/relay.md §15.8): an item to a mailbox in
	// mode AccessContacts whose AccessVerifier matches neither verifier
	// is stored only within the mailbox's first-contact allowance of
	// FirstContactPerHour items per hour (0: none), else AccessDenied.
	CheckAccess         bool
	FirstContactPerHour int

	// Shared marks a shared send (spec/relay.md §16): the Envelope of
	// every item is the same body (the relay passes one slice), which the
	// engine stores once, in its bodies table, when two or more items are
	// stored, and references from each recipient's mailbox, in the same
	// transaction as the dedup record. Everything else is as for separate
	// envelopes of len(body) bytes each: statuses, the queue caps, Stats,
	// Fetch (each envelope's Data is the body), Ack and expiry. The body
	// is deleted with its last reference (Ack or Sweep). An engine refuses
	// a shared Send whose items' envelopes differ (ErrSharedMismatch).
	Shared bool

	// Committed, if not nil, is called with the answer once the send is
	// durable and before Send returns, unless the send is a duplicate.
	// An engine calls it for the Sends it commits together in commit
	// order, from one goroutine, so that the envelopes of a mailbox are
	// reported in ID order, except across batches committed concurrently
	// (PostgreSQL's writers). The relay pushes the envelopes from it
	// (SendResult); it must be quick and must not call the Queue.
	Committed func(SendResult)
}

// SendResult is the answer to a Send, one status per item in order.
// Duplicate is true when the (Sender, MessageID) pair was seen within the
// dedup window: Statuses are then the first answer, and nothing new was
// stored.
//
// For a new send, IDs and Prevs describe what it stored, one entry per
// item (0 for an item not Stored), so that the caller can push the
// envelopes to their recipients at once, without a Fetch: IDs[i] is the
// ID of item i's envelope, and Prevs[i] the ID the mailbox gave the
// envelope before it (items stored earlier in the same Send included),
// whether or not that one is still queued, 0 if there was none. Envelopes
// arrive in a mailbox in ID order, so a reader that has delivered every
// envelope of the mailbox up to ID n, and n >= Prevs[i], misses nothing by
// delivering item i next; otherwise it fetches. Both are nil for a
// duplicate.
//
// FirstContacts counts the items of a new send stored under their
// mailbox's first-contact allowance (spec/relay.md §15.8).
type SendResult struct {
	Statuses      []Status
	Duplicate     bool
	IDs           []int64
	Prevs         []int64
	FirstContacts int
}

// Envelope is one queued envelope as delivered.
type Envelope struct {
	// ID identifies the envelope within its mailbox; IDs increase in
	// arrival order. The recipient acks by ID. IDs are per mailbox
	// (spec/relay.md §8.1): never reused within it, and depending on its
	// own envelopes only, they say nothing about other mailboxes.
	ID      int64
	Data    []byte
	Arrived time.Time
	Expiry  time.Time
}

// Stats is a mailbox's queue depth.
type Stats struct {
	Count int
	Bytes int64
}

// Queue is the relay's storage. Implementations are safe for concurrent
// use, and, for PostgreSQL, for several relay processes sharing a database.
type Queue interface {
	// OpenMailbox creates the mailbox of addr if it does not exist. The
	// relay calls it when a device authenticates.
	OpenMailbox(ctx context.Context, addr []byte, now time.Time) error

	// Send stores s atomically and durably and returns per-recipient
	// statuses, or the first answer for a duplicate (Sender, MessageID)
	// whose dedup record has not expired. Implementations may commit
	// several concurrent Sends in one transaction (group commit).
	Send(ctx context.Context, s Send) (SendResult, error)

	// Fetch returns up to limit unexpired envelopes of addr with ID > after,
	// in ID order.
	Fetch(ctx context.Context, addr []byte, after int64, limit int, now time.Time) ([]Envelope, error)

	// Ack deletes the envelopes of addr with the given IDs; IDs addr does
	// not hold (whatever their value) are ignored without error. It
	// returns how many it deleted. Any store sharing the database takes
	// the acks of IDs another one delivered.
	Ack(ctx context.Context, addr []byte, ids []int64) (int, error)

	// Stats returns the queue depth of addr, or ErrNoMailbox.
	Stats(ctx context.Context, addr []byte) (Stats, error)

	// SetAccess changes the access setting of addr's mailbox as c says
	// (spec/relay.md §15.8), durably; ErrNoMailbox if it has none. Sends
	// committed after it returns, by any store sharing the database, are
	// checked against the new setting.
	SetAccess(ctx context.Context, addr []byte, c AccessChange) error

	// Access returns the access setting of addr's mailbox, or
	// ErrNoMailbox.
	Access(ctx context.Context, addr []byte) (Access, error)

	// Sweep deletes expired envelopes and dedup records, returning how many
	// envelopes it deleted.
	Sweep(ctx context.Context, now time.Time) (int, error)

	// Wake returns a channel that receives the address of every mailbox
	// that gained envelopes through another relay sharing the store
	// (PostgreSQL LISTEN/NOTIFY); a store that serves one relay never
	// sends on it. The caller of Send learns of the envelopes it stored
	// from the SendResult, not from Wake. Notifications may be coalesced.
	// An empty address means "re-check every connected mailbox": a shared
	// store sends it after its notification channel reconnects, since
	// notifications may have been missed meanwhile (spec/relay.md §12).
	Wake() <-chan []byte

	// Close releases the store; pending Sends finish or fail.
	Close() error
}

// EphemeralBus carries ephemeral envelopes (spec/relay.md §7.4) between
// relay nodes that share a store, so that a signal sent through one node
// reaches a device connected to another. It is separate from Queue
// because nothing on it is stored: it writes no row and keeps nothing
// after delivery. A store that serves one relay node (SQLite) does not
// implement it. Everything on it is best effort and may be dropped.
type EphemeralBus interface {
	// PublishEphemeral hands env, for the device at addr, to the other
	// nodes sharing the store. It never blocks and never stores; it
	// reports false if it dropped the item (its queue is full, the store
	// is closed, or the item is too large for the bus).
	PublishEphemeral(addr, env []byte) bool

	// Ephemeral returns the channel of items other nodes published, each
	// for the node that has the recipient connected (others ignore it).
	// Items are dropped while it is full. It is closed by Close.
	Ephemeral() <-chan Item
}
