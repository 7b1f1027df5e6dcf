package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver"
)

// Prekey maintenance (spec/client.md §7).
const (
	// oneTimeTarget is how many one-time prekeys of each kind a device
	// keeps published; it tops up when fewer than oneTimeLow remain.
	oneTimeTarget = 100
	oneTimeLow    = 25
	// signedPrekeyLifetime is how often the signed prekey and the
	// last-resort KEM prekey are replaced.
	signedPrekeyLifetime = 7 * 24 * time.Hour
	// replacedPrekeyGrace is how long a replaced signed or last-resort
	// prekey's private key is kept for initial messages still in flight:
	// the relay's longest default TTL and then some.
	replacedPrekeyGrace = 35 * 24 * time.Hour
	// maintenanceInterval is how often the maintenance loop runs when
	// nothing wakes it.
	maintenanceInterval = time.Hour
)

// newPrekeys generates n prekeys of kind with fresh random ids that this
// device does not use yet, stores their private keys, and returns their
// public halves (spec/client.md §7.1). Private keys are stored before the
// public halves are published, so a crash in between leaves only unused
// private keys.
func newPrekeys(tx *localstore.Tx, dk *keys.DevicePrivateKeys, kind keys.PrekeyKind, n int, now time.Time) ([]keyserver.Bytes, error) {
	out := make([]keyserver.Bytes, 0, n)
	for len(out) < n {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		id := binary.BigEndian.Uint32(b[:]) &^ (1 << 31)
		if id == 0 {
			continue
		}
		if _, err := tx.Prekey(uint8(kind), id); err == nil {
			continue
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return nil, err
		}
		priv, pub, err := dk.GeneratePrekey(rand.Reader, kind, id)
		if err != nil {
			return nil, err
		}
		err = tx.PutPrekey(localstore.Prekey{Kind: uint8(kind), ID: id, Secret: priv.Secret, Created: now})
		priv.Zero()
		if err != nil {
			return nil, err
		}
		out = append(out, pub.Marshal())
	}
	return out, nil
}

// uploadPrekeys generates and publishes prekeys: a new signed prekey and
// last-resort KEM prekey if rotate is set, and one-time prekeys of each
// kind up to oneTimeTarget given the counts the server reported.
func (c *Client) uploadPrekeys(ctx context.Context, id *identity, rotate bool, counts keyserver.PrekeyCounts) error {
	wk, err := c.ks.WellKnown(ctx)
	if err != nil {
		return err
	}
	perUpload := wk.Limits.MaxOneTimePerUpload
	target := min(oneTimeTarget, wk.Limits.MaxOneTimePerDevice)
	nX := max(0, min(target-counts.OneTime, perUpload))
	nK := max(0, min(target-counts.OneTimeKEM, perUpload))
	if !rotate && nX == 0 && nK == 0 {
		return nil
	}
	dk, release, err := id.deviceKeys()
	if err != nil {
		return err
	}
	defer release()
	up := &keyserver.PrekeyUpload{}
	now := time.Now()
	err = c.withSessions(func() error {
		return c.store.Update(ctx, func(tx *localstore.Tx) error {
			if rotate {
				s, err := newPrekeys(tx, dk, keys.SignedPrekey, 1, now)
				if err != nil {
					return err
				}
				l, err := newPrekeys(tx, dk, keys.LastResortKEMPrekey, 1, now)
				if err != nil {
					return err
				}
				up.SignedPrekey, up.LastResortKEMPrekey = s[0], l[0]
			}
			var err error
			if up.OneTimePrekeys, err = newPrekeys(tx, dk, keys.OneTimePrekey, nX, now); err != nil {
				return err
			}
			up.OneTimeKEMPrekeys, err = newPrekeys(tx, dk, keys.OneTimeKEMPrekey, nK, now)
			return err
		})
	})
	if err != nil {
		return storeError(err)
	}
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return err
	}
	if _, err := c.ks.UploadPrekeys(ctx, tok, up); err != nil {
		return fmt.Errorf("client: uploading prekeys: %w", err)
	}
	return nil
}

