package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// Self-monitoring (spec/client.md §6.3): every client watches its own
// account's key set for devices it did not create or approve, and for
// revocations it did not make.
const (
	// ownAccountPoll is how often the own account's key set is looked up
	// besides each relay connection and each new checkpoint.
	ownAccountPoll = 15 * time.Minute
	// checkpointCheckGap is the least time between two checks caused by
	// new checkpoints (a busy log grows all the time).
	checkpointCheckGap = dirTTL
)

// trustState is the client's state for the trust policy.
type trustState struct {
	kick chan struct{} // wakes the monitor

	mu        sync.Mutex // guards the fields below
	reported  map[string]bool
	poll      time.Duration
	lastCheck time.Time

	// ownMu serialises the review of this account's devices with
	// approvals and revocations.
	ownMu sync.Mutex
	// handMu lets one message at a time be offered to the application
	// (spec/client.md §5.2), whoever offers it.
	handMu sync.Mutex
}

func (t *trustState) init() {
	t.kick, t.reported, t.poll = make(chan struct{}, 1), map[string]bool{}, ownAccountPoll
}

// reportOnce reports whether key was not reported yet in this run, and
// marks it reported.
func (t *trustState) reportOnce(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reported[key] {
		return false
	}
	t.reported[key] = true
	return true
}

// resolved forgets that key was reported, so that it is reported again if
// it comes back.
func (t *trustState) resolved(key string) {
	t.mu.Lock()
	delete(t.reported, key)
	t.mu.Unlock()
}

// kickMonitor makes the monitor look at this account now.
func (c *Client) kickMonitor() {
	select {
	case c.trust.kick <- struct{}{}:
	default:
	}
}

// checkpointAdvanced is called when a lookup advanced the pinned
// checkpoint: the log grew, so this account may have changed
// (spec/client.md §6.3). It does not block.
func (c *Client) checkpointAdvanced() {
	c.trust.mu.Lock()
	recent := time.Since(c.trust.lastCheck) < checkpointCheckGap
	c.trust.mu.Unlock()
	if !recent {
		c.kickMonitor()
	}
}

// monitorLoop checks this account's key set on every kick (relay
// connections, new checkpoints) and every ownAccountPoll.
func (c *Client) monitorLoop() {
	defer c.wg.Done()
	for {
		c.trust.mu.Lock()
		every := c.trust.poll
		c.trust.mu.Unlock()
		t := time.NewTimer(every)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-c.trust.kick:
			t.Stop()
		case <-t.C:
		}
		if err := c.checkOwnAccount(c.ctx); err != nil && c.ctx.Err() == nil {
			c.log.Info("client: checking this account's devices failed; will retry", "err", err)
		}
	}
}

// checkOwnAccount looks this account up afresh and reviews its devices.
func (c *Client) checkOwnAccount(ctx context.Context) error {
	id := c.identity()
	if id == nil {
		return ErrNotRegistered
	}
	c.trust.mu.Lock()
	c.trust.lastCheck = time.Now()
	c.trust.mu.Unlock()
	d, err := c.lookup(ctx, id.handle, true)
	if err != nil {
		return err
	}
	if err := c.checkOwn(d); err != nil {
		return err
	}
	if err := c.checkOwnHistory(ctx, id); err != nil {
		return err
	}
	_, err = c.reviewOwn(ctx, id, d.entry)
	return err
}

// checkOwnHistory fetches and verifies every value this account's index
// in the directory has ever had (spec/client.md §6.3,
// spec/transparency-v2.md §6.4): each key set a successor of the one
// before, under this device's account key from the first, with proofs
// that the index held nothing else in between. A key set the key server
// showed others for a while — another account key, a device later
// hidden — breaks the chain and is ErrSecurity.
func (c *Client) checkOwnHistory(ctx context.Context, id *identity) error {
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return err
	}
	resp, err := c.ks.DirectoryHistory(ctx, tok, id.handle)
	if err != nil {
		return fmt.Errorf("client: this account's history: %w", err)
	}
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	v, err := c.logVerifier(ctx)
	if err != nil {
		return err
	}
	hist, pin, err := ksclient.VerifyDirectoryHistory(ctx, c.ks, v, c.vrfKey, c.pin, c.freshness(), id.handle, resp)
	if err != nil {
		return c.verifyError(id.handle, "verifying this account's history", err)
	}
	if len(hist.Entries) == 0 || hist.Entries[0].AccountKey != id.accountKey {
		return c.securityError(id.handle, errors.New("the directory's history of this account does not start with this account's key"))
	}
	return c.advancePin(ctx, pin)
}

