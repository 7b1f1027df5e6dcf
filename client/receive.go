package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/internal/killpoint"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/ratchet"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/relay/wire"
)

// errNoSession reports a message from a device this device has no session
// with that does not start one.
var errNoSession = errors.New("client: no session with the sender and the message does not start one")

// envelopeID is the id under which a received envelope is recorded as
// processed and its message kept in the inbox: SHA-256 of the envelope
// (spec/client.md §5.1). It does not depend on the relay.
func envelopeID(env []byte) []byte {
	h := sha256.Sum256(env)
	return h[:]
}

// seenLabel separates the ids of received messages from envelope ids
// (spec/client.md §5.1).
const seenLabel = "sealpost/v1/message-seen"

// seenID is the id under which a received message is recorded as
// processed, beside its envelope's id:
// SHA-256(label || 0x00 || u8 len(sender) || sender || message id)
// (spec/client.md §5.1 step 6). sender is the verified sending account's
// handle (at most 32 bytes).
func seenID(sender string, msgID MessageID) []byte {
	h := sha256.New()
	h.Write([]byte(seenLabel))
	h.Write([]byte{0, byte(len(sender))})
	h.Write([]byte(sender))
	h.Write(msgID[:])
	return h.Sum(nil)
}

// deliver is the relay link's delivery callback (spec/client.md §5.2):
// process the envelope (once), hand its message to the application, and
// only then return nil so that the link acks it. An error means "try
// again later" (a network error while checking the sender); everything
// that will never succeed is dropped, reported, and acked.
func (c *Client) deliver(ctx context.Context, d *wire.Delivery) error {
	select {
	case <-c.inboxDrained:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A Sync running, or starting while a message waits to be taken,
	// turns the hand-over to the inbox (spec/client.md §16.2).
	_, started := c.sync.watch()
	ms, err := c.receive(ctx, d.Envelope)
	if err != nil {
		return err
	}
	// Reached by receive's own commit too; here for a group message's.
	killpoint.Reach(killpoint.ReceiveAfterCommit)
	if c.deferHandOver(len(ms) > 0, false) {
		// Stored in the inbox: handed over from there, after those
		// before it; the relay is acked now.
		killpoint.Reach(killpoint.ReceiveBeforeAck)
		return nil
	}
	for _, m := range ms {
		err := c.handOver(ctx, m, started)
		if errors.Is(err, errSyncStarted) {
			// Not taken: it and the rest wait in the inbox.
			c.deferHandOver(true, true)
			break
		}
		if err != nil {
			return err
		}
	}
	killpoint.Reach(killpoint.ReceiveBeforeAck)
	return nil
}

// receive processes one envelope and returns the inbox message to hand to
// the application, or nil if there is none (processed before and handed
// over, or dropped).
func (c *Client) receive(ctx context.Context, env []byte) ([]*localstore.InboxMessage, error) {
	id, err := c.registered()
	if err != nil {
		return nil, err
	}
	envID := envelopeID(env)
	var (
		done bool
		prev []*localstore.InboxMessage
	)
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		if done, err = tx.IsProcessed(envID); err != nil || !done {
			return err
		}
		m, err := tx.Inbox(envID)
		if err == nil && m.Held {
			return nil
		}
		if err == nil {
			prev = append(prev, &m)
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		// And what its arrival released (spec/client.md §12.3).
		for i := 0; ; i++ {
			x, err := tx.Inbox(heldInboxID(envID, i))
			if errors.Is(err, localstore.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			prev = append(prev, &x)
		}
	})
	if errors.Is(err, localstore.ErrCorrupt) && done {
		// The stored message does not open (the store was damaged):
		// it cannot be shown; do not let it block every later one.
		c.emit(Event{Kind: EventEnvelopeDropped, Err: storeError(err)})
		err = c.store.Update(ctx, func(tx localstore.Tx) error {
			if err := tx.DeleteInbox(envID); err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
			return nil
		})
		return nil, storeError(err)
	}
	if err != nil {
		return nil, storeError(err)
	}
	if done {
		// Processed before a crash or a lost ack: hand over the stored
		// message if the application has not taken it yet (a held one
		// waits for the user, spec/client.md §6.2).
		return prev, nil
	}
	if len(env) > 0 && env[0] == groupBodyPrefix {
		// A group message (spec/groups.md §8.3): not a sealed envelope.
		return c.receiveGroup(ctx, id, envID, env)
	}

	dk, release, err := id.deviceKeys()
	if err != nil {
		return nil, err
	}
	defer release()
	// Version 1 or 2 (spec/seal.md §10): a version 2 envelope names the
	// last-resort KEM prekey it was sealed to.
	var (
		lp        lockedPrekeys
		lookupErr error
	)
	opened, err := seal.OpenHybrid(dk, c.kemKeys(ctx, &lp, &lookupErr), env)
	lp.destroy()
	if lookupErr != nil {
		// The store did not answer: not a reason to drop what the relay
		// delivered; it is delivered again.
		return nil, storeError(lookupErr)
	}
	if err != nil {
		return nil, c.drop(ctx, envID, "", 0, err)
	}
	sender := opened.Sender
	handle, device := sender.Handle, uint32(sender.Device)
	if err := c.checkSender(ctx, id, sender); err != nil {
		// Dropped only when a verified key set (or the key server's
		// word that the account does not exist) says the sender is not
		// who it claims. A key server that fails a check (ErrSecurity)
		// or cannot be reached must not make this device throw away
		// what the relay delivered: try again later (spec/client.md
		// §5.1 step 3).
		if errors.Is(err, ErrUnknownHandle) && c.knownAccount(ctx, id, handle) {
			// The key server denies an account this device knows: keep
			// the envelope (not recorded, not acked) and try again
			// later (spec/client.md §5.1 step 3).
			if c.trust.reportOnce("unknown:" + handle) {
				c.emit(Event{Kind: EventSecurity, Handle: handle, Err: fmt.Errorf("%w: %w: the key server denies %s, an account this device knows; its messages wait", ErrSecurity, err, handle)})
			}
			return nil, err
		}
		if errors.Is(err, ErrUnknownHandle) || errors.Is(err, errUnknownDevice) {
			return nil, c.drop(ctx, envID, handle, device, err)
		}
		return nil, err
	}
	c.trust.resolved("unknown:" + handle)

	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	var (
		out     []*localstore.InboxMessage
		dropErr error
		used    *sessionStart
		dup     bool
		events  []Event
		follow  []groupFollowUp
		freed   []*localstore.InboxMessage
		syncs   received
	)
	now := time.Now()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		out, dropErr, used, dup, events, follow, freed, syncs = nil, nil, nil, false, nil, nil, nil, received{}
		rec, err := c.loadRecord(tx, handle, sender.Device)
		if err != nil {
			return err
		}
		pt, rec, u, err := c.decrypt(tx, dk, id, sender, opened.Message, rec)
		if err != nil {
			// Nothing changed: the session stays as it was
			// (spec/ratchet.md §5).
			dropErr = err
			_, err := tx.MarkProcessed(envID, now)
			return err
		}
		defer rec.destroy()
		defer clear(pt)
		used = u
		state := rec.marshal()
		err = tx.PutSession(localstore.Session{PeerHandle: handle, PeerDevice: device, State: state, Updated: now})
		clear(state)
		if err != nil {
			return err
		}
		if err := used.commit(tx, now); err != nil {
			return err
		}
		if _, err := tx.MarkProcessed(envID, now); err != nil {
			return err
		}
		p, err := parsePayload(pt)
		if err == nil {
			err = checkPayload(p, id.handle, handle)
		}
		if err != nil {
			// The session advanced (the message authenticated) but
			// what it carries is not a message this device accepts.
			dropErr = err
			return nil
		}
		// One message per sending account and message id, whatever
		// the envelope (spec/client.md §5.1 step 6): a sender that
		// encrypted it again shows nothing new.
		fresh, err := tx.MarkProcessed(seenID(handle, p.id), now)
		if err != nil {
			return err
		}
		if !fresh {
			dup = true
			return nil
		}
		if handle == id.handle {
			// Devices.LastSeen (spec/client.md §17.4).
			if err := tx.SeeDevice(device, p.sent); err != nil {
				return err
			}
		}
		m := localstore.InboxMessage{ID: envID, Sender: handle, SenderDevice: device, Time: now, Plaintext: pt}
		if handle != id.handle {
			// spec/client.md §13.7: a blocked account's messages are
			// dropped; its session advanced like any other's.
			blocked, err := tx.Blocked(handle)
			if err != nil {
				return err
			}
			if blocked {
				dropErr = errBlocked
				return nil
			}
			// Under an account key the user has not accepted: marked,
			// and held for a verified contact (spec/client.md §6.2).
			ct, err := tx.Contact(handle)
			if err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
			if err == nil && ct.AccountKey != sender.AccountKey {
				m.KeyChanged, m.Held = true, ct.Verified
			}
		}
		if m.Held {
			// Applied to the history, like its content, only when
			// released (spec/client.md §12.1).
			_, err := tx.PutInbox(m)
			return err
		}
		if p.content != nil && len(p.content.GetAccessKey()) != 0 {
			// The key is the transport's, not the message's: recorded for
			// the sending device of another account, then taken out of
			// what the history and the application see (spec/client.md
			// §13.6).
			if handle != id.handle {
				if err := tx.PutPeerAccessKey(handle, device, p.content.GetAccessKey(), now); err != nil {
					return err
				}
			}
			if p.content.Kind() != content.KindAccess {
				if err := stripAccessKey(p); err != nil {
					return err
				}
				pt = p.marshal()
				defer clear(pt)
				m.Plaintext = pt
			}
		}
		rcv, err := c.applyReceived(tx, id, envID, p, handle, device, now)
		if err != nil {
			return err
		}
		killpoint.Reach(killpoint.ReceiveBeforeCommit)
		events, follow, freed = rcv.events, rcv.followUps, rcv.released
		syncs = received{syncs: rcv.syncs, accessUpdates: rcv.accessUpdates, accessChanged: rcv.accessChanged}
		if !rcv.offer {
			return nil
		}
		if _, err := tx.PutInbox(m); err != nil {
			return err
		}
		for _, x := range rcv.extra {
			// Reactions, edits and deletes its arrival released
			// (spec/client.md §12.3), offered after it.
			if _, err := tx.PutInbox(x); err != nil {
				return err
			}
		}
		m.Plaintext = append([]byte(nil), pt...)
		out = append(out, &m)
		for i := range rcv.extra {
			x := rcv.extra[i]
			x.Plaintext = append([]byte(nil), x.Plaintext...)
			out = append(out, &x)
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	killpoint.Reach(killpoint.ReceiveAfterCommit)
	if dup {
		// Not an error: the sender sent it again (spec/client.md §3.4).
		c.log.Debug("client: second copy of a message dropped")
	}
	if dropErr != nil {
		c.emit(Event{Kind: EventEnvelopeDropped, Handle: handle, Device: device, Err: dropErr})
		c.log.Debug("client: envelope dropped", "err", dropErr)
		return nil, nil
	}
	c.groupFollowUps(follow)
	c.syncFollowUps(&syncs)
	for _, ev := range events {
		c.emit(ev)
	}
	if used.usedOneTime() {
		c.kickMaintenance()
	}
	// Group messages held for a chain this message distributed
	// (spec/client.md §14.4), handed over after it.
	return append(out, freed...), nil
}

// errUnknownDevice reports a sender certificate that its account does not
// list as an active device.
var errUnknownDevice = errors.New("client: the sender's device is not an active device of its account")

// checkSender checks that the certificate in the envelope is an active
// device of the account it names, in the verified key set
// (spec/client.md §5.1 step 3): looked up again once if the cached key
// set does not have it (a device added since).
func (c *Client) checkSender(ctx context.Context, id *identity, cert *keys.DeviceCertificate) error {
	raw := cert.Marshal()
	for _, fresh := range []bool{false, true} {
		d, err := c.lookup(ctx, cert.Handle, fresh)
		if err != nil {
			return err
		}
		if cert.Handle == id.handle {
			if err := c.checkOwn(d); err != nil {
				return err
			}
		} else if err := c.observe(ctx, d); err != nil && !errors.Is(err, ErrKeyChanged) {
			// A changed account key does not stop receiving: the
			// message is from the key set the log holds; it is marked
			// or held (spec/client.md §6.2), and the event told the
			// application.
			return err
		}
		if d.findActive(raw, cert.Device) != nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s device %d", errUnknownDevice, cert.Handle, cert.Device)
}

// checkPayload checks that a decrypted payload is one this device
// accepts from sender (spec/client.md §2.2).
func checkPayload(p *payload, self, sender string) error {
	switch {
	case p.kind == kindMessage && sender != self && p.to == self:
		return nil
	case p.kind == kindSentCopy && sender == self:
		return nil
	}
	return errBadPayload
}

// decrypt decrypts a ratchet message from sender: with the session record
// if one of its states can, else, if the message starts a session, with a
// new responder session pushed onto the record (spec/client.md §4.2). It
// returns the plaintext, the record to store and, for a new session, what
// it used (to commit with it). On error nothing has changed.
func (c *Client) decrypt(tx localstore.Tx, dk *keys.DevicePrivateKeys, id *identity, sender *keys.DeviceCertificate, msg []byte, rec *sessionRecord) ([]byte, *sessionRecord, *sessionStart, error) {
	var firstErr error
	if rec != nil {
		pt, err := rec.decrypt(msg)
		if err == nil {
			return pt, rec, nil, nil
		}
		firstErr = err
	}
	initial, ok, err := ratchet.InitialMessage(msg)
	if err != nil || !ok {
		if rec != nil {
			rec.destroy()
		}
		if err == nil {
			err = firstErr
		}
		if err == nil {
			err = errNoSession
		}
		return nil, nil, nil, err
	}
	st, used, err := c.respond(tx, dk, id, sender, initial)
	if err != nil {
		if rec != nil {
			rec.destroy()
		}
		return nil, nil, nil, err
	}
	pt, err := st.Decrypt(msg)
	if err != nil {
		st.Destroy()
		if rec != nil {
			rec.destroy()
		}
		return nil, nil, nil, err
	}
	if rec == nil {
		rec = &sessionRecord{}
	}
	rec.push(st)
	return pt, rec, used, nil
}

// drop records an envelope that will never be readable as processed and
// reports it (spec/client.md §5.1): the relay is then told to forget it.
func (c *Client) drop(ctx context.Context, envID []byte, handle string, device uint32, why error) error {
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		_, err := tx.MarkProcessed(envID, time.Now())
		return err
	})
	if err != nil {
		return storeError(err)
	}
	c.emit(Event{Kind: EventEnvelopeDropped, Handle: handle, Device: device, Err: why})
	// The sender is hidden from the relay: it stays out of the logs too.
	c.log.Debug("client: envelope dropped", "err", why)
	return nil
}

// handOver offers a stored message to the application and, once the
// application has acked it, deletes it from the inbox (spec/client.md
// §5.2).
//
// A message not yet taken when abandon closes (a Sync started) is left in
// the inbox: errSyncStarted. abandon may be nil.
func (c *Client) handOver(ctx context.Context, im *localstore.InboxMessage, abandon <-chan struct{}) error {
	c.trust.handMu.Lock()
	defer c.trust.handMu.Unlock()
	return c.handOverLocked(ctx, im, abandon)
}

// handOverLocked is handOver; the caller holds handMu.
func (c *Client) handOverLocked(ctx context.Context, im *localstore.InboxMessage, abandon <-chan struct{}) error {
	m, err := inboxToMessage(im)
	if err != nil {
		// A stored message that does not parse: the store is damaged.
		// Drop it rather than block every later message.
		c.log.Warn("client: dropping an unreadable stored message", "err", err)
	} else {
		m.onAck = func() { c.acksPending.Add(1) }
		m.conversation = m.From
		if m.Sent {
			m.conversation = m.To
		}
		if m.shown {
			c.store.View(ctx, func(tx localstore.Tx) error {
				if row, err := tx.History(m.conversation, m.ID[:]); err == nil {
					m.Timer = time.Duration(row.Timer) * time.Second
				}
				return nil
			})
		}
		select {
		case c.messages <- m:
		case <-ctx.Done():
			return ctx.Err()
		case <-abandon:
			return errSyncStarted
		}
		select {
		case <-m.acked:
		case <-ctx.Done():
			select {
			case <-m.acked: // acked just before Close: keep the ack
			default:
				return ctx.Err()
			}
		}
	}
	receipt := false
	err = c.store.Update(context.WithoutCancel(ctx), func(tx localstore.Tx) error {
		receipt = false
		err := tx.DeleteInbox(im.ID)
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		if err != nil || m == nil || !m.shown {
			return err
		}
		// Acked: displayed or kept by the application. Its timer starts
		// (spec/client.md §12.5) and, unless turned off, the sender gets
		// a delivery receipt (§12.2).
		now := time.Now()
		row, err := tx.History(m.conversation, m.ID[:])
		if err == nil && startTimer(&row, now) {
			err = tx.UpdateHistory(row)
		}
		if err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if m.Sent || m.From == c.Handle() || c.cfg.NoDeliveryReceipts || m.Group != (GroupID{}) {
			return nil
		}
		receipt = true
		return tx.QueueReceipt(m.From, localstore.ReceiptDelivered, m.ID[:], now)
	})
	if m != nil {
		// Acked (a message that was not did not get here): its commit,
		// and the receipt it queued, are done.
		c.acksPending.Add(-1)
	}
	if receipt {
		c.kickReceipts()
	}
	if err == nil {
		c.kickExpiry()
	}
	return storeError(err)
}

// inboxToMessage turns a stored inbox row (whose plaintext is the payload)
// into the application's Message.
func inboxToMessage(im *localstore.InboxMessage) (*Message, error) {
	p, err := parseAnyPayload(im.Plaintext)
	if err != nil {
		return nil, err
	}
	m := &Message{
		ID:         p.id,
		From:       im.Sender,
		FromDevice: im.SenderDevice,
		To:         p.to,
		Sent:       p.kind == kindSentCopy,
		Time:       p.sent,
		Received:   im.Time,
		KeyChanged: im.KeyChanged,
		Content:    p.content,
		shown:      shown(p),
		acked:      make(chan struct{}),
	}
	if p.kind == kindGroup {
		// A group message: to the group, not to an account.
		m.To, m.Group = "", GroupID(p.content.GetGroup().GetGroupId())
	}
	switch {
	case p.content == nil:
		m.Plaintext = append([]byte(nil), p.body...)
	case p.content.Kind() == content.KindText:
		m.Plaintext = []byte(p.content.GetText().GetBody())
	}
	clear(im.Plaintext)
	return m, nil
}

// drainInbox hands over the messages a previous run stored but the
// application did not take, before any new one (spec/client.md §5.3).
func (c *Client) drainInbox() {
	defer c.wg.Done()
	defer close(c.inboxDrained)
	for {
		var batch []localstore.InboxMessage
		err := c.store.View(c.ctx, func(tx localstore.Tx) error {
			var err error
			batch, err = tx.Undelivered(64)
			return err
		})
		if err != nil || len(batch) == 0 {
			if err != nil && c.ctx.Err() == nil {
				c.log.Warn("client: reading the inbox", "err", err)
			}
			return
		}
		for i := range batch {
			syncing, started := c.sync.watch()
			if syncing {
				started = closedChan
			}
			err := c.handOver(c.ctx, &batch[i], started)
			if errors.Is(err, errSyncStarted) {
				// A Sync runs: the rest is handed over from the inbox
				// after it stored what it receives, in order.
				c.deferHandOver(true, true)
				return
			}
			if err != nil {
				return
			}
		}
	}
}

// offerReleased hands over messages released from hold (the user
// verified or accepted the sender's new key), in their order, after the
// inbox of an earlier run (spec/client.md §6.2). A message no longer in
// the inbox (handed over meanwhile) is skipped; one not handed over before
// Close is offered after the next Open.
func (c *Client) offerReleased(ms []localstore.InboxMessage) {
	if len(ms) == 0 {
		return
	}
	c.background(func() {
		select {
		case <-c.inboxDrained:
		case <-c.ctx.Done():
			return
		}
		for i := range ms {
			err := func() error {
				c.trust.handMu.Lock()
				defer c.trust.handMu.Unlock()
				stored := false
				err := c.store.View(c.ctx, func(tx localstore.Tx) error {
					m, err := tx.Inbox(ms[i].ID)
					stored = err == nil && !m.Held
					return nil
				})
				if err != nil || !stored {
					return err
				}
				return c.handOverLocked(c.ctx, &ms[i], nil)
			}()
			if err != nil {
				return
			}
		}
	})
}
