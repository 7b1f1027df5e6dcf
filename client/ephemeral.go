package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/ratchet"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/relay/wire"
)

// maxEphemeralRun is how many ephemeral messages a device encrypts in a row
// on one session before a stored one (spec/client.md §12.7): every one of
// them may be dropped, and the receiver must be able to skip them all
// (ratchet.MaxSkipPerChain is 1000).
const maxEphemeralRun = 100

// sendEphemeral encrypts ct for the active devices of handles that this
// device has a session with and hands the envelopes to the relay's
// ephemeral send mode (spec/client.md §12.7): never queued, never retried.
func (c *Client) sendEphemeral(ctx context.Context, handles []string, ct *content.Content) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	for _, h := range handles {
		if keys.CheckHandle(h) != nil || h == id.handle {
			return fmt.Errorf("%w: %q: ephemeral signals go to other accounts", ErrInvalidHandle, h)
		}
	}
	anon := c.cfg.SendMode == SendAnonymous
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	if link == nil || !link.Connected() {
		// Also when anonymous: the authenticated connection's state is
		// the device's "online" (a signal is worth nothing offline).
		return ErrNotConnected
	}
	body, err := content.Marshal(ct)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	var ts []target
	for _, h := range handles {
		// The key set this device holds: a signal is not worth a fresh
		// lookup, and a device added since gets none until then.
		d, err := c.lookup(ctx, h, false)
		if err != nil {
			return err
		}
		if err := c.observe(ctx, d); err != nil {
			return err
		}
		for _, dev := range d.entry.Active() {
			ts = append(ts, target{handle: h, dev: dev.Certificate, kind: kindMessage})
		}
	}
	if anon {
		// Sealed post-quantum, as anonymous messages are
		// (spec/client.md §13.5).
		if err := c.sealKeys(ctx, id, ts); err != nil {
			return err
		}
	}
	items, err := c.encryptEphemeral(ctx, id, ts, body)
	if err != nil || len(items) == 0 {
		return err
	}
	if anon {
		// On the anonymous connection (spec/relay.md §15.1 rule 3).
		conn, err := c.anonConn(ctx)
		if err != nil {
			return fmt.Errorf("%w: anonymous relay connection: %w", ErrNotConnected, err)
		}
		if err := conn.SendEphemeral(ctx, items...); err != nil {
			c.dropAnonConn(false)
			return fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
		c.anonUsed(conn)
		return nil
	}
	if err := link.SendEphemeral(ctx, items); err != nil {
		if errors.Is(err, relaylink.ErrNotConnected) {
			return ErrNotConnected
		}
		return err
	}
	return nil
}

// encryptEphemeral encrypts a version 2 payload with body for each target
// that has a session whose run of ephemeral messages is below
// maxEphemeralRun and that needs no PQXDH initial message, and stores the
// new session states and runs in one transaction before anything leaves.
func (c *Client) encryptEphemeral(ctx context.Context, id *identity, ts []target, body []byte) ([]*wire.Item, error) {
	dk, release, err := id.deviceKeys()
	if err != nil {
		return nil, err
	}
	defer release()
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	var items []*wire.Item
	now := time.Now()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		items = nil
		for _, t := range ts {
			dev := uint32(t.dev.Device)
			rec, err := c.loadRecord(tx, t.handle, t.dev.Device)
			if err != nil {
				return err
			}
			if rec == nil {
				continue // an ephemeral signal never starts a session
			}
			run, err := tx.EphemeralRun(t.handle, dev)
			if err != nil {
				rec.destroy()
				return err
			}
			if run >= maxEphemeralRun {
				rec.destroy()
				continue
			}
			var msgID MessageID
			rand.Read(msgID[:])
			p := payload{version: payloadVersion2, kind: kindMessage, id: msgID, sent: now, to: t.handle, body: body}
			pt := p.marshal()
			msg, env, err := sealNext(rec, dk, id, t, pt)
			clear(pt)
			if err != nil {
				rec.destroy()
				return err
			}
			if _, initial, _ := ratchet.InitialMessage(msg); initial {
				// The peer has not answered yet: the message carries the
				// PQXDH initial message. Not for a signal: nothing is
				// stored, the state is dropped.
				rec.destroy()
				continue
			}
			state := rec.marshal()
			rec.destroy()
			err = tx.PutSession(localstore.Session{PeerHandle: t.handle, PeerDevice: dev, State: state, Updated: now})
			clear(state)
			if err != nil {
				return err
			}
			if err := tx.SetEphemeralRun(t.handle, dev, run+1); err != nil {
				return err
			}
			items = append(items, &wire.Item{Recipient: wire.FormatAddress(t.handle, dev), Envelope: env})
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return items, nil
}

// receiveEphemeral handles an envelope of the relay's ephemeral mode
// (spec/client.md §12.7): opened and checked like any, decrypted with an
// existing session only, its session state stored; a typing or presence
// signal from another account is reported, anything else dropped. Nothing
// is recorded as processed and nothing is acked.
func (c *Client) receiveEphemeral(env []byte) {
	ctx := c.ctx
	id, err := c.registered()
	if err != nil {
		return
	}
	dk, release, err := id.deviceKeys()
	if err != nil {
		return
	}
	defer release()
	// Version 2 from a sender that sends anonymously (spec/client.md
	// §13.5); a store that cannot be read loses only a signal.
	var (
		lp        lockedPrekeys
		lookupErr error
	)
	opened, err := seal.OpenHybrid(dk, c.kemKeys(ctx, &lp, &lookupErr), env)
	lp.destroy()
	if err != nil {
		c.log.Debug("client: ephemeral envelope dropped", "err", err)
		return
	}
	sender := opened.Sender
	handle, device := sender.Handle, uint32(sender.Device)
	if handle == id.handle {
		return
	}
	if err := c.checkSender(ctx, id, sender); err != nil {
		c.log.Debug("client: ephemeral envelope dropped", "err", err)
		return
	}
	var pt []byte
	c.sessMu.Lock()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		rec, err := c.loadRecord(tx, handle, sender.Device)
		if err != nil {
			return err
		}
		if rec == nil {
			return errNoSession
		}
		defer rec.destroy()
		out, err := rec.decrypt(opened.Message)
		if err != nil {
			return err
		}
		state := rec.marshal()
		defer clear(state)
		if err := tx.PutSession(localstore.Session{PeerHandle: handle, PeerDevice: device, State: state, Updated: time.Now()}); err != nil {
			clear(out)
			return err
		}
		pt = out
		return nil
	})
	c.sessMu.Unlock()
	if err != nil {
		c.log.Debug("client: ephemeral envelope dropped", "err", err)
		return
	}
	defer clear(pt)
	p, err := parsePayload(pt)
	if err == nil {
		err = checkPayload(p, id.handle, handle)
	}
	if err == nil && (p.content == nil || !p.content.Kind().Ephemeral()) {
		err = errNotEphemeral
	}
	if err != nil {
		c.emit(Event{Kind: EventContentDropped, Handle: handle, Device: device, Err: err})
		return
	}
	switch p.content.Kind() {
	case content.KindTyping:
		c.emit(Event{Kind: EventTyping, Handle: handle, Device: device, Time: p.sent,
			Typing: p.content.GetTyping().GetState() == contentpb.Typing_STATE_STARTED})
	case content.KindPresence:
		c.emit(Event{Kind: EventPresence, Handle: handle, Device: device, Time: p.sent})
	}
}