// seedOwnDevices records, on a device that has no record of its own
// account's devices yet (a new device, a restored one, or a store made
// before this record existed), itself and the active devices of the key
// set it stored for its account as approved (spec/client.md §6.3).
func (c *Client) seedOwnDevices(ctx context.Context, id *identity) error {
	c.trust.ownMu.Lock()
	defer c.trust.ownMu.Unlock()
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		_, err := tx.OwnDevice(uint32(id.device))
		if err == nil || !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if err := tx.PutOwnDevice(uint32(id.device), localstore.OwnApproved, id.certBytes); err != nil {
			return err
		}
		e, err := storedKeySetTx(tx, id.handle)
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.AccountKey != id.accountKey {
			return nil
		}
		for _, d := range e.Active() {
			if d.Certificate.Device == id.device {
				continue
			}
			if err := tx.PutOwnDevice(uint32(d.Certificate.Device), localstore.OwnApproved, d.Certificate.Marshal()); err != nil {
				return err
			}
		}
		return nil
	})
	return storeError(err)
}

// reviewOwn compares this account's verified key set e with the devices
// this device created or approved (spec/client.md §6.3) and returns the
// active devices that may get sent copies. An active device that is not
// approved (with this certificate) raises EventOwnAccountChanged, once per
// run; a revocation of an approved device that this device did not make
// raises it once (Revoked), and is recorded.
func (c *Client) reviewOwn(ctx context.Context, id *identity, e *kt.Entry) (map[keys.DeviceID]bool, error) {
	c.trust.ownMu.Lock()
	defer c.trust.ownMu.Unlock()
	var (
		approved map[keys.DeviceID]bool
		added    []Event
		revoked  []Event
	)
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		approved, added, revoked = map[keys.DeviceID]bool{}, nil, nil
		rows, err := tx.OwnDevices()
		if err != nil {
			return err
		}
		for _, d := range e.Devices {
			dev := d.Certificate.Device
			if dev == id.device {
				continue
			}
			row, ok := rows[uint32(dev)]
			cert := d.Certificate.Marshal()
			if d.Revocation == nil {
				if ok && row.State == localstore.OwnApproved && row.Matches(cert) {
					approved[dev] = true
					continue
				}
				added = append(added, Event{Kind: EventOwnAccountChanged, Handle: id.handle, Device: uint32(dev), Time: d.Certificate.Created})
				continue
			}
			if ok && row.State == localstore.OwnApproved {
				revoked = append(revoked, Event{Kind: EventOwnAccountChanged, Handle: id.handle, Device: uint32(dev), Time: d.Revocation.Revoked, Revoked: true})
				if err := tx.PutOwnDevice(uint32(dev), localstore.OwnRevoked, cert); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	for _, ev := range added {
		if c.trust.reportOnce(fmt.Sprintf("own:%d", ev.Device)) {
			c.log.Warn("client: this account has a device this device did not approve", "device", ev.Device)
			c.emit(ev)
		}
	}
	for _, ev := range revoked {
		c.log.Warn("client: another device revoked a device of this account", "device", ev.Device)
		c.emit(ev)
	}
	return approved, nil
}

// ApproveDevice records that device, an active device of this account
// that this device did not create, is the user's own: from now on it gets
// copies of what this device sends (spec/client.md §6.3). Approve only a
// device you added yourself (on it, `sealpost devices` shows its id); a
// device you do not know is someone else's: revoke it (RevokeDevice) and
// change the backup passphrase.
func (c *Client) ApproveDevice(ctx context.Context, device uint32) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if keys.DeviceID(device) == id.device {
		return nil
	}
	d, err := c.lookup(ctx, id.handle, true)
	if err != nil {
		return err
	}
	if err := c.checkOwn(d); err != nil {
		return err
	}
	var cert *keys.DeviceCertificate
	for _, dev := range d.entry.Active() {
		if dev.Certificate.Device == keys.DeviceID(device) {
			cert = dev.Certificate
		}
	}
	if cert == nil {
		return fmt.Errorf("client: device %d is not an active device of this account", device)
	}
	c.trust.ownMu.Lock()
	defer c.trust.ownMu.Unlock()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		return tx.PutOwnDevice(device, localstore.OwnApproved, cert.Marshal())
	})
	if err != nil {
		return storeError(err)
	}
	c.trust.resolved(fmt.Sprintf("own:%d", device))
	// The new device knows no group yet (spec/groups.md §8.6).
	c.background(func() { c.sendGroupSnapshots(c.ctx) })
	return nil
}
