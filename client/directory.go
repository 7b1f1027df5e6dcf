package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// dirTTL is how long a verified key set is used before it is looked up
// again (spec/client.md §6.1).
const dirTTL = 30 * time.Second

// dirEntry is a verified key set and where it sits in the log.
type dirEntry struct {
	entry *kt.Entry
	// epoch is the directory epoch the entry was proven latest in.
	epoch uint64
	// at is the checkpoint the entry was verified under, the latest as of
	// its tree: while the key server's checkpoint has this size and root,
	// the entry is the latest (spec/client.md §6.1, "Unchanged
	// directory").
	at      *kt.Checkpoint
	fetched time.Time
}

// findActive returns the active device of e with cert's id whose
// certificate is cert, byte for byte, or nil.
func (d *dirEntry) findActive(cert []byte, id keys.DeviceID) *keys.DeviceCertificate {
	for _, dev := range d.entry.Active() {
		if dev.Certificate.Device == id && bytes.Equal(dev.Certificate.Marshal(), cert) {
			return dev.Certificate
		}
	}
	return nil
}

// securityError marks err, which shows a misbehaving server, with
// ErrSecurity and reports it as an event.
func (c *Client) securityError(handle string, err error) error {
	err = fmt.Errorf("%w: %w", ErrSecurity, err)
	c.emit(Event{Kind: EventSecurity, Handle: handle, Err: err})
	return err
}

// groupDirTTL is how long a member's key set is used for a group message
// without waiting for a new lookup (spec/client.md §14.4): one older than
// dirTTL is looked up again in the background, and the messages after
// that use the new one. A group of 1,000 members would otherwise wait for
// 1,000 lookups before its first message after half a minute.
const groupDirTTL = 10 * time.Minute

// lookupForGroup returns handle's verified key set for a group message:
// the cached one if it is younger than groupDirTTL (looked up again in the
// background if it is older than dirTTL), else a new lookup.
func (c *Client) lookupForGroup(ctx context.Context, handle string) (*dirEntry, error) {
	c.mu.Lock()
	d := c.dir[handle]
	c.mu.Unlock()
	if d == nil || time.Since(d.fetched) >= groupDirTTL {
		return c.lookup(ctx, handle, false)
	}
	if time.Since(d.fetched) >= dirTTL {
		c.refreshLater(handle)
	}
	return d, nil
}

// refreshLater looks handle up again in the background, once, one lookup
// at a time.
func (c *Client) refreshLater(handle string) {
	c.mu.Lock()
	if c.refresh == nil {
		c.refresh = map[string]bool{}
	}
	if c.refresh[handle] {
		c.mu.Unlock()
		return
	}
	c.refresh[handle] = true
	start := !c.refreshing
	c.refreshing = true
	c.mu.Unlock()
	if !start {
		return
	}
	if !c.background(c.refreshLoop) {
		c.mu.Lock()
		c.refreshing = false
		c.mu.Unlock()
	}
}

