package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/internal/killpoint"
	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/pqxdh"
	"github.com/sealpost/sealpost/crypto/ratchet"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/keyserver/api"
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
	Reason string // "no mailbox", "queue full", "too large", "access denied"
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
	// sealKey, when set, is the device's last-resort KEM prekey: the
	// envelope is sealed with version 2 (spec/client.md §13.8).
	sealKey *keys.Prekey
}

// SendOption changes one Send.
type SendOption func(*sendOptions)

type sendOptions struct {
	id    MessageID
	hasID bool

	replyTo     MessageID // WithReplyTo
	replySender string
	hasReply    bool

	progress ProgressFunc // WithProgress (SendFile)
}

// messageID is the message id of a send: the application's
// (WithMessageID), never zero, else a random one.
func (o *sendOptions) messageID() (MessageID, error) {
	if o.hasID {
		if o.id == (MessageID{}) {
			return MessageID{}, fmt.Errorf("%w: the zero id", ErrInvalidMessageID)
		}
		return o.id, nil
	}
	var id MessageID
	if _, err := rand.Read(id[:]); err != nil {
		return MessageID{}, err
	}
	return id, nil
}

// WithMessageID makes Send use id, which the application chose, as the
// message id instead of a random one: the id every recipient device sees
// (Message.ID), and the key that makes Send idempotent (spec/client.md
// §3.4). Give each message an id of its own (16 random bytes, or a hash
// of something unique to the message in the application), store it with
// the message before the first Send, and, if the process may have died
// before Send returned, call Send again with the same id, handle and
// plaintext after the restart. The zero id is refused
// (ErrInvalidMessageID).
func WithMessageID(id MessageID) SendOption {
	return func(o *sendOptions) { o.id, o.hasID = id, true }
}

// Send encrypts plaintext for every current device of handle and every
// other device of this account that this device approves (spec/client.md
// §6.3), queues the envelopes locally, and returns
// once the relay has stored them (spec/client.md §3). On first contact
// with a device it claims the device's prekeys and verifies the bundle
// against the key set the transparency log holds, then runs PQXDH.
//
// Order (spec/client.md §3.3): the envelopes for one recipient device
// form one queue, first in, first out, kept in the store. An envelope is
// handed to the relay only once the relay has stored every envelope
// queued before it for that device (or refused it for good), whether the
// earlier one came from a Send that is still waiting, one that returned
// ErrQueued, or a run before a restart. So each device receives the
// messages this device sent it in the order their Sends queued them: for
// Sends that do not overlap, call order. (Sends that overlap in time are
// queued in some order, the same for every device.)
//
// Idempotence (spec/client.md §3.4): the message id is fixed before
// anything is encrypted — random, or the application's (WithMessageID) —
// and stored with the queued envelopes and in a record of sent ids, kept
// for 30 days from queueing (and as long as the message is queued). A Send with an id this device has
// queued already encrypts nothing: if that message is still queued, Send
// hands it to the relay (under the same relay ids, which the relay stores
// once) and waits as for a new one; if the relay has it, Send returns nil
// (or the *SendError of the first attempt). The same id with another
// handle or plaintext is refused with ErrMessageIDReused. A recipient
// device also shows one message per sending account and message id, for
// 60 days, whatever the envelopes (spec/client.md §5.1). So an
// application that gives a message its id before the first Send and,
// after a crash, sends it again with WithMessageID, shows it once on every
// device, wherever the crash fell.
//
// Two kinds of failure:
//
//   - Nothing was queued: Send returns the zero MessageID and the error
//     (ErrInvalidHandle, ErrUnknownHandle, ErrTooLarge, ErrInvalidMessageID,
//     ErrMessageIDReused, ErrKeyChanged — the
//     contact's account key changed and the change is not accepted —,
//     ErrSecurity — nothing was encrypted to the keys involved; it also
//     wraps ErrKeyChanged for a verified contact's changed key, and
//     ErrUnknownHandle for a known account the key server denies —,
//     ErrNotRegistered, ErrClosed, or the key server could not be reached
//     or ctx ended before the message was queued). Send it again if
//     appropriate (with the same WithMessageID, to be safe).
//   - The message was queued but the relay has not confirmed it (ctx
//     ended, the relay is unreachable, an earlier message to the same
//     device is held up, Close): Send returns its id and an error wrapping
//     ErrQueued. The envelopes stay queued and are sent again, under the
//     same message id and in their place in each device's queue, whenever
//     the client is connected, also after a restart: the message is not
//     lost, and the relay stores it once. There is no need to send it
//     again; doing so with the same id is harmless.
//
// A *SendError (with the id) names the devices the relay refused for good.
func (c *Client) Send(ctx context.Context, handle string, plaintext []byte, opts ...SendOption) (MessageID, error) {
	return c.send(ctx, handle, &outMessage{version: payloadVersion, body: plaintext, history: true, wait: true}, opts)
}