// maintainPrekeys tops up one-time prekeys, rotates the signed and
// last-resort prekeys when due, and deletes replaced ones past their grace
// period (spec/client.md §7).
func (c *Client) maintainPrekeys(ctx context.Context) error {
	// One maintenance at a time: two would both see a due rotation.
	c.maintMu.Lock()
	defer c.maintMu.Unlock()
	id, err := c.registered()
	if err != nil {
		return err
	}
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return err
	}
	counts, err := c.ks.PrekeyCount(ctx, tok)
	if err != nil {
		return fmt.Errorf("client: counting prekeys: %w", err)
	}
	var newest time.Time
	err = c.store.View(ctx, func(tx *localstore.Tx) error {
		ps, err := tx.Prekeys(uint8(keys.SignedPrekey))
		for _, p := range ps {
			clear(p.Secret)
			if p.Created.After(newest) {
				newest = p.Created
			}
		}
		return err
	})
	if err != nil {
		return storeError(err)
	}
	rotate := time.Since(newest) > signedPrekeyLifetime
	low := counts.OneTime < oneTimeLow || counts.OneTimeKEM < oneTimeLow
	if rotate || low {
		if err := c.uploadPrekeys(ctx, id, rotate, *counts); err != nil {
			return err
		}
	}
	return c.expirePrekeys(ctx)
}

// expirePrekeys deletes signed and last-resort prekeys whose replacement
// was made more than replacedPrekeyGrace ago; the newest of each kind
// stays (spec/client.md §7.2).
func (c *Client) expirePrekeys(ctx context.Context) error {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	err := c.store.Update(ctx, func(tx *localstore.Tx) error {
		for _, kind := range []keys.PrekeyKind{keys.SignedPrekey, keys.LastResortKEMPrekey} {
			ps, err := tx.Prekeys(uint8(kind))
			if err != nil {
				return err
			}
			for _, p := range ps {
				clear(p.Secret)
			}
			for _, id := range expiredPrekeys(ps, time.Now()) {
				if err := tx.DeletePrekey(uint8(kind), id); err != nil {
					return err
				}
			}
		}
		_, err := tx.ForgetProcessedBefore(time.Now().Add(-processedRetention))
		return err
	})
	return storeError(err)
}

// expiredPrekeys returns the ids of the prekeys (of one kind) whose
// successor — the next newer one — was made more than replacedPrekeyGrace
// before now.
func expiredPrekeys(ps []localstore.Prekey, now time.Time) []uint32 {
	var out []uint32
	for _, p := range ps {
		var successor time.Time
		for _, q := range ps {
			if q.Created.After(p.Created) && (successor.IsZero() || q.Created.Before(successor)) {
				successor = q.Created
			}
		}
		if !successor.IsZero() && now.Sub(successor) > replacedPrekeyGrace {
			out = append(out, p.ID)
		}
	}
	return out
}

// processedRetention is how long processed envelope ids are remembered:
// longer than any envelope can wait at the relay, and longer than a signed
// or last-resort prekey lives (signedPrekeyLifetime + replacedPrekeyGrace),
// so that a first message replayed after its id is forgotten names a
// prekey that is gone (spec/client.md §5.1, §7.2).
const processedRetention = 60 * 24 * time.Hour

// kickMaintenance wakes the maintenance loop (after one-time prekeys were
// used).
func (c *Client) kickMaintenance() {
	select {
	case c.maintain <- struct{}{}:
	default:
	}
}

// maintenanceLoop runs prekey maintenance when woken, after connecting,
// and every maintenanceInterval; and sends the outgoing queue again every
// flushInterval, for messages whose Send gave up while the relay
// connection stayed up (spec/client.md §3.3, §7).
func (c *Client) maintenanceLoop() {
	defer c.wg.Done()
	t := time.NewTicker(maintenanceInterval)
	defer t.Stop()
	f := time.NewTicker(flushInterval)
	defer f.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-f.C:
			c.mu.Lock()
			link := c.link
			c.mu.Unlock()
			if link != nil && link.Connected() {
				c.flushQueue(c.ctx)
			}
			continue
		case <-c.maintain:
		case <-t.C:
		}
		if err := c.maintainPrekeys(c.ctx); err != nil && c.ctx.Err() == nil {
			c.log.Info("client: prekey maintenance failed; will retry", "err", err)
		}
	}
}

// flushInterval is how often the outgoing queue is sent again while
// connected.
const flushInterval = 30 * time.Second

// withSessions runs fn holding sessMu.
func (c *Client) withSessions(fn func() error) error {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	return fn()
}

// Compile-time check: processedRetention exceeds a prekey's whole life.
var _ = [1]struct{}{}[processedRetention/(signedPrekeyLifetime+replacedPrekeyGrace+1)-1]