// refreshLoop looks up the handles refreshLater queued until none is left.
func (c *Client) refreshLoop() {
	for {
		c.mu.Lock()
		var h string
		for k := range c.refresh {
			h = k
			break
		}
		if h == "" || c.ctx.Err() != nil {
			c.refreshing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if _, err := c.lookup(c.ctx, h, true); err != nil && c.ctx.Err() == nil {
			c.log.Info("client: looking a group member up again", "err", err)
		}
		c.mu.Lock()
		delete(c.refresh, h)
		c.mu.Unlock()
	}
}

// lookup returns handle's verified key set: from the cache if it is
// younger than dirTTL and fresh is false, else from the key server,
// checked against the pinned checkpoint, which it advances
// (spec/client.md §6.1). Errors: ErrUnknownHandle, ErrSecurity, or a
// network error.
func (c *Client) lookup(ctx context.Context, handle string, fresh bool) (*dirEntry, error) {
	if keys.CheckHandle(handle) != nil {
		return nil, fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	c.mu.Lock()
	d := c.dir[handle]
	c.mu.Unlock()
	if d != nil && !fresh && time.Since(d.fetched) < dirTTL {
		return d, nil
	}
	// Lookups run one at a time, fetch included, so that an older
	// answer is never checked after a newer one (spec/client.md §6.1).
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	defer span(ctx, "lookup")()
	entry, at, pin, resp, err := c.fetchVerified(ctx, handle)
	for _, wait := range staleRetries {
		// A stale answer, or one under a checkpoint the witnesses have
		// not cosigned yet (the directory just grew), is asked again.
		if !errors.Is(err, ErrStale) && !errors.Is(err, ErrNoQuorum) {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
		entry, at, pin, resp, err = c.fetchVerified(ctx, handle)
	}
	if err != nil {
		return nil, err
	}
	end := span(ctx, "lookup-record")
	grew := pin != nil && (c.pin == nil || pin.Size > c.pin.Size)
	advanced, err := c.recordKeySet(ctx, pin, entry)
	end()
	if advanced && grew {
		c.checkpointAdvanced() // spec/client.md §6.3
	}
	if err != nil {
		return nil, err
	}
	d = &dirEntry{entry: entry, epoch: resp.Epoch, at: at, fetched: time.Now()}
	c.mu.Lock()
	c.dir[handle] = d
	c.dirGen++
	c.mu.Unlock()
	return d, nil
}

// fetchVerified asks the key server for the proof of handle's latest key
// set and verifies it against the pin and the age rule (spec/client.md
// §6.1). It returns the entry, the checkpoint it was verified under, the
// checkpoint to pin next and the answer. A proof that the handle is
// absent is ErrUnknownHandle. The caller holds pinMu.
func (c *Client) fetchVerified(ctx context.Context, handle string) (entry *kt.Entry, at, pin *kt.Checkpoint, resp *api.DirectoryLookup, err error) {
	end := span(ctx, "lookup-fetch")
	resp, err = c.ks.DirectoryLookup(ctx, handle)
	end()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("client: looking up %s: %w", handle, err)
	}
	v, err := c.logVerifier(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	end = span(ctx, "lookup-verify")
	entry, at, pin, err = ksclient.VerifyDirectoryLookupAt(ctx, c.ks, v, c.vrfKey, c.pin, c.freshness(), handle, resp)
	end()
	if err != nil {
		return nil, nil, nil, nil, c.verifyError(handle, "verifying "+handle, err)
	}
	if entry == nil {
		// Proven absent. The pin may still advance: the proof was
		// checked under a checkpoint consistent with it.
		if err := c.advancePin(ctx, pin); err != nil {
			return nil, nil, nil, nil, err
		}
		// The map only grows: a handle this device holds a verified key
		// set of cannot have left it.
		var held bool
		err := c.store.View(ctx, func(tx localstore.Tx) error {
			_, err := tx.KeySet(handle)
			held = err == nil
			if errors.Is(err, localstore.ErrNotFound) {
				err = nil
			}
			return err
		})
		if err != nil {
			return nil, nil, nil, nil, storeError(err)
		}
		if held {
			return nil, nil, nil, nil, c.securityError(handle, fmt.Errorf("the directory proves %s absent, whose key set it proved to this device before", handle))
		}
		return nil, nil, nil, nil, fmt.Errorf("%w: %s", ErrUnknownHandle, handle)
	}
	return entry, at, pin, resp, nil
}

// verifyError classifies an error of a ksclient verification for the
// application (classify), reporting ErrSecurity as an event.
func (c *Client) verifyError(handle, what string, err error) error {
	if errors.Is(err, kt.ErrSecurity) {
		return c.securityError(handle, err)
	}
	return classify(what, err)
}

// newerPin reports whether pin is to replace the pinned checkpoint: it is
// larger or, of the same size, timestamped later (spec/client.md §6.1
// step 6, spec/transparency.md §7.1 step 4). pin is what kt's Advance
// returned against the pin, so it is consistent with it. The caller holds
// pinMu.
func (c *Client) newerPin(pin *kt.Checkpoint) bool {
	return pin != nil && (c.pin == nil || pin.Size != c.pin.Size || pin.Time.After(c.pin.Time))
}

// advancePin stores pin if it is newer than the pinned checkpoint
// (newerPin). The caller holds pinMu.
func (c *Client) advancePin(ctx context.Context, pin *kt.Checkpoint) error {
	if !c.newerPin(pin) {
		return nil
	}
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		return tx.PutCheckpoint(pin.Signed, time.Now())
	})
	if err != nil {
		return storeError(err)
	}
	c.pin = pin
	c.pinText = pin.Signed
	return nil
}

// observe applies the contact policy to a peer's verified key set
// (spec/client.md §6.2): nil when messages may be encrypted to it. The
// first key set of a handle creates its contact record. An account key
// other than the record's is never followed silently: the record keeps
// its key and records the new one as pending, EventKeyChanged reports
// both safety numbers (once per run and new key), and the error wraps
// ErrKeyChanged — and ErrSecurity for a verified contact — until
// AcceptKeyChange or MarkVerified with the new safety number. Only with
// Config.FollowKeyChanges does an unverified contact follow the new key
// (the event is still reported). A key set older than the record's is
// ErrSecurity.
func (c *Client) observe(ctx context.Context, d *dirEntry) error {
	e := d.entry
	var (
		ct       localstore.Contact
		changed  bool
		followed bool
	)
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		changed, followed = false, false
		var err error
		ct, err = tx.Contact(e.Handle)
		if errors.Is(err, localstore.ErrNotFound) {
			return tx.PutContact(localstore.Contact{Handle: e.Handle, AccountKey: e.AccountKey, KeySetVersion: e.Version, LogIndex: d.epoch})
		}
		if err != nil {
			return err
		}
		if ct.AccountKey != e.AccountKey {
			changed = true
			if !ct.Verified && c.cfg.FollowKeyChanges {
				// The application opted in to "warn and continue".
				followed = true
				return c.adoptKey(tx, ct, d, false)
			}
			if ct.Pending && ct.PendingKey == e.AccountKey {
				return nil
			}
			ct.Pending, ct.PendingKey = true, e.AccountKey
			return tx.PutContact(ct)
		}
		if ct.Pending {
			// The log holds the known key again.
			ct.Pending, ct.PendingKey = false, [32]byte{}
			if err := tx.PutContact(ct); err != nil {
				return err
			}
		}
		if e.Version < ct.KeySetVersion {
			return fmt.Errorf("%w: the key server shows version %d of %s's key set after version %d", ErrSecurity, e.Version, e.Handle, ct.KeySetVersion)
		}
		if e.Version == ct.KeySetVersion {
			return nil
		}
		ct.KeySetVersion, ct.LogIndex = e.Version, d.epoch
		return tx.PutContact(ct)
	})
	if errors.Is(err, ErrSecurity) {
		c.emit(Event{Kind: EventSecurity, Handle: e.Handle, Err: err})
		return err
	}
	if err != nil {
		return storeError(err)
	}
	if !changed {
		return nil
	}
	if c.trust.reportOnce(fmt.Sprintf("key:%s:%x", e.Handle, e.AccountKey[:])) {
		kc, err := c.keyChange(e.Handle, ct.AccountKey, e.AccountKey, ct.Verified)
		if err != nil {
			return err
		}
		c.emit(Event{Kind: EventKeyChanged, Handle: e.Handle, KeyChange: kc})
	}
	switch {
	case followed:
		return nil
	case ct.Verified:
		return fmt.Errorf("%w: %w: %s's account key is not the one you verified; compare safety numbers again", ErrSecurity, ErrKeyChanged, e.Handle)
	}
	return fmt.Errorf("%w: %s's account key changed; nothing is sent to %s until the change is accepted", ErrKeyChanged, e.Handle, e.Handle)
}

