package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// SafetyNumber returns the safety number of this account and handle, from
// both account keys as the transparency log holds them (spec/keys.md §10):
// the users compare it, in person or by scanning its Compact form, and
// call MarkVerified when it matches.
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
	if err := c.observe(ctx, d); err != nil {
		return nil, err
	}
	return keys.NewSafetyNumber(id.handle, id.accountKey, handle, d.entry.AccountKey)
}

// MarkVerified records that the user compared safety numbers with handle
// and they matched: shown is the safety number the user compared (from
// SafetyNumber). From now on a change of handle's account key stops Send
// until AcceptKeyChange (spec/client.md §6.2). If handle's key is no
// longer the one shown was computed from — it changed while the user was
// comparing — nothing is marked and the error is ErrKeyChanged.
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
	if err := c.observe(ctx, d); err != nil {
		return err
	}
	err = c.store.Update(ctx, func(tx *localstore.Tx) error {
		ct, err := tx.Contact(handle)
		if err != nil {
			return err
		}
		if ct.AccountKey != d.entry.AccountKey {
			return ErrKeyChanged
		}
		now, err := keys.NewSafetyNumber(id.handle, id.accountKey, handle, ct.AccountKey)
		if err != nil {
			return err
		}
		if shown.MatchCompact(now.Compact()) != nil {
			return ErrKeyChanged
		}
		ct.Verified = true
		return tx.PutContact(ct)
	})
	if errors.Is(err, ErrKeyChanged) {
		return fmt.Errorf("%w: %s's key is not the one the safety number shown was made from; compare again", ErrKeyChanged, handle)
	}
	return storeError(err)
}

// AcceptKeyChange accepts handle's current account key in place of the
// one the user verified: the contact becomes unverified, its sessions end,
// and Send works again (spec/client.md §6.2).
func (c *Client) AcceptKeyChange(ctx context.Context, handle string) error {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	d, err := c.lookup(ctx, handle, true)
	if err != nil {
		return err
	}
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	err = c.store.Update(ctx, func(tx *localstore.Tx) error {
		ct, err := tx.Contact(handle)
		if errors.Is(err, localstore.ErrNotFound) {
			ct = localstore.Contact{Handle: handle}
		} else if err != nil {
			return err
		}
		if ct.AccountKey == d.entry.AccountKey {
			return nil
		}
		if err := deleteSessions(tx, handle); err != nil {
			return err
		}
		if err := tx.PutKeySet(handle, d.entry.Marshal()); err != nil {
			return err
		}
		return tx.PutContact(localstore.Contact{Handle: handle, AccountKey: d.entry.AccountKey, KeySetVersion: d.entry.Version, LogIndex: uint64(d.logIndex)})
	})
	return storeError(err)
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
	err = c.store.View(ctx, func(tx *localstore.Tx) error {
		cs, err := tx.Contacts()
		for _, ct := range cs {
			out = append(out, Contact{Handle: ct.Handle, AccountKey: ct.AccountKey, Verified: ct.Verified})
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
	var out []Device
	for _, dev := range d.entry.Devices {
		out = append(out, Device{
			ID:      uint32(dev.Certificate.Device),
			Created: dev.Certificate.Created,
			Revoked: dev.Revocation != nil,
			Current: dev.Certificate.Device == id.device,
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
	ak, err := id.accountPrivate()
	if err != nil {
		return err
	}
	defer ak.Zero()
	rev, err := ak.RevokeDevice(id.handle, keys.DeviceID(device), time.Now())
	if err != nil {
		return err
	}
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return fmt.Errorf("client: revoking device %d: %w", device, err)
	}
	if _, err := c.ks.RevokeDevice(ctx, tok, id.handle, device, &keyserver.RevokeDeviceRequest{Revocation: rev.Marshal()}); err != nil {
		return fmt.Errorf("client: revoking device %d: %w", device, err)
	}
	c.forget(id.handle)
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	err = c.store.Update(ctx, func(tx *localstore.Tx) error {
		err := tx.DeleteSession(id.handle, device)
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		return err
	})
	return storeError(err)
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
	_, err = ks.AddDevice(ctx, handle, &keyserver.AddDeviceRequest{Certificate: cert.Marshal(), Challenge: chal.Challenge, ChallengeSignature: sig})
	if err != nil {
		return 0, nil, fmt.Errorf("client: adding device %d: %w", next, err)
	}
	return next, cert, nil
}
