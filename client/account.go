package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// SafetyNumber returns the safety number of this account and handle, from
// both account keys as the transparency log holds them (spec/keys.md §10):
// the users compare it, in person or by scanning its Compact form, and
// call MarkVerified when it matches. After a key change (KeyChange) it is
// the number with the new key.
func (c *Client) SafetyNumber(ctx context.Context, handle string) (*keys.SafetyNumber, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	d, err := c.lookup(ctx, handle, true)
	if err != nil {
		return nil, err
	}
	if handle == id.handle {
		return nil, errors.New("client: a safety number is between two accounts; this is your own")
	}
	if err := c.observe(ctx, d); err != nil && !errors.Is(err, ErrKeyChanged) {
		return nil, err
	}
	return keys.NewSafetyNumber(id.handle, id.accountKey, handle, d.entry.AccountKey)
}

// KeyChange returns handle's account-key change that the user has not
// accepted, with the safety numbers of the old and the new key, or nil if
// there is none (spec/client.md §6.2).
func (c *Client) KeyChange(ctx context.Context, handle string) (*KeyChange, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if handle == id.handle {
		return nil, nil
	}
	d, err := c.lookup(ctx, handle, true)
	if err != nil {
		return nil, err
	}
	if err := c.observe(ctx, d); err != nil && !errors.Is(err, ErrKeyChanged) {
		return nil, err
	}
	var ct localstore.Contact
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		ct, err = tx.Contact(handle)
		return err
	})
	if err != nil {
		return nil, storeError(err)
	}
	if !ct.Pending {
		return nil, nil
	}
	return c.keyChange(handle, ct.AccountKey, ct.PendingKey, ct.Verified)
}

// MarkVerified records that the user compared safety numbers with handle
// and they matched: shown is the safety number the user compared (from
// SafetyNumber). From now on a change of handle's account key makes Send
// fail with ErrSecurity and holds the messages under the new key until
// the user verifies again or accepts the change (spec/client.md §6.2).
// After a key change, MarkVerified with the new key's safety number
// accepts the new key as verified and releases the held messages. If
// handle's key is no longer the one shown was computed from — it changed
// while the user was comparing — nothing is marked and the error is
// ErrKeyChanged.
func (c *Client) MarkVerified(ctx context.Context, handle string, shown *keys.SafetyNumber) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if shown == nil {
		return errors.New("client: MarkVerified needs the safety number the user compared")
	}
	d, err := c.lookup(ctx, handle, true)
	if err != nil {
		return err
	}
	if err := c.observe(ctx, d); err != nil && !errors.Is(err, ErrKeyChanged) {
		return err
	}
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	var (
		released []localstore.InboxMessage
		events   []Event
	)
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		released, events = nil, nil
		ct, err := tx.Contact(handle)
		if err != nil {
			return err
		}
		now, err := keys.NewSafetyNumber(id.handle, id.accountKey, handle, d.entry.AccountKey)
		if err != nil {
			return err
		}
		if shown.MatchCompact(now.Compact()) != nil {
			return ErrKeyChanged
		}
		switch {
		case ct.AccountKey == d.entry.AccountKey && !ct.Pending:
			ct.Verified = true
			return tx.PutContact(ct)
		case ct.Pending && ct.PendingKey == d.entry.AccountKey:
			// The user compared the new key: it becomes the
			// verified one (spec/client.md §6.2).
			if err := c.adoptKey(tx, ct, d, true); err != nil {
				return err
			}
			released, events, err = c.releaseHeld(tx, id, handle)
			return err
		}
		return ErrKeyChanged
	})
	if errors.Is(err, ErrKeyChanged) {
		return fmt.Errorf("%w: %s's key is not the one the safety number shown was made from; compare again", ErrKeyChanged, handle)
	}
	if err != nil {
		return storeError(err)
	}
	for _, ev := range events {
		c.emit(ev)
	}
	c.offerReleased(released)
	c.sendSync(&contentpb.Sync{Change: &contentpb.Sync_Verified{Verified: &contentpb.SyncVerified{
		Handle: handle, AccountKey: d.entry.AccountKey[:], Verified: true}}})
	return nil
}

// AcceptKeyChange accepts handle's new account key, the one the
// transparency log holds now, in place of the one this device knew
// (spec/client.md §6.2): the contact becomes unverified, its sessions end,
// Send works again, and messages held under the new key are offered,
// marked KeyChanged. Show the user both safety numbers (KeyChange) first.
// Without a key change it does nothing.
func (c *Client) AcceptKeyChange(ctx context.Context, handle string) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if handle == id.handle {
		return errors.New("client: this account's own key is not a contact's")
	}
	d, err := c.lookup(ctx, handle, true)
	if err != nil {
		return err
	}
	if err := c.observe(ctx, d); err != nil && !errors.Is(err, ErrKeyChanged) {
		return err
	}
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	var (
		released []localstore.InboxMessage
		events   []Event
		changed  bool
	)
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		released, events, changed = nil, nil, false
		ct, err := tx.Contact(handle)
		if err != nil {
			return err
		}
		if ct.AccountKey == d.entry.AccountKey && !ct.Pending {
			return nil
		}
		changed = true
		if err := c.adoptKey(tx, ct, d, false); err != nil {
			return err
		}
		released, events, err = c.releaseHeld(tx, id, handle)
		return err
	})
	if err != nil {
		return storeError(err)
	}
	c.trust.resolved(fmt.Sprintf("key:%s:%x", handle, d.entry.AccountKey[:]))
	for _, ev := range events {
		c.emit(ev)
	}
	c.offerReleased(released)
	if changed {
		c.sendSync(&contentpb.Sync{Change: &contentpb.Sync_KeyAccepted{KeyAccepted: &contentpb.SyncKeyAccepted{
			Handle: handle, AccountKey: d.entry.AccountKey[:]}}})
	}
	return nil
}

