package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/internal/secmem"
)

// Seal keys (spec/client.md §13.8): what anonymous envelopes are sealed
// to, the recipient device's last-resort KEM prekey, so that the sender's
// certificate inside stays hidden from someone who records envelopes now
// and breaks X25519 later (spec/seal.md §10).
const (
	// sealKeyRefresh: a seal key fetched longer ago is fetched again
	// before use. Its owner replaces it every 7 days and keeps a replaced
	// one 35 days (spec/client.md §7), so one fetched within 7 days is
	// the newest or one the owner still holds.
	sealKeyRefresh = 7 * 24 * time.Hour
	// sealKeyMaxAge: when the key server cannot be asked, a seal key
	// fetched within this long is still used: its owner still holds it.
	sealKeyMaxAge = 35 * 24 * time.Hour
)

// kemIndex maps the key ids of this device's last-resort KEM prekeys
// (seal.KEMKeyID) to their prekey ids, so that opening a version 2
// envelope expands one ML-KEM key, not every one kept.
type kemIndex struct {
	mu  sync.Mutex
	ids map[seal.KeyID]uint32
}

// sealKeys returns, for each device of ts that is another account's, the
// last-resort KEM prekey to seal its envelope to: the one recorded if
// fetched within sealKeyRefresh, else fetched from the key server
// (GET seal-keys, spec/keyserver.md §5.11) and checked against the
// verified key set like a claimed bundle. A device the key server serves
// no key for gets none (its envelope is version 1).
func (c *Client) sealKeys(ctx context.Context, id *identity, ts []target) error {
	now := time.Now()
	stale := map[string]bool{}
	err := c.store.View(ctx, func(tx localstore.Tx) error {
		for i := range ts {
			t := &ts[i]
			if t.kind != kindMessage {
				continue
			}
			enc, at, err := tx.SealKey(t.handle, uint32(t.dev.Device))
			if errors.Is(err, localstore.ErrNotFound) {
				stale[t.handle] = true
				continue
			}
			if err != nil {
				return err
			}
			if now.Sub(at) >= sealKeyRefresh {
				stale[t.handle] = true
			}
			if now.Sub(at) < sealKeyMaxAge {
				if p, err := keys.ParsePrekey(enc); err == nil && p.Kind == keys.LastResortKEMPrekey {
					t.sealKey = p
				}
			}
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	for handle := range stale {
		fresh, err := c.fetchSealKeys(ctx, handle, now)
		if err != nil {
			if errors.Is(err, ErrSecurity) {
				return err
			}
			c.log.Info("client: fetching seal keys failed; using those recorded", "err", err)
			continue
		}
		for i := range ts {
			if t := &ts[i]; t.handle == handle && t.kind == kindMessage {
				if p, ok := fresh[t.dev.Device]; ok {
					t.sealKey = p
				}
			}
		}
	}
	for _, t := range ts {
		if t.kind == kindMessage && t.sealKey == nil && stale[t.handle] {
			// Neither fresh nor recorded: not sealed to a stale key, and
			// not sent with the weaker seal either.
			return fmt.Errorf("client: no seal key for %s device %d", t.handle, t.dev.Device)
		}
	}
	return nil
}

// fetchSealKeys fetches handle's seal keys, checks each bundle against the
// verified key set, and records them.
func (c *Client) fetchSealKeys(ctx context.Context, handle string, now time.Time) (map[keys.DeviceID]*keys.Prekey, error) {
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.ks.SealKeys(ctx, tok, handle)
	if err != nil {
		return nil, fmt.Errorf("client: fetching %s's seal keys: %w", handle, err)
	}
	bs, err := c.checkBundles(ctx, handle, resp)
	if err != nil {
		return nil, err
	}
	out := map[keys.DeviceID]*keys.Prekey{}
	for dev, b := range bs {
		if b.KEMPrekey.Kind != keys.LastResortKEMPrekey {
			return nil, c.securityError(handle, fmt.Errorf("seal key of device %d is a %s", dev, b.KEMPrekey.Kind))
		}
		out[dev] = b.KEMPrekey
	}
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		for dev, p := range out {
			if err := tx.PutSealKey(handle, uint32(dev), p.Marshal(), now); err != nil {
				return err
			}
		}
		return nil
	})
	return out, storeError(err)
}

// kemKeys answers OpenHybrid's lookup (spec/seal.md §10.6) from this
// device's last-resort KEM prekeys, current and kept: the prekey with that
// key id, its secret in guarded memory held by lp until lp.destroy. A
// failure to read the store is left in *lookupErr (the envelope is then
// not dropped: it is not known to be bad).
func (c *Client) kemKeys(ctx context.Context, lp *lockedPrekeys, lookupErr *error) seal.KEMKeys {
	return func(kid seal.KeyID) (*keys.PrekeyPrivate, bool) {
		var found *keys.PrekeyPrivate
		err := c.store.View(ctx, func(tx localstore.Tx) error {
			pid, ok, err := c.kemPrekeyID(tx, kid)
			if err != nil || !ok {
				return err
			}
			found, err = lp.load(tx, keys.LastResortKEMPrekey, pid)
			if err != nil {
				if p, e := tx.Prekey(uint8(keys.LastResortKEMPrekey), pid); errors.Is(e, localstore.ErrNotFound) {
					// Deleted since it was indexed: not held.
					c.kems.forget(kid)
					return nil
				} else if e == nil {
					secmem.WipeBytes(p.Secret)
				}
			}
			return err
		})
		if err != nil {
			*lookupErr = err
			return nil, false
		}
		return found, found != nil
	}
}

// forget drops kid from the index.
func (x *kemIndex) forget(kid seal.KeyID) {
	x.mu.Lock()
	delete(x.ids, kid)
	x.mu.Unlock()
}

// kemPrekeyID returns the id of the last-resort KEM prekey with key id
// kid, indexing the prekeys kept again when kid is not known (a prekey
// made since the index was built).
func (c *Client) kemPrekeyID(tx localstore.Tx, kid seal.KeyID) (uint32, bool, error) {
	x := &c.kems
	x.mu.Lock()
	defer x.mu.Unlock()
	if pid, ok := x.ids[kid]; ok {
		return pid, true, nil
	}
	ps, err := tx.Prekeys(uint8(keys.LastResortKEMPrekey))
	if err != nil {
		return 0, false, err
	}
	ids := map[seal.KeyID]uint32{}
	for _, p := range ps {
		id, err := kemKeyIDOf(p)
		secmem.WipeBytes(p.Secret)
		if err != nil {
			return 0, false, fmt.Errorf("%w: stored last-resort prekey %d: %v", ErrCorrupt, p.ID, err)
		}
		ids[id] = p.ID
	}
	x.ids = ids
	pid, ok := ids[kid]
	return pid, ok, nil
}

// kemKeyIDOf computes the key id of a stored last-resort KEM prekey.
func kemKeyIDOf(p localstore.Prekey) (seal.KeyID, error) {
	priv, err := keys.LoadPrekeyPrivate(keys.LastResortKEMPrekey, p.ID, p.Secret)
	if err != nil {
		return seal.KeyID{}, err
	}
	defer priv.Forget()
	dk, err := priv.KEM()
	if err != nil {
		return seal.KeyID{}, err
	}
	return seal.KEMKeyID(&keys.Prekey{Kind: keys.LastResortKEMPrekey, ID: p.ID, Public: dk.EncapsulationKey().Bytes()})
}
