package relay

import "github.com/sealpost/sealpost/relay/wire"

// Drain (spec/push.md §8). A device woken by a push connects, sends
// Drain, and receives Drained once the relay has delivered on this
// connection every envelope its mailbox held when the Drain arrived:
//
//	device                      relay
//	Drain             ->        drains++, fetch
//	                  <-        Deliver ... (fetches until one comes back
//	                            short of the window: the store held no more)
//	                  <-        Drained (one per Drain counted before that
//	                            fetch began, after its Deliver frames)
//
// A fetch that began after the Drain and returned fewer envelopes than it
// asked for saw everything the mailbox held then, including all it held
// when the Drain arrived; its envelopes are written before the Drained.
// When the delivery window is full the fetch waits for acks, so a client
// that does not ack is never told it is drained.

// maxDrains bounds the Drain frames of a connection waiting for their
// answer; one more is refused with rate_limited. Each costs a fetch.
const maxDrains = 8

// drain handles a Drain frame; false ends the reader.
func (c *conn) drain() bool {
	c.mu.Lock()
	if c.drains >= maxDrains {
		c.mu.Unlock()
		c.fail(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, "too many Drain frames waiting")
		return false
	}
	if !c.closing {
		c.drains++
		c.fetch = true
		c.startWriter()
	}
	c.mu.Unlock()
	return true
}

// drained answers n Drains: the writer has just written the envelopes of
// a fetch that found nothing more in the store.
// It queues them without waiting for room in c.out (the writer, which
// empties it, is the caller) and never drops them.
func (c *conn) drained(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drains -= n
	if c.closed {
		return
	}
	for range n {
		c.out = append(c.out, &wire.Frame{Body: &wire.Frame_Drained{Drained: &wire.Drained{}}})
	}
	c.s.m.drained(n)
}