// outMessage is what send sends: a payload body and how it is handled.
type outMessage struct {
	version byte   // payloadVersion or payloadVersion2
	body    []byte // the payload body: the application's bytes, or a Content encoding
	// others are more accounts the message goes to, each device getting
	// its own copy with its own handle as `to` (a group state change,
	// spec/groups.md §8.1); blocked ones are left out.
	others []string
	// wire, if set, is what is sent instead of body: the Content with this
	// device's access key (spec/client.md §13.6). body, without it, is
	// what the history keeps and what a repeated Send must match.
	wire []byte
	kind content.Kind
	// noPeer and noOwn leave out the peer's devices or this account's
	// other devices (spec/client.md §12.2: delivery receipts go to the
	// peer only, read receipts without NoReadReceipts to both).
	noPeer, noOwn bool
	// history stores the message in the conversation's history, with the
	// receipt state of each peer device (spec/client.md §12.6).
	history bool
	// wait makes send wait for the relay (Send's contract); without it,
	// send returns once the envelopes are queued and the outbox sends
	// them.
	wait bool
	// cachedKeys takes the key sets this device holds (verified when
	// looked up, spec/client.md §6.1) instead of fresh ones: for receipts,
	// which a device added a moment ago can do without (§12.2).
	cachedKeys bool
	// apply, if set, runs in the transaction that queues the message.
	apply func(tx localstore.Tx, msgID MessageID, now time.Time) error
}

// errNoOwnDevice reports a message to this account, which has no other
// device this device approves.
var errNoOwnDevice = errors.New("client: this account has no other device to send to")

// errNoTargets reports a message left with no device to go to.
var errNoTargets = errors.New("client: no device to send to")

// send is Send for any payload.
func (c *Client) send(ctx context.Context, handle string, m *outMessage, opts []SendOption) (MessageID, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return MessageID{}, err
	}
	defer done()
	ctx, tr := c.startTrace(ctx)
	defer tr.log(c, ctx, "send")
	if keys.CheckHandle(handle) != nil {
		return MessageID{}, fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	if n := max(len(m.body), len(m.wire)); n > MaxPlaintext {
		return MessageID{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, MaxPlaintext)
	}
	if handle != id.handle {
		var blocked bool
		end := span(ctx, "view-blocked")
		err := c.store.View(ctx, func(tx localstore.Tx) error {
			var err error
			blocked, err = tx.Blocked(handle)
			return err
		})
		end()
		if err != nil {
			return MessageID{}, storeError(err)
		}
		if blocked {
			return MessageID{}, fmt.Errorf("%w: %s", ErrBlocked, handle)
		}
	}
	var o sendOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	msgID, err := o.messageID()
	if err != nil {
		return MessageID{}, err
	}
	digest := sendDigest(handle, m.version, m.body)
	// Watch before anything is queued, so that no outcome is missed.
	w := c.watch(msgID)
	defer c.unwatch(w)
	for range 2 {
		// An id queued before: its outcome; nothing new is encrypted
		// (spec/client.md §3.4).
		end := span(ctx, "view-previous")
		found, rows, err := c.previousSend(ctx, msgID, digest)
		end()
		if err != nil {
			return MessageID{}, err
		}
		if found {
			return msgID, c.await(ctx, w, rows, false)
		}
		targets, err := c.targets(ctx, id, handle, !m.cachedKeys)
		if err != nil {
			return MessageID{}, err
		}
		for _, h := range m.others {
			more, err := c.targets(ctx, id, h, !m.cachedKeys)
			if err != nil {
				return MessageID{}, err
			}
			for _, t := range more {
				if t.kind == kindMessage {
					targets = append(targets, t)
				}
			}
		}
		targets = slices.DeleteFunc(targets, func(t target) bool {
			return (m.noPeer && t.kind == kindMessage) || (m.noOwn && t.kind == kindSentCopy)
		})
		if len(targets) == 0 {
			return MessageID{}, errNoTargets
		}
		end = span(ctx, "claim")
		bundles, err := c.claimMissing(ctx, id, targets)
		end()
		if err != nil {
			return MessageID{}, err
		}
		if c.cfg.SendMode == SendAnonymous {
			// Anonymous envelopes are sealed post-quantum
			// (spec/client.md §13.8).
			if err := c.sealKeys(ctx, id, targets); err != nil {
				return MessageID{}, err
			}
		}
		end = span(ctx, "queue")
		rows, err = c.encryptAndQueue(ctx, id, msgID, handle, m, digest, time.Now(), targets, bundles)
		end()
		if errors.Is(err, errAlreadyQueued) {
			// Another Send with this id queued it meanwhile.
			continue
		}
		if err != nil {
			return MessageID{}, err
		}
		// Queued: from here on the message is not lost (spec/client.md §3.3).
		killpoint.Reach(killpoint.SendAfterQueueCommit)
		if !m.wait {
			for _, k := range rows {
				c.kick(k)
			}
			return msgID, nil
		}
		defer span(ctx, "await-relay")()
		return msgID, c.await(ctx, w, rows, true)
	}
	return MessageID{}, fmt.Errorf("client: message %s: queued and not queued", msgID)
}