// adoptKey makes d's key set the contact's: the account key, verified as
// given, no pending change; the key set stored; the sessions with the old
// key's devices deleted (spec/client.md §6.2).
func (c *Client) adoptKey(tx localstore.Tx, ct localstore.Contact, d *dirEntry, verified bool) error {
	if err := deleteSessions(tx, ct.Handle); err != nil {
		return err
	}
	if err := tx.PutKeySet(ct.Handle, d.entry.Marshal()); err != nil {
		return err
	}
	return tx.PutContact(localstore.Contact{Handle: ct.Handle, AccountKey: d.entry.AccountKey, Verified: verified, KeySetVersion: d.entry.Version, LogIndex: d.epoch})
}

// keyChange describes a change of handle's account key from old to now.
func (c *Client) keyChange(handle string, old, now [32]byte, verified bool) (*KeyChange, error) {
	id := c.identity()
	if id == nil {
		return nil, ErrNotRegistered
	}
	o, err := keys.NewSafetyNumber(id.handle, id.accountKey, handle, old)
	if err != nil {
		return nil, err
	}
	n, err := keys.NewSafetyNumber(id.handle, id.accountKey, handle, now)
	if err != nil {
		return nil, err
	}
	return &KeyChange{Handle: handle, Old: o, New: n, Verified: verified}, nil
}

