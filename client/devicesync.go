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
)

// Sync messages between the devices of one account (spec/client.md §17.3):
// a change the user makes on one device — a contact verified or not, a key
// change accepted, an account blocked or unblocked, a device's name — is
// sent to the account's other approved devices as a Sync Content, and
// applied there only if it comes from a device of the account this device
// approves. Read state and timers need none: read receipts and sent copies
// already reach the account's devices (spec/client.md §12.2, §12.5).

// errSyncRefused is the reason of EventSyncRefused.
var errSyncRefused = errors.New("client: sync refused")

// sendSync sends a Sync to this account's other approved devices, queued
// without waiting for the relay, in the background: the change it reports
// is made on this device already. A single-device account sends nothing.
func (c *Client) sendSync(s *contentpb.Sync) {
	c.background(func() {
		if err := c.sendSyncNow(c.ctx, s); err != nil && c.ctx.Err() == nil {
			c.log.Info("client: telling this account's other devices a change", "err", err)
		}
	})
}

// sendSyncNow queues a Sync to this account's other approved devices.
// No such device is not an error.
func (c *Client) sendSyncNow(ctx context.Context, s *contentpb.Sync) error {
	id, err := c.registered()
	if err != nil {
		return err
	}
	cc := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Sync{Sync: s}}}
	body, err := content.Marshal(cc)
	if err != nil {
		return err
	}
	_, err = c.send(ctx, id.handle, &outMessage{version: payloadVersion2, body: body, kind: content.KindSync, noPeer: true}, nil)
	if errors.Is(err, errNoTargets) || errors.Is(err, errNoOwnDevice) {
		return nil
	}
	return err
}

// SetDeviceName names this device (1 to 64 bytes of UTF-8 without control
// characters, spec/content.md §4.15) and tells the account's other
// approved devices (spec/client.md §17.3). Names go only to the account's
// own devices, end to end encrypted; no server sees them. A name the
// other devices could not be told is kept here; call it again to retry.
func (c *Client) SetDeviceName(ctx context.Context, name string) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := content.CheckDeviceName(name); err != nil {
		return fmt.Errorf("client: device name: %w", err)
	}
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		_, err := tx.SetDeviceName(uint32(id.device), name, time.Now())
		return err
	})
	if err != nil {
		return storeError(err)
	}
	return c.sendSyncNow(ctx, &contentpb.Sync{Change: &contentpb.Sync_DeviceName{DeviceName: &contentpb.SyncDeviceName{Device: uint32(id.device), Name: name}}})
}

// approveLinkedDevice records, on the device that links a new one, the new
// device (certified by this device with cert) as approved and named
// (recordLinkedDevice), before the new device adds itself to the key
// server: when it shows up in the account's key set, the monitor finds it
// approved and reports nothing (spec/client.md §6.3, §17.1). Once the new
// device is in the key set, give it the groups with sendGroupSnapshots
// (spec/groups.md §8.6), as ApproveDevice does.
func (c *Client) approveLinkedDevice(ctx context.Context, device uint32, cert []byte, name string) error {
	id, err := c.registered()
	if err != nil {
		return err
	}
	if device == uint32(id.device) || len(cert) == 0 {
		return fmt.Errorf("client: linking device %d: not a new device", device)
	}
	if err := content.CheckDeviceName(name); err != nil {
		return fmt.Errorf("client: the new device's name: %w", err)
	}
	c.trust.ownMu.Lock()
	defer c.trust.ownMu.Unlock()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		return recordLinkedDevice(tx, device, cert, name, time.Now())
	})
	if err != nil {
		return storeError(err)
	}
	c.trust.resolved(fmt.Sprintf("own:%d", device))
	return nil
}

// recordLinkedDevice records, on the device that links a new one, the new
// device as approved with its certificate, and its name (spec/client.md
// §17.1), in tx.
func recordLinkedDevice(tx localstore.Tx, device uint32, cert []byte, name string, now time.Time) error {
	if err := tx.PutOwnDevice(device, localstore.OwnApproved, cert); err != nil {
		return err
	}
	_, err := tx.SetDeviceName(device, name, now)
	return err
}

// syncFollowUp is the part of a received Sync that needs the key
// directory: a contact's key that this device does not hold as the
// record's yet. It runs after the receiving transaction commits.
type syncFollowUp struct {
	handle   string
	key      [32]byte
	verified bool // with the key adopted: verified (MarkVerified) or not (AcceptKeyChange)
}

