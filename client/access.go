package client

import (
	"bytes"
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
	"github.com/sealpost/sealpost/relay/wire"
	"google.golang.org/protobuf/proto"
)

// ErrBlocked is returned by sends to an account this device blocked
// (spec/client.md §13.7).
var ErrBlocked = errors.New("client: this account is blocked")

// errBlocked drops what a blocked account sends (spec/client.md §13.7).
var errBlocked = errors.New("client: the sender is blocked")

// access returns this device's access state, making its first access key
// if it has none (spec/client.md §13.6).
func (c *Client) access(ctx context.Context) (localstore.Access, error) {
	var a localstore.Access
	err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		a, err = tx.Access()
		return err
	})
	if !errors.Is(err, localstore.ErrNotFound) {
		return a, storeError(err)
	}
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		var err error
		if a, err = tx.Access(); !errors.Is(err, localstore.ErrNotFound) {
			return err // made meanwhile
		}
		// Open is the relay's default for every mailbox (spec/relay.md
		// §15.8): nothing to tell it. A relay that predates access
		// control never gets a SetAccess it would refuse as malformed
		// unless the user turns contacts-only on.
		a = localstore.Access{Key: make([]byte, localstore.AccessKeySize), Registered: true}
		if _, err := rand.Read(a.Key); err != nil {
			return err
		}
		return tx.PutAccess(a)
	})
	return a, storeError(err)
}

// wireWithAccessKey returns the encoding of a copy of ct, a Content for
// another account, with this device's access key (spec/content.md
// §4.10); ct is not changed.
func (c *Client) wireWithAccessKey(ctx context.Context, ct *content.Content) ([]byte, error) {
	a, err := c.access(ctx)
	if err != nil {
		return nil, err
	}
	cp := &content.Content{Content: proto.Clone(ct.Content).(*contentpb.Content)}
	cp.AccessKey = a.Key
	return content.Marshal(cp)
}

// SetContactsOnly turns on (or off) the relay's check of this device's
// access key on anonymous envelopes to it: with it on, an anonymous sender
// must present the key this device handed to the accounts it writes to,
// or the relay admits its envelope only within the device's small
// first-contact allowance (spec/client.md §13.6, spec/relay.md §15.8). It
// takes effect at the relay with the next connection, or at once when
// connected.
func (c *Client) SetContactsOnly(ctx context.Context, on bool) error {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := c.access(ctx); err != nil {
		return err
	}
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		a, err := tx.Access()
		if err != nil {
			return err
		}
		if a.Contacts == on {
			return nil
		}
		a.Contacts, a.Registered = on, false
		return tx.PutAccess(a)
	})
	if err != nil {
		return storeError(err)
	}
	c.kickAccess()
	return nil
}

// WaitAccessConfirmed waits until the relay has confirmed this device's
// access setting (SetContactsOnly, Block), or ctx ends.
func (c *Client) WaitAccessConfirmed(ctx context.Context) error {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		a, err := c.access(ctx)
		if err != nil {
			return err
		}
		if a.Registered {
			return nil
		}
		if i%20 == 0 {
			c.kickAccess() // again each second: the connection may be new
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Block blocks handle (spec/client.md §13.7): what it sends is dropped
// from now on (EventEnvelopeDropped), nothing is sent to it (ErrBlocked),
// and this device's access key changes at once, the old one refused by
// the relay from the next connection: every other account this device
// handed its key to gets the new key in an access update; the blocked
// account does not. Blocking an account blocked already changes nothing.
func (c *Client) Block(ctx context.Context, handle string) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if keys.CheckHandle(handle) != nil || handle == id.handle {
		return fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	if _, err := c.access(ctx); err != nil {
		return err
	}
	var contacts []string
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		// The blocked account holds the old key: it stops working at
		// once, not after a grace (spec/client.md §13.7).
		var err error
		contacts, err = blockTx(tx, handle, time.Now())
		return err
	})
	if err != nil || contacts == nil {
		return storeError(err)
	}
	c.kickAccess()
	// spec/client.md §17.3: the account's other devices block it too.
	c.sendSync(&contentpb.Sync{Change: &contentpb.Sync_Block{Block: &contentpb.SyncBlock{Handle: handle, Blocked: true}}})
	return c.sendAccessUpdates(ctx, id, contacts)
}

