// Package storetest is the conformance suite every store.Queue engine runs:
// an engine's test calls Run in one line, and the same cases then hold for
// SQLite and PostgreSQL alike. BenchmarkSend measures Send throughput the
// same way on every engine.
//
// The suite knows only the store.Queue interface. Conventions it relies on
// beyond the interface comments:
//   - Times come back equal (time.Time.Equal) to whole-millisecond times put
//     in: an engine keeps at least millisecond precision.
//   - An envelope is live while now is before its Expiry: Fetch returns
//     envelopes with Expiry > now, Sweep(now) deletes those with Expiry <= now.
//   - A dedup record is live while Send.Now is before its DedupUntil: a
//     retry at or after DedupUntil is a new send (swept or not), and its
//     answer replaces the old record. Sweep(now) deletes records with
//     DedupUntil <= now.
//   - A dedup record is kept whatever the statuses were: a retry of a send
//     whose items were all refused gets the same refusals back.
//   - Statuses are decided item by item in order, each seeing the items
//     stored before it in the same Send; TooLarge (len(Envelope) >
//     MaxEnvelope) comes before NoMailbox, NoMailbox before QueueFull. An
//     item is QueueFull when storing it would take the mailbox over
//     MaxQueueCount envelopes or MaxQueueBytes bytes (len(Envelope) summed).
//   - A Send with CheckAccess applies the recipients' access settings
//     (spec/relay.md §15.8): AccessDenied comes after NoMailbox and before
//     QueueFull; an item refused anything takes no first-contact
//     allowance, nor does a duplicate. The setting and the allowance are
//     shared by every store on the database and survive a restart.
//   - A shared Send (store.Send.Shared, spec/relay.md §16) is decided and
//     counted as separate envelopes of len(body) each, and delivered as
//     each recipient's envelope; the engine implements store.Bodies, and
//     keeps one body for two or more stored items, none once the last
//     reference is acked or swept.
//   - Send never creates a mailbox.
//   - Stats and the queue caps count every envelope until Ack or Sweep
//     deletes it, expired or not.
//   - IDs are never reused within a mailbox, even after Ack and after a
//     restart: a new envelope's ID is above every ID the mailbox had.
//   - A mailbox's IDs depend on its own envelopes only: they reveal
//     nothing of other mailboxes' traffic (spec/relay.md §8.1).
//   - An envelope becomes visible to Fetch only together with or after
//     every envelope of its mailbox with a lower ID, so a reader that
//     fetches after the last ID it saw misses nothing.
//   - Fetch and Ack on an address without a mailbox return nothing, with a
//     nil error or one matching store.ErrNoMailbox.
//   - A Send whose context is already cancelled fails and stores nothing.
//   - Wake returns the same channel every time.
//   - A Send answers the IDs of what it stored, and their Prevs
//     (store.SendResult); with no deletes, an envelope's Prev is exactly
//     the ID of the one before it in its mailbox. Send.Committed gets that
//     answer once, before Send returns, and never for a duplicate.
//   - The engine's Queue implements store.PushQueue (spec/push.md §2, §3).
//     SetPush checks the target (store.ErrInvalidPush) before it looks
//     for the mailbox. Registration times come back equal to the
//     whole-millisecond times put in, the zero time as the zero time.
//     Registrations, their gens and wake-up state are shared by every
//     store on the database and survive a restart; gens are never reused.
//   - The engine's Queue implements store.Links (spec/relay.md §17;
//     link.go says what the cases rely on).
//   - After Close every method fails with an error matching store.ErrClosed;
//     Close may be called again (the engine's t.Cleanup may call it), with
//     its result ignored.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Option adds optional cases to Run.
type Option func(*config)

type config struct {
	newDB func(t *testing.T) func() store.Queue
}

// WithReopen enables the durability cases and the one of two stores on
// one database at once (AcksAcrossStores). newDB creates a fresh, empty
// underlying database (a file, a schema) for t and returns a function that
// opens a new store on it; the suite opens a store, writes, closes it,
// opens another one on the same database and checks that everything
// answered survived; it also opens two stores on one database at once.
// The stores it opens are closed by the suite; they may also be closed
// again by the engine's cleanup.
func WithReopen(newDB func(t *testing.T) func() store.Queue) Option {
	return func(c *config) { c.newDB = newDB }
}