// sendDigestLabel separates the digests of sent messages from other
// hashes (spec/client-store.md §4.13).
const sendDigestLabel = "sealpost/v1/sent-digest"

// sendDigestLabel2 is the label of the digests of version 2 payloads.
const sendDigestLabel2 = "sealpost/v2/sent-digest"

// sendDigest is what a repeated Send with the same id must match:
// SHA-256(label || 0x00 || u8 len(handle) || handle || body), with the
// label of the payload version (spec/client-store.md §4.13). handle is
// valid (at most 32 bytes).
func sendDigest(handle string, version byte, plaintext []byte) []byte {
	h := sha256.New()
	if version == payloadVersion2 {
		h.Write([]byte(sendDigestLabel2))
	} else {
		h.Write([]byte(sendDigestLabel))
	}
	h.Write([]byte{0, byte(len(handle))})
	h.Write([]byte(handle))
	h.Write(plaintext)
	return h.Sum(nil)
}

// previousSend reports whether msgID was queued before, and which of its
// envelopes are still queued. An id recorded with another handle or
// plaintext is ErrMessageIDReused.
func (c *Client) previousSend(ctx context.Context, msgID MessageID, digest []byte) (bool, []laneKey, error) {
	var (
		found bool
		rows  []laneKey
	)
	err := c.store.View(ctx, func(tx localstore.Tx) error {
		found, rows = false, nil
		rec, err := tx.Sent(msgID[:])
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// A record without a digest is from before the digests
		// (spec/client-store.md §4.13): nothing to compare.
		if rec.Digest != nil && subtle.ConstantTimeCompare(rec.Digest, digest) != 1 {
			return fmt.Errorf("%w: %s", ErrMessageIDReused, msgID)
		}
		found = true
		queued, err := tx.OutgoingFor(msgID[:])
		for _, o := range queued {
			rows = append(rows, laneKey{o.Recipient, o.Device})
		}
		return err
	})
	if errors.Is(err, ErrMessageIDReused) {
		return false, nil, err
	}
	return found, rows, storeError(err)
}

