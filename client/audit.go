package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// AuditReport is the result of Audit.
type AuditReport struct {
	// Size is the number of leaves checked, Accounts the number of
	// handles they cover.
	Size     int64
	Accounts int
	// Checkpoint is the signed checkpoint the log was checked against,
	// now pinned.
	Checkpoint string
	// Known is how many accounts this device knows (contacts and its
	// own) whose newest key set in the log was compared with the one
	// it holds; Updated are those whose newest entry is later than the
	// one it held, looked up again afterwards (so their changes went
	// through the same checks and events as any lookup).
	Known   int
	Updated []string
}

// Audit downloads the whole transparency log, recomputes its root, checks
// every entry's signatures and every account's history, and checks the
// checkpoint against the pinned one, which it then advances (spec/client.md
// §6.4). It then compares, for every account this device holds a key set
// of, the newest entry in the log with that key set: the log must hold it
// or a later one that continues it. progress, if not nil, is called as
// leaves are checked. A log that fails any check is ErrSecurity; a latest
// checkpoint older than the pin or than Config.MaxCheckpointAge is
// ErrStale.
func (c *Client) Audit(ctx context.Context, progress func(done, total int64)) (*AuditReport, error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	rep, err := c.auditLog(ctx, progress)
	if err != nil {
		return nil, err
	}
	// Later key sets go through lookup, outside pinMu, so that contact
	// policy and events apply to them as to any other.
	for _, h := range rep.Updated {
		if _, err := c.lookup(ctx, h, true); err != nil {
			return nil, fmt.Errorf("client: audit: looking up %s again: %w", h, err)
		}
	}
	return rep, nil
}

// auditLog is Audit's replay and comparison, under pinMu.
func (c *Client) auditLog(ctx context.Context, progress func(done, total int64)) (*AuditReport, error) {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	v, err := c.logVerifier(ctx)
	if err != nil {
		return nil, err
	}
	res, err := ksclient.Audit(ctx, c.ks, v, c.pin, c.freshness(), progress)
	switch {
	case errors.Is(err, kt.ErrSecurity):
		return nil, c.securityError("", err)
	case errors.Is(err, ksclient.ErrStale):
		return nil, fmt.Errorf("%w: audit: %w", ErrStale, err)
	case errors.Is(err, kt.ErrNoQuorum):
		return nil, fmt.Errorf("%w: audit: %w", ErrNoQuorum, err)
	case err != nil:
		return nil, fmt.Errorf("client: audit: %w", err)
	}
	cp, err := v.OpenCheckpoint([]byte(res.Checkpoint))
	if err != nil {
		return nil, c.securityError("", err)
	}
	rep := &AuditReport{Size: res.Size, Accounts: res.Accounts, Checkpoint: res.Checkpoint}
	known, err := c.storedKeySets(ctx)
	if err != nil {
		return nil, err
	}
	rep.Known = len(known)
	for _, prev := range known {
		latest := res.Latest[prev.Handle]
		if latest == nil {
			return nil, c.securityError(prev.Handle, fmt.Errorf("the log holds no entry of %s, whose key set the key server proved to this device", prev.Handle))
		}
		if prev.AccountKey != latest.AccountKey || latest.Version < prev.Version {
			return nil, c.securityError(prev.Handle, fmt.Errorf("the log's newest entry of %s (version %d) does not continue the key set this device was shown (version %d)", prev.Handle, latest.Version, prev.Version))
		}
		if err := continues(prev, latest); err != nil {
			return nil, c.securityError(prev.Handle, err)
		}
		if latest.Version > prev.Version {
			rep.Updated = append(rep.Updated, prev.Handle)
		}
	}
	if err := c.advancePin(ctx, cp); err != nil {
		return nil, err
	}
	return rep, nil
}

// storedKeySets returns the key set this device holds for every account
// it knows, ordered by handle.
func (c *Client) storedKeySets(ctx context.Context) ([]*kt.Entry, error) {
	var out []*kt.Entry
	err := c.store.View(ctx, func(tx *localstore.Tx) error {
		out = nil
		handles, err := tx.KeySetHandles()
		if err != nil {
			return err
		}
		for _, h := range handles {
			e, err := storedKeySetTx(tx, h)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return out, nil
}
