package relay

import (
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// Ephemeral sends (spec/relay.md §7.4): typing indicators and presence.
// An item of a SendEphemeral goes, on the reader goroutine, through
//
//	too large? ─► drop (too_large)
//	sender's bucket, then (other accounts only) the pair's bucket empty? ─► drop (rate)
//	recipient connected here? ─► queue a DeliverEphemeral to it, or drop (congested;
//	                             offline if that connection is closing)
//	store shared with other nodes? ─► publish on the bus (or drop: congested)
//	else ─► drop (offline)
//
// Nothing is written to the store, nothing is answered, nothing is kept
// after the item is written to its recipient or dropped.

// maxEphemeralQueued bounds the ephemeral envelopes queued to one
// connection's writer: beyond it, the connection is congested and new
// ones are dropped rather than buffered (spec/relay.md §7.4). With
// envelopes of at most MaxEphemeralEnvelopeCap, at most 1 MiB.
const maxEphemeralQueued = 256

// ephemeralPairs are the buckets of ephemeral items per (sender budget,
// recipient account), in memory (spec/relay.md §7.4, §13).
type ephemeralPairs struct {
	rate, burst int

	mu sync.Mutex
	m  map[pairKey]*bucket
}

func newEphemeralPairs(l Limits) *ephemeralPairs {
	return &ephemeralPairs{rate: l.EphemeralPairRate, burst: l.EphemeralPairBurst, m: make(map[pairKey]*bucket)}
}

// take takes one token from the bucket of (b, to) at now.
func (p *ephemeralPairs) take(b senderBudget, to []byte, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := pairKey{b, string(to)}
	pb := p.m[k]
	if pb == nil {
		pb = &bucket{tokens: float64(p.burst), last: now}
		p.m[k] = pb
	}
	// The bucket's own lock is uncontended: p.mu is held.
	return pb.take(now, p.rate, p.burst)
}

// prune forgets refilled buckets: a new one would be the same.
func (p *ephemeralPairs) prune(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, b := range p.m {
		if b.full(now, p.rate, p.burst) {
			delete(p.m, k)
		}
	}
}

// sendEphemeral handles a SendEphemeral on the reader (spec/relay.md
// §7.4): each item is pushed, published or dropped; nothing is answered
// and the connection stays open whatever becomes of the items.
func (c *conn) sendEphemeral(items []*wire.Item) {
	s := c.s
	s.m.ephemeralReceived(len(items))
	now := time.Now()
	for _, it := range items {
		if len(it.Envelope) > s.lim.MaxEphemeralEnvelope {
			s.m.ephemeral(ephTooLarge)
			continue
		}
		if !c.ebucket.take(now, s.lim.EphemeralPerSecond, s.lim.EphemeralBurst) {
			s.m.ephemeral(ephRate)
			continue
		}
		// The frame was checked (wire.Check): the recipient is an address.
		handle := it.Recipient[1 : 1+int(it.Recipient[0])]
		if string(handle) != c.account && !s.ephPairs.take(c.budget, handle, now) {
			s.m.ephemeral(ephRate)
			continue
		}
		s.routeEphemeral(it.Recipient, it.Envelope)
	}
}

// routeEphemeral pushes env to the connection of addr on this node, or
// publishes it to the other nodes sharing the store, or drops it.
func (s *Server) routeEphemeral(addr, env []byte) {
	s.mu.Lock()
	rc := s.conns[string(addr)]
	s.mu.Unlock()
	switch {
	case rc != nil:
		s.m.ephemeral(rc.pushEphemeral(env, ephLocal))
	case s.bus == nil:
		s.m.ephemeral(ephOffline)
	case s.bus.PublishEphemeral(addr, env):
		s.m.ephemeral(ephPublished)
	default:
		s.m.ephemeral(ephCongested)
	}
}

// ephemeralFromBus pushes the items other nodes publish to their
// recipients' connections on this node; items for devices not connected
// here are another node's, and ignored.
func (s *Server) ephemeralFromBus(items <-chan store.Item) {
	defer s.bgDone.Done()
	for {
		select {
		case <-s.stop:
			return
		case it, ok := <-items:
			if !ok {
				return
			}
			s.mu.Lock()
			rc := s.conns[string(it.Recipient)]
			s.mu.Unlock()
			if rc == nil {
				continue
			}
			if len(it.Envelope) > s.lim.MaxEphemeralEnvelope {
				// A node with a larger limit sent it: this node's
				// clients were told this node's.
				s.m.ephemeral(ephTooLarge)
				continue
			}
			s.m.ephemeral(rc.pushEphemeral(it.Envelope, ephRemote))
		}
	}
}

// pushEphemeral queues env for the writer in a DeliverEphemeral frame,
// joining the last frame queued if it is one with room, and returns ok;
// or ephOffline if the connection is ending, ephCongested if it already
// holds maxEphemeralQueued ephemeral envelopes not yet taken by its
// writer.
func (c *conn) pushEphemeral(env []byte, ok ephOutcome) ephOutcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || !c.authed.Load() {
		return ephOffline
	}
	if c.ephQueued >= maxEphemeralQueued {
		return ephCongested
	}
	size := len(env) + 8 // a bytes field's tag and length take at most 6
	if n := len(c.out); n > 0 && c.ephLast != nil && c.out[n-1].GetDeliverEphemeral() == c.ephLast &&
		len(c.ephLast.Envelopes) < wire.MaxDeliveries && c.ephSize+size <= c.s.lim.MaxFrame {
		c.ephLast.Envelopes = append(c.ephLast.Envelopes, env)
		c.ephSize += size
		c.ephQueued++
		return ok
	}
	if len(c.out) >= maxOutbound {
		return ephCongested
	}
	d := &wire.DeliverEphemeral{Envelopes: [][]byte{env}}
	c.out = append(c.out, &wire.Frame{Body: &wire.Frame_DeliverEphemeral{DeliverEphemeral: d}})
	c.ephLast, c.ephSize = d, 16+size
	c.ephQueued++
	c.startWriter()
	return ok
}
