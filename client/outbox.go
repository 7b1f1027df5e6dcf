package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/internal/killpoint"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
	"github.com/sealpost/sealpost/relay/wire"
)

// The outbox: one FIFO queue per recipient device, persisted in the
// outgoing table in seq order, and at most one goroutine (a lane) per
// device handing its queue to the relay, one envelope at a time
// (spec/client.md §3.3).
//
// Why one at a time: the relay runs each Send of a connection beside the
// reader, concurrently with the others, and stores it when the store call
// returns (relay/send.go, relay/conn.go: up to 64 in flight per
// connection); two Sends pipelined on one connection may commit, and so
// be numbered and delivered, in either order. The only order the relay
// promises is that of its commits, which it answers after. So envelope
// N+1 to a device goes out only after the relay answered envelope N.
//
//	Send ──► encryptAndQueue (one transaction: sent record, sessions, rows)
//	     ──► kick the lanes of its rows ──► await the rows' outcomes
//	flush (after a connect, every 30 s) ──► kick every device's lane
//	lane(device): loop { head = oldest row of the device
//	                     none ──► end (unless kicked meanwhile)
//	                     send head under its relay id, waiting for a
//	                       connection and retrying on the next one
//	                     stored / refused ──► delete the row (record the
//	                       refusal) in one transaction, tell the watchers
//	                     quota, unknown status, revoked, store failure ──►
//	                       halt: the row stays at the head, the watchers of
//	                       the device's rows are told, the lane ends }

// laneKey names one recipient device's queue.
type laneKey struct {
	handle string
	device uint32
}

// lane is the state of a running lane, under c.mu.
type lane struct {
	again bool // kicked since the lane last found its queue empty
}

// watch is one Send waiting for the outcome of its message's rows.
type watch struct {
	id      MessageID
	changed chan struct{} // signalled on every change below

	mu      sync.Mutex
	done    map[laneKey]bool  // rows that left the queue (stored or refused)
	refused bool              // one of them was refused
	halted  map[laneKey]error // lanes that halted, with why
}

func (w *watch) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// watch registers a watcher for msgID's rows.
func (c *Client) watch(msgID MessageID) *watch {
	w := &watch{id: msgID, changed: make(chan struct{}, 1), done: map[laneKey]bool{}, halted: map[laneKey]error{}}
	c.mu.Lock()
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	return w
}

func (c *Client) unwatch(w *watch) {
	c.mu.Lock()
	delete(c.watches, w)
	c.mu.Unlock()
}