// Run runs the conformance suite. open must return a new, empty store each
// time it is called (subtests run in parallel, each on its own store) and
// arrange for it to be closed with t.Cleanup. The suite itself may close it
// first.
func Run(t *testing.T, open func(t *testing.T) store.Queue, opts ...Option) {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"OpenMailbox", testOpenMailbox},
		{"SendStatuses", testSendStatuses},
		{"SendIDs", testSendIDs},
		{"SendCommitted", testSendCommitted},
		{"SendAllRefused", testSendAllRefused},
		{"TooLarge", testTooLarge},
		{"QueueFullCount", testQueueFullCount},
		{"QueueFullBytes", testQueueFullBytes},
		{"SendCancelled", testSendCancelled},
		{"FetchOrder", testFetchOrder},
		{"FetchExpired", testFetchExpired},
		{"FetchNoMailbox", testFetchNoMailbox},
		{"Ack", testAck},
		{"IDsNotReused", testIDsNotReused},
		{"Redelivery", testRedelivery},
		{"AckForged", testAckForged},
		{"Dedup", testDedup},
		{"DedupRefused", testDedupRefused},
		{"DedupExpiry", testDedupExpiry},
		{"SpentTokens", testSpentTokens},
		{"AccessOpen", testAccessOpen},
		{"AccessContacts", testAccessContacts},
		{"AccessQueueFull", testAccessQueueFull},
		{"AccessRotation", testAccessRotation},
		{"AccessRefused", testAccessRefused},
		{"Shared", testShared},
		{"SharedMixed", testSharedMixed},
		{"SharedOne", testSharedOne},
		{"SharedQueueFull", testSharedQueueFull},
		{"SharedDedup", testSharedDedup},
		{"SharedExpiry", testSharedExpiry},
		{"SharedConcurrentAcks", testSharedConcurrentAcks},
		{"SharedAccess", testSharedAccess},
		{"Sweep", testSweep},
		{"Wake", testWake},
		{"ConcurrentSends", testConcurrentSends},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
		{"ConcurrentAcks", testConcurrentAcks},
		{"ConcurrentAckMailboxes", testConcurrentAckMailboxes},
		{"ConcurrentCursor", testConcurrentCursor},
		{"Close", testClose},
		{"PushSet", testPushSet},
		{"PushRefused", testPushRefused},
		{"PushNewMail", testPushNewMail},
		{"PushInterval", testPushInterval},
		{"PushWakeDone", testPushWakeDone},
		{"PushWakeFailed", testPushWakeFailed},
		{"PushRemove", testPushRemove},
		{"PushPending", testPushPending},
		{"PushMailKinds", testPushMailKinds},
		{"PushDeepQueue", testPushDeepQueue},
		{"PushConcurrentClaims", testPushConcurrentClaims},
		{"PushClose", testPushClose},
		{"LinkOpen", testLinkOpen},
		{"LinkSend", testLinkSend},
		{"LinkExpiry", testLinkExpiry},
		{"LinkClose", testLinkClose},
		{"LinkCap", testLinkCap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newFixture(t, open(t)))
		})
	}
	t.Run("IDsPerMailbox", func(t *testing.T) {
		t.Parallel()
		testIDsPerMailbox(t, open)
	})
	t.Run("AcksAcrossStores", func(t *testing.T) {
		if c.newDB == nil {
			t.Skip("engine gave no WithReopen")
		}
		t.Parallel()
		testAcksAcrossStores(t, c.newDB(t))
	})
	t.Run("AccessAcrossStores", func(t *testing.T) {
		if c.newDB == nil {
			t.Skip("engine gave no WithReopen")
		}
		t.Parallel()
		testAccessAcrossStores(t, c.newDB(t))
	})
	t.Run("SharedAcrossStores", func(t *testing.T) {
		if c.newDB == nil {
			t.Skip("engine gave no WithReopen")
		}
		t.Parallel()
		testSharedAcrossStores(t, c.newDB(t))
	})
	t.Run("Reopen", func(t *testing.T) {
		if c.newDB == nil {
			t.Skip("engine gave no WithReopen")
		}
		t.Parallel()
		testReopen(t, c.newDB(t))
	})
	t.Run("PushAcrossStores", func(t *testing.T) {
		if c.newDB == nil {
			t.Skip("engine gave no WithReopen")
		}
		t.Parallel()
		testPushAcrossStores(t, c.newDB(t))
	})
	t.Run("LinkAcrossStores", func(t *testing.T) {
		if c.newDB == nil {
			t.Skip("engine gave no WithReopen")
		}
		t.Parallel()
		testLinkAcrossStores(t, c.newDB(t))
	})
	t.Run("PushReopen", func(t *testing.T) {
		if c.newDB == nil {
			t.Skip("engine gave no WithReopen")
		}
		t.Parallel()
		testPushReopen(t, c.newDB(t))
	})
}

// Default limits of the suite's sends.
const (
	maxEnvelope   = 1024
	maxQueueCount = 100
	maxQueueBytes = 1 << 20
)

// fixture is one test's store and the clock it uses.
type fixture struct {
	t   *testing.T
	q   store.Queue
	ctx context.Context
	now time.Time
	ids idSource
}

func newFixture(t *testing.T, q store.Queue) *fixture {
	return &fixture{
		t: t, q: q, ctx: t.Context(),
		now: time.UnixMilli(time.Now().UnixMilli()).UTC(),
	}
}