// deviceChanges compares a contact's key set next with prev, the one
// stored before, under the same account key (spec/client.md §6.2): it
// deletes the sessions with devices revoked since and returns the events
// for devices added and removed.
func deviceChanges(tx localstore.Tx, prev, next *kt.Entry) ([]Event, error) {
	before := map[keys.DeviceID]kt.Device{}
	for _, d := range prev.Devices {
		before[d.Certificate.Device] = d
	}
	var events []Event
	for _, d := range next.Devices {
		id := d.Certificate.Device
		p, known := before[id]
		switch {
		case !known && d.Revocation == nil:
			events = append(events, Event{Kind: EventDeviceAdded, Handle: next.Handle, Device: uint32(id), Time: d.Certificate.Created})
		case d.Revocation != nil && (!known || p.Revocation == nil):
			err := tx.DeleteSession(next.Handle, uint32(id))
			if err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return nil, err
			}
			// Its group chains are forgotten, and a new sending chain is
			// due in every group it was in (spec/groups.md §8.3).
			if err := groupDeviceRevoked(tx, next.Handle, uint32(id)); err != nil {
				return nil, err
			}
			if known {
				events = append(events, Event{Kind: EventDeviceRemoved, Handle: next.Handle, Device: uint32(id), Time: d.Revocation.Revoked})
			}
		}
	}
	return events, nil
}

// deleteSessions deletes every session with handle's devices.
func deleteSessions(tx localstore.Tx, handle string) error {
	ids, err := tx.SessionDevices(handle)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.DeleteSession(handle, id); err != nil {
			return err
		}
	}
	return nil
}

// forget drops handle's cached key set, so the next lookup asks the key
// server.
func (c *Client) forget(handle string) {
	c.mu.Lock()
	delete(c.dir, handle)
	c.dirGen++
	c.mu.Unlock()
}

// recordKeySet compares a verified key set with the one stored for its
// handle and stores it if it is newer (spec/client.md §6.2). A key set of
// the same account key must continue the stored one: a lower version, a
// different key set under the same version, or a later one that drops a
// device or undoes a revocation is ErrSecurity — a key server showing a
// stale or invented history. A key set under another account key is left
// to the contact policy (observe); for this device's own account it is
// ErrSecurity.
//
// The same transaction stores pin, the checkpoint the lookup verified e
// under, if it is larger than the pinned one (as advancePin): one commit
// for the lookup (spec/client.md §6.1 step 6). advanced reports that pin
// is the pinned checkpoint now, whether or not e was recorded, as the
// lookup's caller of advancePin checked. The caller holds pinMu.
func (c *Client) recordKeySet(ctx context.Context, pin *kt.Checkpoint, e *kt.Entry) (advanced bool, err error) {
	newPin := c.newerPin(pin)
	own := false
	if id := c.identity(); id != nil && id.handle == e.Handle {
		own = true
		if e.AccountKey != id.accountKey {
			if err := c.advancePin(ctx, pin); err != nil {
				return false, err
			}
			return pin != nil && c.pin == pin, c.securityError(e.Handle, errors.New("the key server lists another account key for this account"))
		}
	}
	var (
		secErr error
		events []Event
	)
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		secErr, events = nil, nil
		if newPin {
			if err := tx.PutCheckpoint(pin.Signed, time.Now()); err != nil {
				return err
			}
		}
		prev, err := storedKeySetTx(tx, e.Handle)
		if errors.Is(err, localstore.ErrNotFound) {
			return tx.PutKeySet(e.Handle, e.Marshal())
		}
		if err != nil {
			return err
		}
		if prev.AccountKey != e.AccountKey {
			if own {
				secErr = errors.New("this account's key set changed account key")
			}
			return nil
		}
		if secErr = continues(prev, e); secErr != nil {
			return nil
		}
		if e.Version <= prev.Version {
			return nil
		}
		if !own {
			// This account's devices are checked against the ones this
			// device approved instead (reviewOwn, spec/client.md §6.3).
			if events, err = deviceChanges(tx, prev, e); err != nil {
				return err
			}
		}
		return tx.PutKeySet(e.Handle, e.Marshal())
	})
	if err != nil {
		return false, storeError(err)
	}
	if newPin {
		c.pin, c.pinText = pin, pin.Signed
	}
	advanced = pin != nil && c.pin == pin
	if secErr != nil {
		return advanced, c.securityError(e.Handle, secErr)
	}
	for _, ev := range events {
		c.emit(ev)
	}
	return advanced, nil
}

// storedKeySetTx returns the key set stored for handle
// (spec/client-store.md §4.10), or localstore.ErrNotFound.
func storedKeySetTx(tx localstore.Tx, handle string) (*kt.Entry, error) {
	raw, err := tx.KeySet(handle)
	if err != nil {
		return nil, err
	}
	e, err := kt.ParseEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: stored key set of %s: %v", ErrCorrupt, handle, err)
	}
	return e, nil
}

