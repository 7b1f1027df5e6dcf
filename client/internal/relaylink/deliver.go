package relaylink

import (
	"context"
	"time"

	"github.com/sealpost/sealpost/client/internal/killpoint"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// deliverLoop hands the deliveries of each connection to Config.Deliver,
// one at a time in the relay's order, and acks those it took
// (spec/relay.md §8.3: ack only what the client has durably processed).
func (l *Link) deliverLoop() {
	defer l.loops.Done()
	// acks holds ids Deliver took and the relay was not yet told about.
	// Envelope ids name envelopes of the mailbox, not of a connection
	// (spec/relay.md §8.1), so those left when a connection ends are acked
	// on the next one.
	var acks []uint64
	for {
		c, hello, err := l.current(l.ctx)
		if err != nil {
			return
		}
		// Ack before half the delivery window is waiting on us, so that the
		// relay can keep pushing while Deliver works (spec/relay.md §8.2).
		batch := min(max(int(hello.GetLimits().GetDeliveryWindow())/2, 1), wire.MaxAckIDs)
		acks = l.ack(c, acks)
		// taken counts the deliveries of c passed to Deliver; once their
		// acks are written, Drain hears of it (spec/push.md §8.2).
		var taken uint64
		l.setAcked(c, 0)
		for d := range c.Deliveries() {
			if !l.deliver(c, d) {
				break
			}
			taken++
			acks = append(acks, d.Id)
			if len(acks) >= batch || len(c.Deliveries()) == 0 {
				if acks = l.ack(c, acks); len(acks) == 0 {
					l.setAcked(c, taken)
				}
			}
		}
		if len(acks) > maxCarriedAcks {
			acks = acks[len(acks)-maxCarriedAcks:]
		}
		select {
		case <-c.Done():
		case <-l.ctx.Done():
			return
		}
	}
}

// deliver calls Deliver with d until it returns nil (true), waiting with
// backoff between tries. It gives up (false) when the link closes, or when
// the connection ends: the relay delivers d again on the next one.
func (l *Link) deliver(c *relayclient.Conn, d *wire.Delivery) bool {
	for n := 0; ; n++ {
		err := l.cfg.Deliver(l.ctx, d)
		if err == nil {
			return true
		}
		if l.ctx.Err() != nil {
			return false
		}
		wait := jitter(l.cfg.MinBackoff, min(l.cfg.MaxBackoff, maxDeliverBackoff), n)
		l.log.Warn("relaylink: delivery not taken, retrying", "id", d.Id, "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-c.Done():
			return false
		case <-l.ctx.Done():
			return false
		}
	}
}

// ack acks ids on c and returns what is left to ack: nothing, or all of
// ids if the Ack could not be written (a lost ack only causes a
// redelivery, spec/relay.md §10).
func (l *Link) ack(c *relayclient.Conn, ids []uint64) []uint64 {
	if len(ids) == 0 {
		return ids
	}
	ctx, cancel := context.WithTimeout(l.ctx, ackTimeout)
	defer cancel()
	if err := c.Ack(ctx, ids...); err != nil {
		l.log.Debug("relaylink: ack not sent, keeping it for the next connection", "err", err)
		return ids
	}
	killpoint.Reach(killpoint.ReceiveAfterAck)
	return ids[:0]
}
