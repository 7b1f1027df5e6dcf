// Package killpoint names the steps of the client library at which its
// crash tests stop a process (SIGKILL), and lets a test program set the
// hook that does it. Without a hook (every real program), Reach does
// nothing.
package killpoint

import "sync/atomic"

// The steps of a Send (spec/client.md §3.4).
const (
	// SendBeforeQueueCommit: the envelopes are encrypted and written in
	// the queue transaction, which has not committed.
	SendBeforeQueueCommit = "send-before-queue-commit"
	// SendAfterQueueCommit: the queue transaction committed; nothing was
	// handed to the relay.
	SendAfterQueueCommit = "send-after-queue-commit"
	// SendAfterRelayStored: the relay answered stored; the envelope is
	// still in the local queue.
	SendAfterRelayStored = "send-after-relay-stored"
	// SendAfterDelete: the envelope left the local queue; Send has not
	// returned.
	SendAfterDelete = "send-after-delete"
)

// Steps lists the steps of a Send in order.
var Steps = []string{SendBeforeQueueCommit, SendAfterQueueCommit, SendAfterRelayStored, SendAfterDelete}

// The steps of receiving an envelope (spec/client.md §5.2).
const (
	// ReceiveBeforeCommit: a pairwise message's effects (the session, the
	// processed ids, a group change applied to its tracker, the inbox)
	// are written in the receive transaction, which has not committed.
	ReceiveBeforeCommit = "receive-before-commit"
	// ReceiveAfterCommit: the receive transaction committed; for a
	// pairwise message nothing else happened yet (no event reported, no
	// lost group change of this account signed again); the message was
	// not offered to the application and the relay was not acked.
	ReceiveAfterCommit = "receive-after-commit"
	// ReceiveBeforeAck: the application acked the message and it left
	// the inbox; the relay was not acked.
	ReceiveBeforeAck = "receive-before-ack"
	// ReceiveAfterAck: an Ack was written to the relay.
	ReceiveAfterAck = "receive-after-ack"
)

// ReceiveSteps lists the steps of receiving in order.
var ReceiveSteps = []string{ReceiveBeforeCommit, ReceiveAfterCommit, ReceiveBeforeAck, ReceiveAfterAck}

var hook atomic.Pointer[func(step string)]

// Set installs f, called at every step reached (nil removes it).
func Set(f func(step string)) {
	if f == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&f)
}

// Reach reports that the client reached step.
func Reach(step string) {
	if f := hook.Load(); f != nil {
		(*f)(step)
	}
}
