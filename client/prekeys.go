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
	"github.com/sealpost/sealpost/keyserver/api"
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

// prekeyCheckInterval is how often the client asks the key server how
// many one-time prekeys it still holds, and runs maintenance when fewer
// than oneTimeLow of either kind remain: claims by others use them up
// without telling this device, and the key server's per-target limit
// (spec/keyserver.md §5.8) lets at most 30 go at once and one a minute,
// so a 5-minute poll tops up before they run out (spec/client.md §7.1).
// A variable for tests.
var prekeyCheckInterval = 5 * time.Minute

// newPrekeys generates n prekeys of kind with fresh random ids that this
// device does not use yet, stores their private keys with their signed
// public halves pending upload, and returns the ids (spec/client.md §7.1).
// Private keys are stored before the public halves are published, so a
// crash in between leaves only unpublished prekeys, which the next
// maintenance uploads.
func newPrekeys(tx localstore.Tx, dk *keys.DevicePrivateKeys, kind keys.PrekeyKind, n int, now time.Time) error {
	for made := 0; made < n; {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		id := binary.BigEndian.Uint32(b[:]) &^ (1 << 31)
		if id == 0 {
			continue
		}
		if _, err := tx.Prekey(uint8(kind), id); err == nil {
			continue
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		priv, pub, err := dk.GeneratePrekey(rand.Reader, kind, id)
		if err != nil {
			return err
		}
		err = tx.PutPrekey(localstore.Prekey{Kind: uint8(kind), ID: id, Secret: priv.Secret, Created: now, Pending: pub.Marshal()})
		priv.Zero()
		if err != nil {
			return err
		}
		made++
	}
	return nil
}

// rotateDue reports whether the newest of ps (the signed prekeys) is older
// than signedPrekeyLifetime, or there is none.
func rotateDue(ps []localstore.Prekey, now time.Time) bool {
	var newest time.Time
	for _, p := range ps {
		if p.Created.After(newest) {
			newest = p.Created
		}
	}
	return now.Sub(newest) > signedPrekeyLifetime
}

// rotatePrekeys makes a new signed prekey and last-resort KEM prekey, in
// the store and pending upload, when the newest signed prekey is older
// than signedPrekeyLifetime (or force is set). It does not ask the key
// server: the schedule is the device's own (spec/client.md §7.1).
func (c *Client) rotatePrekeys(ctx context.Context, id *identity, force bool) error {
	dk, release, err := id.deviceKeys()
	if err != nil {
		return err
	}
	defer release()
	now := time.Now()
	err = c.withSessions(func() error {
		return c.store.Update(ctx, func(tx localstore.Tx) error {
			ps, err := tx.PrekeyInfos(uint8(keys.SignedPrekey))
			if err != nil {
				return err
			}
			if !force && !rotateDue(ps, now) {
				return nil
			}
			if err := newPrekeys(tx, dk, keys.SignedPrekey, 1, now); err != nil {
				return err
			}
			return newPrekeys(tx, dk, keys.LastResortKEMPrekey, 1, now)
		})
	})
	return storeError(err)
}

// uploadPrekeys publishes what the store holds pending upload — the newest
// pending signed and last-resort prekeys, and pending one-time prekeys —
// after generating one-time prekeys of each kind up to oneTimeTarget when
// the server reported fewer than oneTimeLow of it (and a new signed and
// last-resort prekey first if rotate is set). What the key server acknowledges is marked
// published; what it does not stays pending and is uploaded again at the
// next maintenance (spec/client.md §7.1).
func (c *Client) uploadPrekeys(ctx context.Context, id *identity, rotate bool, counts api.PrekeyCounts) error {
	if rotate {
		if err := c.rotatePrekeys(ctx, id, true); err != nil {
			return err
		}
	}
	wk, err := c.ks.WellKnown(ctx)
	if err != nil {
		return err
	}
	perUpload := wk.Limits.MaxOneTimePerUpload
	target := min(oneTimeTarget, wk.Limits.MaxOneTimePerDevice)
	dk, release, err := id.deviceKeys()
	if err != nil {
		return err
	}
	defer release()
	up := &api.PrekeyUpload{}
	var sent []prekeyRef
	now := time.Now()
	err = c.withSessions(func() error {
		up, sent = &api.PrekeyUpload{}, nil
		return c.store.Update(ctx, func(tx localstore.Tx) error {
			for _, kind := range []keys.PrekeyKind{keys.SignedPrekey, keys.LastResortKEMPrekey} {
				ps, err := tx.PrekeyInfos(uint8(kind))
				if err != nil {
					return err
				}
				// Only the newest matters to the key server; older
				// pending ones were superseded before they were
				// published.
				newest := -1
				for i, p := range ps {
					if p.Pending != nil && (newest < 0 || p.Created.After(ps[newest].Created)) {
						newest = i
					}
				}
				for i, p := range ps {
					if p.Pending == nil {
						continue
					}
					if i != newest {
						if err := tx.MarkPrekeyPublished(uint8(kind), p.ID); err != nil {
							return err
						}
						continue
					}
					if kind == keys.SignedPrekey {
						up.SignedPrekey = p.Pending
					} else {
						up.LastResortKEMPrekey = p.Pending
					}
					sent = append(sent, prekeyRef{kind, p.ID})
				}
			}
			for _, oneTime := range []struct {
				kind   keys.PrekeyKind
				server int
				dst    *[]api.Bytes
			}{{keys.OneTimePrekey, counts.OneTime, &up.OneTimePrekeys}, {keys.OneTimeKEMPrekey, counts.OneTimeKEM, &up.OneTimeKEMPrekeys}} {
				ps, err := tx.PrekeyInfos(uint8(oneTime.kind))
				if err != nil {
					return err
				}
				pending := 0
				for _, p := range ps {
					if p.Pending != nil {
						pending++
					}
				}
				// Top up only below the low mark (spec/client.md §7.1).
				if n := min(target-oneTime.server-pending, perUpload-pending); oneTime.server < oneTimeLow && n > 0 {
					if err := newPrekeys(tx, dk, oneTime.kind, n, now); err != nil {
						return err
					}
					if ps, err = tx.PrekeyInfos(uint8(oneTime.kind)); err != nil {
						return err
					}
				}
				for _, p := range ps {
					if p.Pending != nil && len(*oneTime.dst) < perUpload {
						*oneTime.dst = append(*oneTime.dst, p.Pending)
						sent = append(sent, prekeyRef{oneTime.kind, p.ID})
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		return storeError(err)
	}
	if len(sent) == 0 {
		return nil
	}
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return err
	}
	if _, err := c.ks.UploadPrekeys(ctx, tok, up); err != nil {
		return fmt.Errorf("client: uploading prekeys: %w", err)
	}
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		for _, p := range sent {
			// A prekey used or expired since it was read is gone: fine.
			if err := tx.MarkPrekeyPublished(uint8(p.kind), p.id); err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	return storeError(err)
}

// maintainPrekeys rotates the signed and last-resort prekeys when due,
// deletes replaced ones past their grace period and expires old session
// state — on the device's own schedule, before and whatever the key server
// answers — then publishes what is pending and tops up one-time prekeys
// (spec/client.md §4.1, §7).
func (c *Client) maintainPrekeys(ctx context.Context) error {
	// One maintenance at a time: two would both see a due rotation.
	c.maintMu.Lock()
	defer c.maintMu.Unlock()
	id, err := c.registered()
	if err != nil {
		return err
	}
	if err := c.rotatePrekeys(ctx, id, false); err != nil {
		return err
	}
	if err := c.expirePrekeys(ctx); err != nil {
		return err
	}
	if err := c.expireSessions(ctx); err != nil {
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
	return c.uploadPrekeys(ctx, id, false, *counts)
}

// expirePrekeys deletes signed and last-resort prekeys whose replacement
// was made more than replacedPrekeyGrace ago (the newest of each kind
// stays), the initial messages answered with a deleted signed prekey, and
// processed ids past processedRetention and the records of sent message
// ids past sentRetention (spec/client.md §3.4, §5.1, §7.2).
func (c *Client) expirePrekeys(ctx context.Context) error {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	now := time.Now()
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		for _, kind := range []keys.PrekeyKind{keys.SignedPrekey, keys.LastResortKEMPrekey} {
			ps, err := tx.PrekeyInfos(uint8(kind))
			if err != nil {
				return err
			}
			for _, id := range expiredPrekeys(ps, now) {
				if err := tx.DeletePrekey(uint8(kind), id); err != nil {
					return err
				}
				if kind == keys.SignedPrekey {
					if _, err := tx.ForgetInitials(id); err != nil {
						return err
					}
				}
			}
		}
		if _, err := tx.ForgetProcessedBefore(now.Add(-processedRetention)); err != nil {
			return err
		}
		_, err := tx.ForgetSentBefore(now.Add(-sentRetention))
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

// sentRetention is how long the id of a message that left the outgoing
// queue is remembered, so that a Send repeated with it sends nothing new
// (spec/client.md §3.4). Shorter than processedRetention: a receiver
// still drops a copy sent again after that.
const sentRetention = 30 * 24 * time.Hour

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
	p := time.NewTicker(prekeyCheckInterval)
	defer p.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-p.C:
			if !c.prekeysLow(c.ctx) {
				continue
			}
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
		c.maintainSendTokens(c.ctx)
	}
}

// prekeysLow asks the key server for this device's one-time prekey counts
// and reports whether either is below oneTimeLow (or the answer could not
// be had: maintenance then tries and reports).
func (c *Client) prekeysLow(ctx context.Context) bool {
	if _, err := c.registered(); err != nil {
		return false
	}
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return true
	}
	counts, err := c.ks.PrekeyCount(ctx, tok)
	if err != nil {
		return true
	}
	return counts.OneTime < oneTimeLow || counts.OneTimeKEM < oneTimeLow
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