// continues checks that next may follow prev, an earlier key set of the
// same account seen by this device: the same one again, its successor
// (spec/transparency.md §7.3), or a later one that keeps every device of
// prev byte for byte, revocations included.
func continues(prev, next *kt.Entry) error {
	switch {
	case next.Version < prev.Version:
		return fmt.Errorf("the key server shows version %d of %s's key set after version %d", next.Version, next.Handle, prev.Version)
	case next.Version == prev.Version:
		if !bytes.Equal(prev.Marshal(), next.Marshal()) {
			return fmt.Errorf("the key server shows two different key sets of %s with version %d", next.Handle, next.Version)
		}
		return nil
	case next.Version == prev.Version+1:
		return kt.CheckSuccessor(prev, next)
	}
	for _, p := range prev.Devices {
		found := false
		for _, n := range next.Devices {
			if n.Certificate.Device != p.Certificate.Device {
				continue
			}
			found = bytes.Equal(n.Certificate.Marshal(), p.Certificate.Marshal())
			if p.Revocation != nil {
				found = found && n.Revocation != nil && bytes.Equal(n.Revocation.Marshal(), p.Revocation.Marshal())
			}
		}
		if !found {
			return fmt.Errorf("the key server's version %d of %s's key set drops or changes device %d of version %d", next.Version, next.Handle, p.Certificate.Device, prev.Version)
		}
	}
	return nil
}

// lookupUnchanged returns the key sets this device holds of handles if
// the directory has not changed since they were verified
// (spec/client.md §6.1, "Unchanged directory"): all were verified under
// checkpoints of one log size and root, and the key server's current
// checkpoint, verified as a lookup's checkpoint is (stale retries
// included), has that size and root. It returns nil, and no error, when
// the fast path does not apply and each handle must be looked up; an
// error is the one a lookup would have given for the same checkpoint.
func (c *Client) lookupUnchanged(ctx context.Context, handles ...string) ([]*dirEntry, error) {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	ds := make([]*dirEntry, len(handles))
	c.mu.Lock()
	for i, h := range handles {
		ds[i] = c.dir[h]
	}
	c.mu.Unlock()
	for _, d := range ds {
		if d == nil || d.at == nil || d.at.Size != ds[0].at.Size || d.at.Root != ds[0].at.Root {
			return nil, nil
		}
	}
	defer span(ctx, "checkpoint")()
	cp, pin, err := c.fetchCheckpoint(ctx)
	for _, wait := range staleRetries {
		// As a lookup's: a stale checkpoint, or one the witnesses have
		// not cosigned yet, is asked again.
		if !errors.Is(err, ErrStale) && !errors.Is(err, ErrNoQuorum) {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
		cp, pin, err = c.fetchCheckpoint(ctx)
	}
	if err != nil {
		return nil, err
	}
	grew := pin != nil && (c.pin == nil || pin.Size > c.pin.Size)
	if err := c.advancePin(ctx, pin); err != nil {
		return nil, err
	}
	if grew {
		c.checkpointAdvanced() // spec/client.md §6.3
	}
	if cp.Size != ds[0].at.Size || cp.Root != ds[0].at.Root {
		return nil, nil // the directory changed: look up
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, d := range ds {
		nd := &dirEntry{entry: d.entry, epoch: d.epoch, at: cp, fetched: now}
		if c.dir[handles[i]] == d {
			c.dir[handles[i]] = nd
		}
		ds[i] = nd
	}
	// As a lookup's: what was built from the key sets held (a group's
	// recipients) is built again from these, younger ones.
	c.dirGen++
	return ds, nil
}

// fetchCheckpoint asks the key server for its current checkpoint
// (spec/keyserver.md §9.3) and verifies it as a lookup's checkpoint is
// verified (spec/client.md §6.1 steps 1, 2, 4, 5). It returns the
// checkpoint and the one to pin next. The caller holds pinMu.
func (c *Client) fetchCheckpoint(ctx context.Context) (cp, pin *kt.Checkpoint, err error) {
	end := span(ctx, "checkpoint-fetch")
	signed, err := c.ks.Checkpoint(ctx)
	end()
	if err != nil {
		return nil, nil, fmt.Errorf("client: fetching the directory's checkpoint: %w", err)
	}
	v, err := c.logVerifier(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer span(ctx, "checkpoint-verify")()
	cp, pin, err = ksclient.VerifyCheckpoint(ctx, c.ks, v, c.pin, c.freshness(), signed)
	if err != nil {
		return nil, nil, c.verifyError("", "verifying the directory's checkpoint", err)
	}
	return cp, pin, nil
}
