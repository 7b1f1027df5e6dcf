package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/pqxdh"
	"github.com/sealpost/sealpost/crypto/ratchet"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/relay/wire"
)

// SendError reports the recipient devices the relay refused for good
// (spec/client.md §3.3). The message reached every other device.
type SendError struct {
	ID      MessageID
	Refused []RefusedDevice
}

// RefusedDevice is one device the relay would not queue a message for.
type RefusedDevice struct {
	Handle string
	Device uint32
	Reason string // "no mailbox", "queue full", "too large"
}

func (e *SendError) Error() string {
	parts := make([]string, len(e.Refused))
	for i, r := range e.Refused {
		parts[i] = fmt.Sprintf("%s device %d: %s", r.Handle, r.Device, r.Reason)
	}
	return "client: the relay refused the message for " + strings.Join(parts, "; ")
}

// target is one device a message goes to.
type target struct {
	handle string
	dev    *keys.DeviceCertificate
	kind   byte
}

// Send encrypts plaintext for every current device of handle and every
// other device of this account that this device approves (spec/client.md
// §6.3), queues the envelopes locally, and returns
// once the relay has stored them (spec/client.md §3). On first contact
// with a device it claims the device's prekeys and verifies the bundle
// against the key set the transparency log holds, then runs PQXDH.
//
// Two kinds of failure:
//
//   - Nothing was queued: Send returns the zero MessageID and the error
//     (ErrInvalidHandle, ErrUnknownHandle, ErrTooLarge, ErrKeyChanged — the
//     contact's account key changed and the change is not accepted —,
//     ErrSecurity — nothing was encrypted to the keys involved; it also
//     wraps ErrKeyChanged for a verified contact's changed key, and
//     ErrUnknownHandle for a known account the key server denies —,
//     ErrNotRegistered, ErrClosed, or the key server could not be reached
//     or ctx ended before the message was queued). Send it again if
//     appropriate.
//   - The message was queued but the relay has not confirmed it (ctx
//     ended, the relay is unreachable, Close): Send returns its id and an
//     error wrapping ErrQueued. The envelopes stay queued and are sent
//     again, under the same message id, whenever the client is connected,
//     also after a restart: the message is not lost, and the relay stores
//     it once. Do not send it again.
//
// A *SendError (with the id) names the devices the relay refused for good.
func (c *Client) Send(ctx context.Context, handle string, plaintext []byte) (MessageID, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return MessageID{}, err
	}
	defer done()
	if keys.CheckHandle(handle) != nil {
		return MessageID{}, fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	if len(plaintext) > MaxPlaintext {
		return MessageID{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	var msgID MessageID
	if _, err := rand.Read(msgID[:]); err != nil {
		return MessageID{}, err
	}
	targets, err := c.targets(ctx, id, handle)
	if err != nil {
		return MessageID{}, err
	}
	bundles, err := c.claimMissing(ctx, id, targets)
	if err != nil {
		return MessageID{}, err
	}
	now := time.Now()
	if err := c.encryptAndQueue(ctx, id, msgID, handle, plaintext, now, targets, bundles); err != nil {
		return MessageID{}, err
	}
	// Queued: from here on the message is not lost (spec/client.md §3.3).
	if err := c.flushMessage(ctx, msgID); err != nil {
		var serr *SendError
		if errors.As(err, &serr) {
			return msgID, err
		}
		return msgID, fmt.Errorf("%w: %w", ErrQueued, err)
	}
	return msgID, nil
}

// targets returns the active devices of handle and this account's other
// active devices, checking the peer's key set against the contact record.
func (c *Client) targets(ctx context.Context, id *identity, handle string) ([]target, error) {
	// Fresh key sets: a device added a moment ago gets the message too
	// (spec/client.md §3.1).
	peer, err := c.lookup(ctx, handle, true)
	if errors.Is(err, ErrUnknownHandle) && c.knownAccount(ctx, id, handle) {
		// spec/client.md §6.2: the key server denies an account this
		// device knows.
		return nil, c.securityError(handle, fmt.Errorf("%w: the key server denies %s, an account this device knows", ErrUnknownHandle, handle))
	}
	if err != nil {
		return nil, err
	}
	var ts []target
	if handle != id.handle {
		if err := c.observe(ctx, peer); err != nil {
			return nil, err
		}
		for _, d := range peer.entry.Active() {
			ts = append(ts, target{handle: handle, dev: d.Certificate, kind: kindMessage})
		}
	}
	own := peer
	if handle != id.handle {
		if own, err = c.lookup(ctx, id.handle, true); err != nil {
			return nil, err
		}
	}
	if err := c.checkOwn(own); err != nil {
		return nil, err
	}
	// Sent copies go only to the devices this device created or approved
	// (spec/client.md §6.3).
	approved, err := c.reviewOwn(ctx, id, own.entry)
	if err != nil {
		return nil, err
	}
	for _, d := range own.entry.Active() {
		if d.Certificate.Device == id.device || !approved[d.Certificate.Device] {
			continue
		}
		kind := byte(kindSentCopy)
		ts = append(ts, target{handle: id.handle, dev: d.Certificate, kind: kind})
	}
	if len(ts) == 0 && handle == id.handle {
		return nil, errors.New("client: this account has no other device to send to")
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("client: %s has no active device", handle)
	}
	return ts, nil
}

// knownAccount reports whether this device has a record of handle's
// account: a contact record or a stored key set, or its own.
func (c *Client) knownAccount(ctx context.Context, id *identity, handle string) bool {
	if handle == id.handle {
		return true
	}
	known := false
	c.store.View(ctx, func(tx *localstore.Tx) error {
		_, err := tx.Contact(handle)
		if err == nil {
			known = true
			return nil
		}
		_, err = tx.KeySet(handle)
		known = err == nil
		return nil
	})
	return known
}

// checkOwn checks that the directory's key set for this account holds
// this device, certified as this device knows itself (spec/client.md
// §6.3): a key server that dropped or replaced it is misbehaving.
func (c *Client) checkOwn(own *dirEntry) error {
	id := c.identity()
	if own.entry.AccountKey != id.accountKey {
		return c.securityError(id.handle, errors.New("the key server lists another account key for this account"))
	}
	if own.findActive(id.certBytes, id.device) == nil {
		for _, d := range own.entry.Devices {
			if d.Certificate.Device == id.device && d.Revocation != nil {
				return fmt.Errorf("%w (device %d)", ErrDeviceRevoked, id.device)
			}
		}
		return c.securityError(id.handle, errors.New("the key server does not list this device"))
	}
	return nil
}

// claimMissing claims bundles for the targets' accounts that have a device
// without a session, and verifies each against the verified key set
// (spec/client.md §3.1).
func (c *Client) claimMissing(ctx context.Context, id *identity, ts []target) (map[string]map[keys.DeviceID]*keys.Bundle, error) {
	need := map[string]bool{}
	err := c.store.View(ctx, func(tx *localstore.Tx) error {
		for _, t := range ts {
			_, err := tx.Session(t.handle, uint32(t.dev.Device))
			if errors.Is(err, localstore.ErrNotFound) {
				need[t.handle] = true
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	out := map[string]map[keys.DeviceID]*keys.Bundle{}
	for handle := range need {
		tok, err := c.keyServerToken(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.ks.Claim(ctx, tok, handle)
		if err != nil {
			return nil, fmt.Errorf("client: claiming %s's prekeys: %w", handle, err)
		}
		d, err := c.lookup(ctx, handle, false)
		if err != nil {
			return nil, err
		}
		bs := map[keys.DeviceID]*keys.Bundle{}
		for _, cb := range resp.Bundles {
			b, err := ksclient.CheckClaim(d.entry, cb)
			if err != nil {
				// A bundle that does not match the logged key set: the
				// key server is trying to put its own keys in. Nothing
				// is sent to any device of this account.
				return nil, c.securityError(handle, err)
			}
			bs[b.Certificate.Device] = b
		}
		out[handle] = bs
	}
	return out, nil
}

// encryptAndQueue encrypts the message for every target, starting
// sessions from bundles where there are none, and stores the new session
// states and the sealed envelopes in one transaction (spec/client.md
// §3.2): a crash after it commits sends exactly these envelopes again.
func (c *Client) encryptAndQueue(ctx context.Context, id *identity, msgID MessageID, to string, plaintext []byte, now time.Time, ts []target, bundles map[string]map[keys.DeviceID]*keys.Bundle) error {
	dk, release, err := id.deviceKeys()
	if err != nil {
		return err
	}
	defer release()
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	err = c.store.Update(ctx, func(tx *localstore.Tx) error {
		for _, t := range ts {
			p := payload{kind: t.kind, id: msgID, sent: now, to: to, body: plaintext}
			pt := p.marshal()
			rec, err := c.loadRecord(tx, t.handle, t.dev.Device)
			if err != nil {
				return err
			}
			if rec == nil {
				b := bundles[t.handle][t.dev.Device]
				if b == nil {
					return fmt.Errorf("client: the key server returned no bundle for %s device %d", t.handle, t.dev.Device)
				}
				st, err := c.initiate(dk, id, t.handle, b)
				if err != nil {
					return c.securityError(t.handle, err)
				}
				rec = &sessionRecord{states: []*ratchet.State{st}}
			}
			msg, err := rec.states[0].Encrypt(rand.Reader, pt)
			clear(pt)
			if err != nil {
				rec.destroy()
				return fmt.Errorf("client: encrypting for %s device %d: %w", t.handle, t.dev.Device, err)
			}
			env, err := seal.Seal(rand.Reader, dk, id.cert, t.dev.Keys, msg)
			if err != nil {
				rec.destroy()
				return fmt.Errorf("client: sealing for %s device %d: %w", t.handle, t.dev.Device, err)
			}
			state := rec.marshal()
			rec.destroy()
			err = tx.PutSession(localstore.Session{PeerHandle: t.handle, PeerDevice: uint32(t.dev.Device), State: state, Updated: now})
			clear(state)
			if err != nil {
				return err
			}
			if _, err := tx.EnqueueOutgoing(localstore.Outgoing{MessageID: msgID[:], Recipient: t.handle, Device: uint32(t.dev.Device), Envelope: env, Created: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrSecurity) {
		return err
	}
	return storeError(err)
}

// initiate runs PQXDH with a verified bundle and starts the ratchet
// (spec/pqxdh.md, spec/ratchet.md §4).
func (c *Client) initiate(dk *keys.DevicePrivateKeys, id *identity, handle string, b *keys.Bundle) (*ratchet.State, error) {
	x, err := pqxdh.Initiate(rand.Reader, dk, id.cert, handle, b.Certificate.AccountKey, b)
	if err != nil {
		return nil, err
	}
	defer x.Zero()
	return ratchet.NewInitiator(rand.Reader, x.SharedSecret, x.AD, x.PeerRatchetKey, x.Initial)
}

// loadRecord returns the session record with a peer device, nil if none.
func (c *Client) loadRecord(tx *localstore.Tx, handle string, device keys.DeviceID) (*sessionRecord, error) {
	s, err := tx.Session(handle, uint32(device))
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer clear(s.State)
	rec, err := parseSessionRecord(s.State)
	if err != nil {
		return nil, fmt.Errorf("%w: session with %s device %d: %v", ErrCorrupt, handle, device, err)
	}
	return rec, nil
}

// flushMessage sends the queued envelopes of one message to the relay and
// removes those it stored (spec/client.md §3.3).
func (c *Client) flushMessage(ctx context.Context, msgID MessageID) error {
	var queued []localstore.Outgoing
	err := c.store.View(ctx, func(tx *localstore.Tx) error {
		var err error
		queued, err = tx.OutgoingFor(msgID[:])
		return err
	})
	if err != nil {
		return storeError(err)
	}
	if len(queued) == 0 {
		// Another sender (the flush after a connect) handed it over
		// already; its outcome is not known here, but the envelopes
		// left the queue only on an answer from the relay.
		return nil
	}
	return c.sendQueued(ctx, msgID, queued)
}

// inflight is one message being handed to the relay; others that want to
// send it wait for its outcome instead.
type inflight struct {
	done chan struct{}
	err  error
}

// sendQueued sends one message's queued envelopes, waiting for a
// connection, and deletes what the relay answered for. If the same
// message is being sent already (Send and the queue flush after a
// connect), it waits for that send's outcome.
func (c *Client) sendQueued(ctx context.Context, msgID MessageID, queued []localstore.Outgoing) error {
	if len(queued) == 0 {
		return nil
	}
	c.mu.Lock()
	if f := c.inflight[msgID]; f != nil {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return fmt.Errorf("client: sending to the relay: %w", ctx.Err())
		}
	}
	f := &inflight{done: make(chan struct{})}
	c.inflight[msgID] = f
	c.mu.Unlock()
	f.err = c.sendQueuedOnce(ctx, msgID, queued)
	c.mu.Lock()
	delete(c.inflight, msgID)
	c.mu.Unlock()
	close(f.done)
	return f.err
}

// relaySendLabel separates relay send ids from other hashes
// (spec/client.md §3.3).
const relaySendLabel = "sealpost/v1/relay-send"

// relaySendID is the relay's 16-byte message id for one queued envelope:
// SHA-256(label || 0x00 || message id || len(handle) || handle || device)
// truncated to 16 bytes (spec/client.md §3.3). It depends only on the
// queue row, so every retry of that envelope carries the same id and the
// relay stores it once.
func relaySendID(msgID MessageID, handle string, device uint32) [wire.MessageIDSize]byte {
	h := sha256.New()
	h.Write([]byte(relaySendLabel))
	h.Write([]byte{0})
	h.Write(msgID[:])
	h.Write([]byte{byte(len(handle))})
	h.Write([]byte(handle))
	h.Write(binary.BigEndian.AppendUint32(nil, device))
	return [wire.MessageIDSize]byte(h.Sum(nil))
}

// sendQueuedOnce hands each queued envelope to the relay in a Send of its
// own, all at once, and records the answers (spec/client.md §3.3). One
// envelope per Send keeps every frame under the relay's frame cap, whatever
// the fan-out, and makes each envelope's retries independent.
func (c *Client) sendQueuedOnce(ctx context.Context, msgID MessageID, queued []localstore.Outgoing) error {
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	if link == nil {
		return ErrNotRegistered
	}
	type result struct {
		status wire.Status
		err    error
	}
	results := make([]result, len(queued))
	var wg sync.WaitGroup
	for i, o := range queued {
		wg.Go(func() {
			item := &wire.Item{Recipient: wire.FormatAddress(o.Recipient, o.Device), Envelope: o.Envelope}
			results[i].status, results[i].err = sendOne(ctx, link, relaySendID(msgID, o.Recipient, o.Device), item)
		})
	}
	wg.Wait()
	serr := &SendError{ID: msgID}
	var failed error
	err := c.store.Update(context.WithoutCancel(ctx), func(tx *localstore.Tx) error {
		serr.Refused, failed = nil, nil
		for i, o := range queued {
			r := results[i]
			if r.err != nil {
				failed = r.err
				if err := tx.RecordAttempt(o.MessageID, o.Recipient, o.Device); err != nil && !errors.Is(err, localstore.ErrNotFound) {
					return err
				}
				continue
			}
			switch r.status {
			case wire.Status_STATUS_QUOTA:
				// Still over quota after waiting: keep it queued; the
				// queue flush sends it again (spec/client.md §3.3).
				failed = fmt.Errorf("%w toward %s", errQuota, o.Recipient)
				if err := tx.RecordAttempt(o.MessageID, o.Recipient, o.Device); err != nil && !errors.Is(err, localstore.ErrNotFound) {
					return err
				}
				continue
			case wire.Status_STATUS_STORED:
			case wire.Status_STATUS_NO_MAILBOX:
				serr.Refused = append(serr.Refused, RefusedDevice{o.Recipient, o.Device, "no mailbox"})
			case wire.Status_STATUS_QUEUE_FULL:
				serr.Refused = append(serr.Refused, RefusedDevice{o.Recipient, o.Device, "queue full"})
			case wire.Status_STATUS_TOO_LARGE:
				serr.Refused = append(serr.Refused, RefusedDevice{o.Recipient, o.Device, "too large"})
			default:
				// A status this client does not know: keep the
				// envelope queued and try again later.
				failed = fmt.Errorf("client: the relay answered unknown status %d", r.status)
				continue
			}
			if err := tx.DeleteOutgoing(o.MessageID, o.Recipient, o.Device); err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	if failed != nil {
		return fmt.Errorf("client: sending to the relay: %w", failed)
	}
	if len(serr.Refused) > 0 {
		return serr
	}
	return nil
}

// Quota answers (spec/client.md §3.3): an envelope answered quota is sent
// again under the same relay id after the relay's retry_after_ms, at most
// quotaTries times in all and only while the wait is at most
// maxQuotaWait; then it stays queued for the queue flush.
const (
	quotaTries   = 4
	maxQuotaWait = 30 * time.Second
)

// errQuota is the failure of an envelope still over the relay's quota.
var errQuota = errors.New("client: the relay's quota is spent")

// sendOne hands one envelope to the relay under id, waiting out quota
// answers (spec/client.md §3.3), and returns the relay's status.
func sendOne(ctx context.Context, link *relaylink.Link, id [wire.MessageIDSize]byte, item *wire.Item) (wire.Status, error) {
	for try := 1; ; try++ {
		r, err := link.SendResult(ctx, id, []*wire.Item{item})
		if err == nil && len(r.Statuses) != 1 {
			err = fmt.Errorf("client: the relay answered %d statuses for one envelope", len(r.Statuses))
		}
		if err != nil {
			return 0, err
		}
		st := r.Statuses[0]
		wait := time.Duration(r.RetryAfterMs) * time.Millisecond
		if st != wire.Status_STATUS_QUOTA || try == quotaTries || wait > maxQuotaWait {
			return st, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
}

// flushPage bounds one read of the outgoing queue.
const flushPage = 1000

// flushQueue sends everything in the outgoing queue, oldest message
// first; it runs after each connection to the relay and periodically
// (spec/client.md §3.3). It stops at the first message that fails for a
// reason other than the relay refusing devices (the relay is gone again).
func (c *Client) flushQueue(ctx context.Context) {
	var after int64
	for {
		var page []localstore.Outgoing
		if err := c.store.View(ctx, func(tx *localstore.Tx) error {
			var err error
			page, err = tx.OutgoingAfter(after, flushPage)
			return err
		}); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("client: reading the outgoing queue", "err", err)
			}
			return
		}
		if len(page) == 0 {
			return
		}
		after = page[len(page)-1].Seq
		var order []MessageID
		seen := map[MessageID]bool{}
		for _, o := range page {
			if id, ok := toMessageID(o.MessageID); ok && !seen[id] {
				seen[id] = true
				order = append(order, id)
			}
		}
		for _, id := range order {
			// All of the message's rows, also those beyond this page.
			if err := c.flushMessage(ctx, id); err != nil {
				var serr *SendError
				if errors.As(err, &serr) {
					c.log.Warn("client: relay refused queued envelopes", "message", id.String(), "devices", len(serr.Refused))
					continue
				}
				if errors.Is(err, errQuota) {
					// Kept queued; other messages are not held up.
					c.log.Info("client: queued message over the relay's quota", "message", id.String())
					continue
				}
				if ctx.Err() == nil {
					c.log.Info("client: queued message not sent yet", "message", id.String(), "err", err)
				}
				return
			}
		}
	}
}

// toMessageID converts a stored message id, which is not authenticated on
// disk (spec/client-store.md §6), without trusting its length.
func toMessageID(b []byte) (MessageID, bool) {
	var id MessageID
	if len(b) != len(id) {
		return id, false
	}
	return MessageID(b), true
}