// await kicks the lanes of rows and waits until each row left the queue
// or its lane halted, or ctx ends. Then the error wraps ErrQueued; else a
// *SendError names the devices the relay refused msgID for, if any. all
// says that rows are all the message's rows (a new message): then the
// store is asked for refusals only if the watch saw one.
func (c *Client) await(ctx context.Context, w *watch, rows []laneKey, all bool) error {
	// A lane that halted before these kicks is started again by them:
	// only what it does from now on counts.
	w.mu.Lock()
	clear(w.halted)
	w.mu.Unlock()
	for _, k := range rows {
		c.kick(k)
	}
	for {
		pending, failed := false, error(nil)
		w.mu.Lock()
		for _, k := range rows {
			if w.done[k] {
				continue
			}
			if err := w.halted[k]; err != nil {
				failed = err
				continue
			}
			pending = true
		}
		w.mu.Unlock()
		if failed != nil && !pending {
			return fmt.Errorf("%w: %w", ErrQueued, failed)
		}
		if !pending {
			break
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: client: sending to the relay: %w", ErrQueued, ctx.Err())
		}
	}
	w.mu.Lock()
	sawRefusal := w.refused
	w.mu.Unlock()
	if all && !sawRefusal {
		return nil
	}
	var refused []localstore.Refused
	err := c.store.View(context.WithoutCancel(ctx), func(tx localstore.Tx) error {
		var err error
		refused, err = tx.RefusedFor(w.id[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrQueued, storeError(err))
	}
	if len(refused) == 0 {
		return nil
	}
	serr := &SendError{ID: w.id}
	for _, r := range refused {
		serr.Refused = append(serr.Refused, RefusedDevice{r.Recipient, r.Device, refusedReason(wire.Status(r.Status))})
	}
	return serr
}

// refusedReason is RefusedDevice.Reason for a relay status.
func refusedReason(st wire.Status) string {
	switch st {
	case wire.Status_STATUS_NO_MAILBOX:
		return "no mailbox"
	case wire.Status_STATUS_QUEUE_FULL:
		return "queue full"
	case wire.Status_STATUS_TOO_LARGE:
		return "too large"
	case wire.Status_STATUS_ACCESS_DENIED:
		return "access denied"
	case wire.Status_STATUS_QUOTA:
		return "quota"
	}
	return "malformed"
}

// kick makes sure device k's lane runs and looks at its queue again.
func (c *Client) kick(k laneKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Close sets closed before it waits for wg: no Add after that.
	if c.closed {
		return
	}
	if l := c.lanes[k]; l != nil {
		l.again = true
		return
	}
	c.lanes[k] = &lane{}
	c.wg.Add(1)
	go c.runLane(k)
}

// retire ends lane k, which found its queue empty, unless it was kicked
// since it read the queue: then it reads again (false).
func (c *Client) retire(k laneKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.lanes[k]; l != nil && l.again {
		l.again = false
		return false
	}
	delete(c.lanes, k)
	return true
}

// halt ends lane k, whose head stays queued, and tells the watchers.
func (c *Client) halt(k laneKey, err error) {
	c.mu.Lock()
	delete(c.lanes, k)
	ws := make([]*watch, 0, len(c.watches))
	for w := range c.watches {
		ws = append(ws, w)
	}
	c.mu.Unlock()
	if c.ctx.Err() != nil {
		return // closing: the Sends waiting are cancelled
	}
	for _, w := range ws {
		w.mu.Lock()
		w.halted[k] = err
		w.mu.Unlock()
		w.signal()
	}
}

// resolved tells msgID's watchers that its row for k left the queue,
// refused or not.
func (c *Client) resolved(msgID MessageID, k laneKey, refused bool) {
	c.mu.Lock()
	var ws []*watch
	for w := range c.watches {
		if w.id == msgID {
			ws = append(ws, w)
		}
	}
	c.mu.Unlock()
	for _, w := range ws {
		w.mu.Lock()
		w.done[k] = true
		w.refused = w.refused || refused
		w.mu.Unlock()
		w.signal()
	}
}

// runLane hands device k's queue to the relay, oldest envelope first, one
// at a time, until the queue is empty, a head cannot be sent now (halt),
// or the client closes.
func (c *Client) runLane(k laneKey) {
	defer c.wg.Done()
	for {
		if c.ctx.Err() != nil {
			c.halt(k, ErrClosed)
			return
		}
		var head localstore.Outgoing
		err := c.store.View(c.ctx, func(tx localstore.Tx) error {
			var err error
			head, err = tx.OutgoingHead(k.handle, k.device)
			return err
		})
		if errors.Is(err, localstore.ErrNotFound) {
			if c.retire(k) {
				return
			}
			continue
		}
		msgID, ok := toMessageID(head.MessageID)
		if err == nil && !ok {
			err = fmt.Errorf("%w: outgoing message id of %d bytes", localstore.ErrCorrupt, len(head.MessageID))
		}
		if errors.Is(err, localstore.ErrCorrupt) {
			// A row that does not open (the store was damaged): it can
			// never be sent; do not let it block the device's queue.
			c.log.Warn("client: dropping an unreadable queued envelope", "err", err)
			if err = c.dropHead(k); err == nil {
				continue
			}
		}
		if err != nil {
			if c.ctx.Err() == nil {
				c.log.Warn("client: reading the outgoing queue", "err", err)
			}
			c.halt(k, storeError(err))
			return
		}
		if err := c.sendHead(k, msgID, head); err != nil {
			if c.ctx.Err() == nil {
				c.log.Info("client: queued message not sent yet", "message", msgID.String(), "err", err)
			}
			c.halt(k, err)
			return
		}
	}
}

// dropHead deletes device k's oldest queued row, whatever it holds.
func (c *Client) dropHead(k laneKey) error {
	return storeError(c.store.Update(c.ctx, func(tx localstore.Tx) error {
		return tx.DropOutgoingHead(k.handle, k.device)
	}))
}

// sendHead hands the head of device k's queue to the relay and records the
// answer (spec/client.md §3.3): stored or refused for good, the row leaves
// the queue (a refusal is recorded with the message); otherwise it stays
// and the error says why.
func (c *Client) sendHead(k laneKey, msgID MessageID, o localstore.Outgoing) error {
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	if link == nil {
		return ErrNotRegistered
	}
	item := &wire.Item{Recipient: wire.FormatAddress(o.Recipient, o.Device), Envelope: o.Envelope}
	var (
		st  wire.Status
		err error
	)
	if c.cfg.SendMode == SendAnonymous && o.Recipient != c.Handle() {
		// Another account's device: on the anonymous connection, paid
		// with a send token (spec/client.md §13.3).
		st, err = c.sendAnonymous(c.ctx, relaySendID(msgID, o.Recipient, o.Device), &o, item)
		if errors.Is(err, ErrNoSendTokens) {
			c.emit(Event{Kind: EventAnonymousStalled, Handle: o.Recipient, Err: err})
		}
	} else {
		t0 := time.Now()
		st, err = sendOne(c.ctx, link, relaySendID(msgID, o.Recipient, o.Device), item)
		c.debugSince("relay round trip", t0)
	}
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		// Over the relay's frame cap: it will never take it.
		st, err = wire.Status_STATUS_TOO_LARGE, nil
	case errors.Is(err, wire.ErrMalformed):
		st, err = wire.Status_STATUS_UNSPECIFIED, nil
	case errors.Is(err, relaylink.ErrClosed):
		err = ErrClosed
	case errors.Is(err, relaylink.ErrRevoked):
		err = fmt.Errorf("%w: %w", ErrDeviceRevoked, err)
	}
	var fail error
	switch {
	case err != nil:
		fail = fmt.Errorf("client: sending to the relay: %w", err)
	case st == wire.Status_STATUS_QUOTA:
		// Still over quota after waiting: it stays at the head; the queue
		// flush sends it again (spec/client.md §3.3).
		fail = fmt.Errorf("%w toward %s", errQuota, o.Recipient)
	case st == wire.Status_STATUS_STORED:
		killpoint.Reach(killpoint.SendAfterRelayStored)
	case st == wire.Status_STATUS_NO_MAILBOX, st == wire.Status_STATUS_QUEUE_FULL, st == wire.Status_STATUS_TOO_LARGE, st == wire.Status_STATUS_UNSPECIFIED,
		st == wire.Status_STATUS_ACCESS_DENIED:
	default:
		fail = fmt.Errorf("client: the relay answered unknown status %d", st)
	}
	t0 := time.Now()
	defer c.debugSince("recording the relay's answer", t0)
	err = c.store.Update(context.WithoutCancel(c.ctx), func(tx localstore.Tx) error {
		if fail != nil {
			if err := tx.RecordAttempt(o.MessageID, o.Recipient, o.Device); err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
			return nil
		}
		if st != wire.Status_STATUS_STORED {
			if err := tx.PutRefused(o.MessageID, localstore.Refused{Recipient: o.Recipient, Device: o.Device, Status: int(st)}); err != nil {
				return err
			}
		}
		if err := tx.DeleteOutgoing(o.MessageID, o.Recipient, o.Device); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		return nil
	})
	if fail != nil {
		return fail
	}
	if err != nil {
		return storeError(err)
	}
	killpoint.Reach(killpoint.SendAfterDelete)
	if st != wire.Status_STATUS_STORED {
		c.log.Warn("client: the relay refused a queued envelope", "message", msgID.String(), "reason", refusedReason(st))
	}
	c.resolved(msgID, k, st != wire.Status_STATUS_STORED)
	return nil
}

// flushQueue starts the lane of every device with queued envelopes; it
// runs after each connection to the relay and periodically
// (spec/client.md §3.3). Lanes already running carry on.
func (c *Client) flushQueue(ctx context.Context) {
	var devs []localstore.Device
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		devs, err = tx.OutgoingDevices()
		return err
	}); err != nil {
		if ctx.Err() == nil {
			c.log.Warn("client: reading the outgoing queue", "err", err)
		}
		return
	}
	for _, d := range devs {
		c.kick(laneKey{d.Handle, d.Device})
	}
}