// applySync applies a Sync in the receiving transaction (spec/client.md
// §17.3): only from another device of this account that this device
// approves; anything else is refused with EventSyncRefused and changes
// nothing. Applying one twice changes nothing the second time.
func (c *Client) applySync(tx localstore.Tx, id *identity, p *payload, sender string, device uint32, now time.Time, r *received) error {
	refuse := func(why string) error {
		r.events = append(r.events, Event{Kind: EventSyncRefused, Handle: sender, Device: device, Err: fmt.Errorf("%w: %s", errSyncRefused, why)})
		return nil
	}
	if sender != id.handle || p.kind != kindSentCopy {
		return refuse("from another account")
	}
	row, err := tx.OwnDevice(device)
	if errors.Is(err, localstore.ErrNotFound) || (err == nil && row.State != localstore.OwnApproved) {
		// Device ids are never reused (spec/keyserver.md §5.4): the row
		// of this id is the one certificate's that checkSender found
		// active.
		return refuse(fmt.Sprintf("from device %d, which this device does not approve", device))
	}
	if err != nil {
		return err
	}
	s := p.content.GetSync()
	switch x := s.GetChange().(type) {
	case *contentpb.Sync_Verified:
		v := x.Verified
		return c.syncVerified(tx, v.GetHandle(), [32]byte(v.GetAccountKey()), v.GetVerified(), r)
	case *contentpb.Sync_KeyAccepted:
		k := x.KeyAccepted
		ct, err := tx.Contact(k.GetHandle())
		if err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if err == nil && ct.AccountKey == [32]byte(k.GetAccountKey()) && !ct.Pending {
			return nil // accepted here already
		}
		r.syncs = append(r.syncs, syncFollowUp{handle: k.GetHandle(), key: [32]byte(k.GetAccountKey())})
		return nil
	case *contentpb.Sync_Block:
		b := x.Block
		if b.GetHandle() == id.handle {
			return refuse("blocking this account")
		}
		if !b.GetBlocked() {
			if err := tx.Unblock(b.GetHandle()); err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
			return nil
		}
		given, err := blockTx(tx, b.GetHandle(), now)
		if err != nil {
			return err
		}
		if given != nil {
			r.accessUpdates = append(r.accessUpdates, given...)
			r.accessChanged = true
		}
		return nil
	case *contentpb.Sync_DeviceName:
		n := x.DeviceName
		if n.GetDevice() != device {
			return refuse(fmt.Sprintf("device %d naming device %d", device, n.GetDevice()))
		}
		_, err := tx.SetDeviceName(device, n.GetName(), p.sent)
		return err
	}
	// A change of a newer version (spec/content.md §5): not applied.
	return nil
}

// syncVerified applies a contact's verified mark set or cleared on another
// device: at once when the record holds that key, else (a key this device
// has not adopted yet) after a lookup.
func (c *Client) syncVerified(tx localstore.Tx, handle string, key [32]byte, verified bool, r *received) error {
	ct, err := tx.Contact(handle)
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return err
	}
	if err == nil && ct.AccountKey == key {
		if ct.Verified == verified {
			return nil
		}
		ct.Verified = verified
		return tx.PutContact(ct)
	}
	if verified {
		r.syncs = append(r.syncs, syncFollowUp{handle: handle, key: key, verified: true})
	}
	// Clearing the mark of a key this device does not hold: nothing to
	// clear.
	return nil
}

// blockTx records handle as blocked and, if this device has an access key,
// replaces it (spec/client.md §13.7). It returns the accounts to send the
// new key to (nil when handle was blocked already or there is no key).
func blockTx(tx localstore.Tx, handle string, now time.Time) ([]string, error) {
	was, err := tx.Blocked(handle)
	if err != nil || was {
		return nil, err
	}
	if err := tx.Block(handle, now); err != nil {
		return nil, err
	}
	a, err := tx.Access()
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil // no key handed out yet
	}
	if err != nil {
		return nil, err
	}
	// The blocked account holds the old key: it stops working at once,
	// not after a grace. In open mode the relay holds no key.
	a.Previous, a.PreviousUntil = nil, time.Time{}
	a.Registered = a.Registered && !a.Contacts
	a.Key = make([]byte, localstore.AccessKeySize)
	if _, err := rand.Read(a.Key); err != nil {
		return nil, err
	}
	if err := tx.PutAccess(a); err != nil {
		return nil, err
	}
	given, err := tx.AccessGiven()
	if given == nil {
		given = []string{}
	}
	return given, err
}

// syncFollowUps runs, after the receiving transaction, the parts of
// received Syncs that need the directory or the network.
func (c *Client) syncFollowUps(r *received) {
	if len(r.syncs) == 0 && !r.accessChanged {
		return
	}
	syncs, updates, changed := r.syncs, r.accessUpdates, r.accessChanged
	c.background(func() {
		if changed {
			c.kickAccess()
			if id := c.identity(); id != nil && len(updates) > 0 {
				if err := c.sendAccessUpdates(c.ctx, id, updates); err != nil && c.ctx.Err() == nil {
					c.log.Info("client: sending the new access key after a synced block", "err", err)
				}
			}
		}
		for _, s := range syncs {
			if err := c.adoptSyncedKey(c.ctx, s); err != nil && c.ctx.Err() == nil {
				c.log.Info("client: applying a contact's key from another device of this account", "err", err)
			}
		}
	})
}

// adoptSyncedKey applies a key another device of this account verified or
// accepted, if the directory holds that key for the handle now (else the
// sync is stale and changes nothing): as MarkVerified or AcceptKeyChange
// would here (spec/client.md §6.2).
func (c *Client) adoptSyncedKey(ctx context.Context, s syncFollowUp) error {
	id, err := c.registered()
	if err != nil {
		return err
	}
	d, err := c.lookup(ctx, s.handle, true)
	if err != nil {
		return err
	}
	if err := c.observe(ctx, d); err != nil && !errors.Is(err, ErrKeyChanged) {
		return err
	}
	if d.entry.AccountKey != s.key {
		return nil
	}
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	var (
		released []localstore.InboxMessage
		events   []Event
		accepted bool
	)
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		released, events, accepted = nil, nil, false
		ct, err := tx.Contact(s.handle)
		if err != nil {
			return err
		}
		switch {
		case ct.AccountKey == s.key && !ct.Pending:
			if s.verified && !ct.Verified {
				ct.Verified = true
				return tx.PutContact(ct)
			}
			return nil
		case ct.Pending && ct.PendingKey == s.key:
			if err := c.adoptKey(tx, ct, d, s.verified); err != nil {
				return err
			}
			accepted = true
			released, events, err = c.releaseHeld(tx, id, s.handle)
			return err
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	if accepted {
		c.trust.resolved(fmt.Sprintf("key:%s:%x", s.handle, s.key[:]))
	}
	for _, ev := range events {
		c.emit(ev)
	}
	c.offerReleased(released)
	return nil
}