// Contacts returns the accounts this device has looked up, in handle
// order.
func (c *Client) Contacts(ctx context.Context) ([]Contact, error) {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []Contact
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		cs, err := tx.Contacts()
		for _, ct := range cs {
			out = append(out, Contact{Handle: ct.Handle, AccountKey: ct.AccountKey, Verified: ct.Verified, KeyChanged: ct.Pending, PendingKey: ct.PendingKey})
		}
		return err
	})
	return out, storeError(err)
}

// Devices returns this account's devices as the transparency log holds
// them.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	d, err := c.lookup(ctx, id.handle, true)
	if err != nil {
		return nil, err
	}
	if err := c.checkOwn(d); err != nil {
		return nil, err
	}
	approved, err := c.reviewOwn(ctx, id, d.entry)
	if err != nil {
		return nil, err
	}
	var infos map[uint32]localstore.DeviceInfo
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		infos, err = tx.DeviceInfos()
		return err
	}); err != nil {
		return nil, storeError(err)
	}
	var out []Device
	for _, dev := range d.entry.Devices {
		current := dev.Certificate.Device == id.device
		in := infos[uint32(dev.Certificate.Device)]
		out = append(out, Device{
			ID:       uint32(dev.Certificate.Device),
			Created:  dev.Certificate.Created,
			Revoked:  dev.Revocation != nil,
			Current:  current,
			Approved: current || (dev.Revocation == nil && approved[dev.Certificate.Device]),
			Name:     in.Name,
			LastSeen: in.LastSeen,
		})
	}
	return out, nil
}

// RevokeDevice revokes another device of this account; it needs the
// account key (ErrNoAccountKey otherwise), and this device must itself be
// active: the key server takes the account key's revocation only with a
// token of an active device of the account (spec/keyserver.md §1.1, §5.5).
// The revoked device can no longer use the key server or the relay, and
// other accounts stop sending to it.
func (c *Client) RevokeDevice(ctx context.Context, device uint32) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if keys.DeviceID(device) == id.device {
		return errors.New("client: a device cannot revoke itself; revoke it from another device")
	}
	ak, release, err := id.accountPrivate()
	if err != nil {
		return err
	}
	defer release()
	rev, err := ak.RevokeDevice(id.handle, keys.DeviceID(device), time.Now())
	if err != nil {
		return err
	}
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return fmt.Errorf("client: revoking device %d: %w", device, err)
	}
	// Held across the revocation, so that the monitor does not report
	// it as made by another device (spec/client.md §6.3).
	c.trust.ownMu.Lock()
	defer c.trust.ownMu.Unlock()
	if _, err := c.ks.RevokeDevice(ctx, tok, id.handle, device, &api.RevokeDeviceRequest{Revocation: rev.Marshal()}); err != nil {
		return fmt.Errorf("client: revoking device %d: %w", device, err)
	}
	c.forget(id.handle)
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	err = c.store.Update(context.WithoutCancel(ctx), func(tx localstore.Tx) error {
		if err := tx.PutOwnDevice(device, localstore.OwnRevoked, nil); err != nil {
			return err
		}
		// A new sending chain in every group, which the revoked device
		// does not get (spec/client.md §14.4).
		if err := groupDeviceRevoked(tx, id.handle, device); err != nil {
			return err
		}
		err := tx.DeleteSession(id.handle, device)
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return storeError(err)
	}
	c.trust.resolved(fmt.Sprintf("own:%d", device))
	// Distributed now, not at the next group message: each member that
	// gets it looks this account up again, sees the revocation and makes
	// a new chain of its own.
	c.background(func() { c.rotateGroupChains(c.ctx) })
	return nil
}

// linkDevice certifies new device keys with the account key and adds the
// device to the account (spec/keyserver.md §5.4); it returns the new
// device's id and certificate.
func linkDevice(ctx context.Context, ks *ksclient.Client, handle string, ak *keys.AccountPrivateKey, dk *keys.DevicePrivateKeys, entry *kt.Entry) (keys.DeviceID, *keys.DeviceCertificate, error) {
	name, err := ks.Name(ctx)
	if err != nil {
		return 0, nil, err
	}
	var next keys.DeviceID = 1
	for _, d := range entry.Devices {
		if d.Certificate.Device >= next {
			next = d.Certificate.Device + 1
		}
	}
	cert, err := ak.CertifyDevice(handle, next, dk.Public(), time.Now())
	if err != nil {
		return 0, nil, err
	}
	chal, err := ks.Challenge(ctx, "")
	if err != nil {
		return 0, nil, err
	}
	sig, err := token.SignChallenge(dk, handle, next, chal.Challenge, name)
	if err != nil {
		return 0, nil, err
	}
	_, err = ks.AddDevice(ctx, handle, &api.AddDeviceRequest{Certificate: cert.Marshal(), Challenge: chal.Challenge, ChallengeSignature: sig})
	if err != nil {
		return 0, nil, fmt.Errorf("client: adding device %d: %w", next, err)
	}
	return next, cert, nil
}
