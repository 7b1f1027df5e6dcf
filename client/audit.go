package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// AuditReport is the result of Audit.
type AuditReport struct {
	// Epochs is the size of the audited directory log (its number of
	// epochs); Checked how many of them this audit checked — the others
	// an earlier audit on this device checked, and their state was
	// kept — and Updates how many key-set updates those held.
	Epochs, Checked, Updates uint64
	// Checkpoint is the signed checkpoint the directory was checked
	// against, now pinned.
	Checkpoint string
	// Known is how many accounts this device knows (contacts and its
	// own), each looked up again afterwards, so that its newest key set
	// went through the same checks and events as any lookup; Updated
	// are those whose key set changed since this device last saw it.
	Known   int
	Updated []string
}

// Audit audits the key directory as any auditor can, over public data
// that names nobody (spec/client.md §6.4, spec/transparency-v2.md §8):
// the latest checkpoint, consistent with the pinned one, and every epoch
// since the last audit on this device — its leaf, its public batch and the
// batch proof that the map changed only by that batch, versions only
// increasing. It then looks up again every account this device holds a
// key set of, its own included, and reviews this account's whole history
// (§6.3). progress, if not nil, is called as epochs are checked. A
// directory that fails any check is ErrSecurity; a latest checkpoint older
// than the pin or than Config.MaxCheckpointAge is ErrStale.
func (c *Client) Audit(ctx context.Context, progress func(done, total int64)) (*AuditReport, error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	rep, err := c.auditDirectory(ctx, progress)
	if err != nil {
		return nil, err
	}
	// The audit names nobody, so every account this device knows is
	// looked up again, outside pinMu, so that contact policy and events
	// apply to it as to any other lookup.
	known, err := c.storedKeySets(ctx)
	if err != nil {
		return nil, err
	}
	rep.Known = len(known)
	for _, prev := range known {
		d, err := c.lookup(ctx, prev.Handle, true)
		if err != nil {
			return nil, fmt.Errorf("client: audit: looking up %s again: %w", prev.Handle, err)
		}
		if d.entry.Version > prev.Version {
			rep.Updated = append(rep.Updated, prev.Handle)
		}
	}
	if c.identity() != nil {
		if err := c.checkOwnAccount(ctx); err != nil {
			return nil, fmt.Errorf("client: audit: this account's history: %w", err)
		}
	}
	return rep, nil
}

// auditDirectory is Audit's check of the directory log, under pinMu: from
// the audit state stored (or the empty directory) to the latest
// checkpoint, which it pins; the new state is stored with the pin.
func (c *Client) auditDirectory(ctx context.Context, progress func(done, total int64)) (*AuditReport, error) {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	v, err := c.logVerifier(ctx)
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		raw, err = tx.AuditState()
		if errors.Is(err, localstore.ErrNotFound) {
			raw, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, storeError(err)
	}
	res, rep, err := runAudit(ctx, c.ks, v, c.vrfKey, c.pin, c.freshness(), raw, progress)
	if err != nil {
		return nil, c.verifyError("", "audit", err)
	}
	err = c.store.Update(ctx, func(tx localstore.Tx) error { return tx.PutAuditState(res.State.Marshal()) })
	if err != nil {
		return nil, storeError(err)
	}
	if err := c.advancePin(ctx, res.Pin); err != nil {
		return nil, err
	}
	return rep, nil
}

// runAudit audits the directory from the encoded state raw (nil: from
// the empty directory, under vrfKey) up to the latest checkpoint, checked
// against pinned (nil: none), and returns the result and its report. A
// state that does not parse is ErrCorrupt; other errors are
// ksclient.AuditDirectory's, for the caller to classify.
func runAudit(ctx context.Context, ks *ksclient.Client, v *kt.Verifier, vrfKey *vrf.PublicKey, pinned *kt.Checkpoint, fresh ksclient.Freshness, raw []byte, progress func(done, total int64)) (*ksclient.AuditResult, *AuditReport, error) {
	var (
		state *directory.AuditState
		err   error
	)
	if raw == nil {
		state, err = directory.NewAuditState(vrfKey)
	} else {
		state, err = directory.ParseAuditState(raw)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the stored audit state: %v", ErrCorrupt, err)
	}
	var step func(done, total uint64)
	if progress != nil {
		step = func(done, total uint64) { progress(int64(done), int64(total)) }
	}
	res, err := ksclient.AuditDirectory(ctx, ks, v, pinned, fresh, state, step)
	if err != nil {
		return nil, nil, err
	}
	return res, &AuditReport{Epochs: res.State.Size, Checked: res.Checked, Updates: res.Updates, Checkpoint: res.Checkpoint}, nil
}

// storedKeySets returns the key set this device holds for every account
// it knows, ordered by handle.
func (c *Client) storedKeySets(ctx context.Context) ([]*kt.Entry, error) {
	var out []*kt.Entry
	err := c.store.View(ctx, func(tx localstore.Tx) error {
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