// Unblock lifts a block: the account's messages are taken again and sends
// to it allowed. It does not get the access key until this device writes
// to it. ErrUnknownHandle if handle was not blocked.
func (c *Client) Unblock(ctx context.Context, handle string) error {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	err = c.store.Update(ctx, func(tx localstore.Tx) error { return tx.Unblock(handle) })
	if errors.Is(err, localstore.ErrNotFound) {
		return fmt.Errorf("%w: %q is not blocked", ErrUnknownHandle, handle)
	}
	if err == nil {
		c.sendSync(&contentpb.Sync{Change: &contentpb.Sync_Block{Block: &contentpb.SyncBlock{Handle: handle}}})
	}
	return storeError(err)
}

// Blocked returns the accounts this device blocked, in order.
func (c *Client) Blocked(ctx context.Context) ([]string, error) {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var hs []string
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		hs, err = tx.BlockedHandles()
		return err
	})
	return hs, storeError(err)
}

// sendAccessUpdates queues an access update (spec/content.md §4.10) for
// every account of handles but this one and the blocked ones; they go as
// the queue allows (not waited for).
func (c *Client) sendAccessUpdates(ctx context.Context, id *identity, handles []string) error {
	var errs []error
	for _, h := range handles {
		if h == id.handle {
			continue
		}
		wire, err := c.wireWithAccessKey(ctx, &content.Content{Content: &contentpb.Content{}})
		if err != nil {
			return err
		}
		_, err = c.send(ctx, h, &outMessage{version: payloadVersion2, body: wire, kind: content.KindAccess, noOwn: true, cachedKeys: true}, nil)
		if err != nil && !errors.Is(err, ErrBlocked) && !errors.Is(err, errNoTargets) {
			errs = append(errs, fmt.Errorf("access update to %s: %w", h, err))
		}
	}
	return errors.Join(errs...)
}

// kickAccess tells the relay this device's access state, in the
// background, if the relay has not confirmed it (spec/client.md §13.6):
// after a change, and on every connection.
func (c *Client) kickAccess() {
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	if link == nil {
		return
	}
	c.background(func() {
		if err := c.registerAccess(c.ctx, link); err != nil && c.ctx.Err() == nil {
			c.log.Info("client: telling the relay the access setting failed; will retry on the next connection", "err", err)
		}
	})
}

// registerAccess sends this device's access state to the relay
// (SetAccess, spec/relay.md §15.8) unless the relay confirmed it already,
// and records the confirmation if the state did not change meanwhile.
// One at a time: the relay applies them in order.
func (c *Client) registerAccess(ctx context.Context, link *relaylink.Link) error {
	c.accessMu.Lock()
	defer c.accessMu.Unlock()
	a, err := c.access(ctx)
	if err != nil || a.Registered {
		return err
	}
	mode, verifier, prev := wire.AccessMode_ACCESS_MODE_OPEN, []byte(nil), time.Duration(0)
	if a.Contacts {
		v := wire.AccessVerifier((*[wire.AccessKeySize]byte)(a.Key))
		mode, verifier = wire.AccessMode_ACCESS_MODE_CONTACTS, v[:]
		if a.Previous != nil {
			prev = min(time.Until(a.PreviousUntil).Truncate(time.Second), wire.MaxPreviousValid*time.Second)
			prev = max(prev, 0)
		}
	}
	if err := link.SetAccess(ctx, mode, verifier, prev); err != nil {
		return err
	}
	return storeError(c.store.Update(ctx, func(tx localstore.Tx) error {
		now, err := tx.Access()
		if err != nil {
			return err
		}
		if now.Contacts != a.Contacts || !bytes.Equal(now.Key, a.Key) {
			return nil // changed meanwhile: told again by its own kick
		}
		now.Registered = true
		return tx.PutAccess(now)
	}))
}

// stripAccessKey takes the access key out of p's Content and body.
func stripAccessKey(p *payload) error {
	ct := &content.Content{Content: proto.Clone(p.content.Content).(*contentpb.Content)}
	ct.AccessKey = nil
	body, err := content.Marshal(ct)
	if err != nil {
		return err
	}
	p.content, p.body = ct, body
	return nil
}