// targets returns the active devices of handle and this account's other
// active devices, checking the peer's key set against the contact record.
func (c *Client) targets(ctx context.Context, id *identity, handle string, fresh bool) ([]target, error) {
	// Fresh key sets: a device added a moment ago gets the message too
	// (spec/client.md §3.1). The ones this device holds are fresh if the
	// directory has not changed since they were verified (§6.1,
	// "Unchanged directory").
	var peer, own *dirEntry
	if fresh {
		both := []string{handle, id.handle}
		if handle == id.handle {
			both = both[:1]
		}
		ds, err := c.lookupUnchanged(ctx, both...)
		if err != nil {
			return nil, err
		}
		if ds != nil {
			peer, own = ds[0], ds[len(ds)-1]
		}
	}
	var err error
	if peer == nil {
		peer, err = c.lookup(ctx, handle, fresh)
	}
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
		end := span(ctx, "observe")
		err := c.observe(ctx, peer)
		end()
		if err != nil {
			return nil, err
		}
		for _, d := range peer.entry.Active() {
			ts = append(ts, target{handle: handle, dev: d.Certificate, kind: kindMessage})
		}
	}
	if own == nil {
		own = peer
	}
	if handle != id.handle && own == peer {
		if own, err = c.lookup(ctx, id.handle, fresh); err != nil {
			return nil, err
		}
	}
	if err := c.checkOwn(own); err != nil {
		return nil, err
	}
	// Sent copies go only to the devices this device created or approved
	// (spec/client.md §6.3).
	end := span(ctx, "review-own")
	approved, err := c.reviewOwn(ctx, id, own.entry)
	end()
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
		return nil, errNoOwnDevice
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
	c.store.View(ctx, func(tx localstore.Tx) error {
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
	err := c.store.View(ctx, func(tx localstore.Tx) error {
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
		if out[handle], err = c.checkBundles(ctx, handle, resp); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkBundles checks the bundles the key server served for handle (a
// claim, or seal keys) against the verified key set (spec/client.md
// §3.1) and returns them by device.
func (c *Client) checkBundles(ctx context.Context, handle string, resp *api.ClaimResponse) (map[keys.DeviceID]*keys.Bundle, error) {
	d, err := c.lookup(ctx, handle, false)
	if err != nil {
		return nil, err
	}
	bs := map[keys.DeviceID]*keys.Bundle{}
	for _, cb := range resp.Bundles {
		b, err := ksclient.CheckClaim(d.entry, cb)
		if err != nil {
			// A bundle that does not match the logged key set: the key
			// server is trying to put its own keys in. Nothing is sent to
			// any device of this account.
			return nil, c.securityError(handle, err)
		}
		bs[b.Certificate.Device] = b
	}
	return bs, nil
}

// errAlreadyQueued reports a message id queued by another Send meanwhile.
var errAlreadyQueued = errors.New("client: message id already queued")

// encryptAndQueue encrypts the message for every target, starting
// sessions from bundles where there are none, and stores the new session
// states, the sealed envelopes and the record of the message id in one
// transaction (spec/client.md §3.2, §3.4): a crash after it commits sends
// exactly these envelopes again. It returns the queued rows' devices, or
// errAlreadyQueued (nothing changed) if the id is recorded already.
func (c *Client) encryptAndQueue(ctx context.Context, id *identity, msgID MessageID, to string, m *outMessage, digest []byte, now time.Time, ts []target, bundles map[string]map[keys.DeviceID]*keys.Bundle) ([]laneKey, error) {
	dk, release, err := id.deviceKeys()
	if err != nil {
		return nil, err
	}
	defer release()
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	var rows []laneKey
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		defer span(ctx, "queue-encrypt")()
		rows = nil
		err := tx.PutSent(localstore.Sent{MessageID: msgID[:], Digest: digest, Created: now})
		if errors.Is(err, localstore.ErrDuplicate) {
			return errAlreadyQueued
		}
		if err != nil {
			return err
		}
		if m.history {
			if err := c.recordSent(tx, id, msgID, to, m, now, ts); err != nil {
				return err
			}
		}
		if m.apply != nil {
			if err := m.apply(tx, msgID, now); err != nil {
				return err
			}
		}
		if m.wire != nil && to != id.handle {
			// spec/client.md §13.6: to whom the access key went.
			if err := tx.MarkAccessGiven(to, now); err != nil {
				return err
			}
		}
		for _, t := range ts {
			body := m.body
			if m.wire != nil && t.kind == kindMessage {
				body = m.wire
			}
			pto := to
			if t.kind == kindMessage {
				pto = t.handle // the same but for m.others
			}
			p := payload{version: m.version, kind: t.kind, id: msgID, sent: now, to: pto, body: body}
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
			_, env, err := sealNext(rec, dk, id, t, pt)
			clear(pt)
			if err != nil {
				rec.destroy()
				return err
			}
			state := rec.marshal()
			rec.destroy()
			err = tx.PutSession(localstore.Session{PeerHandle: t.handle, PeerDevice: uint32(t.dev.Device), State: state, Updated: now})
			clear(state)
			if err != nil {
				return err
			}
			// A stored message ends the run of ephemeral ones
			// (spec/client.md §12.7).
			if err := tx.SetEphemeralRun(t.handle, uint32(t.dev.Device), 0); err != nil {
				return err
			}
			if _, err := tx.EnqueueOutgoing(localstore.Outgoing{MessageID: msgID[:], Recipient: t.handle, Device: uint32(t.dev.Device), Envelope: env, Created: now}); err != nil {
				return err
			}
			rows = append(rows, laneKey{t.handle, uint32(t.dev.Device)})
		}
		killpoint.Reach(killpoint.SendBeforeQueueCommit)
		return nil
	})
	if errors.Is(err, ErrSecurity) || errors.Is(err, errAlreadyQueued) {
		return nil, err
	}
	if err != nil {
		return nil, storeError(err)
	}
	return rows, nil
}

// sealNext encrypts pt with the current state of rec (which advances) and
// seals the ratchet message for t's device; it returns both.
func sealNext(rec *sessionRecord, dk *keys.DevicePrivateKeys, id *identity, t target, pt []byte) (msg, env []byte, err error) {
	msg, err = rec.states[0].Encrypt(rand.Reader, pt)
	if err != nil {
		return nil, nil, fmt.Errorf("client: encrypting for %s device %d: %w", t.handle, t.dev.Device, err)
	}
	if t.sealKey != nil {
		env, err = seal.SealHybrid(rand.Reader, dk, id.cert, t.dev.Keys, t.sealKey, msg)
	} else {
		env, err = seal.Seal(rand.Reader, dk, id.cert, t.dev.Keys, msg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("client: sealing for %s device %d: %w", t.handle, t.dev.Device, err)
	}
	return msg, env, nil
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
func (c *Client) loadRecord(tx localstore.Tx, handle string, device keys.DeviceID) (*sessionRecord, error) {
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
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
	}
}

// sleep waits d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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
