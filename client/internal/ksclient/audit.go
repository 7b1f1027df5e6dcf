package ksclient

import (
	"context"
	"fmt"

	"github.com/sealpost/sealpost/keyserver/kt"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditResult is what an audit checked.
type AuditResult struct {
	// Size is the number of leaves of the audited tree, all of them
	// entries that were checked.
	Size int64
	// Accounts is the number of distinct handles in the log.
	Accounts int
	// Entries is the number of entries checked (equal to Size).
	Entries int64
	// Latest is each handle's newest entry in the audited tree.
	Latest map[string]*kt.Entry
	// Checkpoint is the signed note of the audited tree.
	Checkpoint string
	// Pin is the checkpoint to pin from now on: the audited one.
	Pin *kt.Checkpoint
}

// Audit replays the whole transparency log as a monitor does
// (spec/transparency.md §7.3): it advances the pin to the server's latest
// checkpoint (or keeps the pin, if the server shows an older one consistent
// with it), downloads every leaf in pages, checks that the leaves hash to
// the checkpoint's root, parses and verifies every entry, and checks each
// handle's history with kt.CheckSuccessor. progress, if not nil, is called
// after each page with the leaves checked so far and the total.
//
// A failure that shows the server misbehaving wraps kt.ErrSecurity and
// names the leaf index or range; network failures and *APIError are
// returned as they are. It keeps the tree's hashes (about 64 bytes per
// leaf) and the last entry of each handle, not the leaves.
func Audit(ctx context.Context, c *Client, v *kt.Verifier, pinned *kt.Checkpoint, fresh Freshness, progress func(done, total int64)) (*AuditResult, error) {
	text, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	latest, err := c.openCheckpoint(v, []byte(text))
	if err != nil {
		return nil, checkpointError(err, "the latest checkpoint")
	}

	if pinned != nil {
		if _, err := v.OpenCheckpoint(pinned.Signed); err != nil {
			return nil, securityError(err, "the pinned checkpoint is not signed by the log's key")
		}
	}
	// spec/transparency.md §7.3 step 1.
	target, err := advance(ctx, c, v, pinned, latest)
	if err != nil {
		return nil, err
	}
	// Freshness after the consistency check: a fork is evidence and is
	// reported as such even when the checkpoint is also old.
	if err := fresh.Check(latest); err != nil {
		return nil, fmt.Errorf("ksclient: the latest checkpoint: %w", err)
	}
	if target.Size > latest.Size {
		// Consistent with the pin (so no fork), but older.
		return nil, fmt.Errorf("%w: the latest checkpoint has size %d, older than the pinned size %d", ErrStale, latest.Size, target.Size)
	}
	wk, err := c.WellKnown(ctx)
	if err != nil {
		return nil, err
	}
	page := int64(min(max(wk.Limits.MaxLeaves, 1), maxLeavesPage))

	// Step 2: the leaves, page by page. Each page's tree is checked at
	// once against the target with a consistency proof, so a swapped
	// leaf is found in its page rather than at the end.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("ksclient: hash %d not stored", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	last := map[string]*kt.Entry{} // step 3: each handle's latest entry
	for start := int64(0); start < target.Size; start += page {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+page, target.Size)
		leaves, err := c.Leaves(ctx, start, end)
		if err != nil {
			return nil, err
		}
		if int64(len(leaves)) != end-start {
			return nil, securityError(nil, "asked for leaves [%d, %d), got %d", start, end, len(leaves))
		}
		for i, leaf := range leaves {
			hs, err := tlog.StoredHashes(start+int64(i), leaf, reader)
			if err != nil {
				return nil, fmt.Errorf("ksclient: hashing leaf %d: %w", start+int64(i), err)
			}
			stored = append(stored, hs...)
		}
		if err := checkPrefix(ctx, c, target, start, end, reader); err != nil {
			return nil, err
		}
		for i, leaf := range leaves {
			index := start + int64(i)
			entry, err := kt.ParseEntry(leaf)
			if err == nil {
				err = entry.Verify()
			}
			if err != nil {
				return nil, securityError(err, "leaf %d", index)
			}
			if err := kt.CheckSuccessor(last[entry.Handle], entry); err != nil {
				return nil, securityError(err, "leaf %d, entry of %s version %d", index, entry.Handle, entry.Version)
			}
			last[entry.Handle] = entry
		}
		if progress != nil {
			progress(end, target.Size)
		}
	}
	return &AuditResult{
		Size:       target.Size,
		Accounts:   len(last),
		Latest:     last,
		Entries:    target.Size,
		Checkpoint: string(target.Signed),
		Pin:        target,
	}, nil
}

// checkPrefix checks that the first size leaves read so far give a tree
// that is a prefix of target's, with a consistency proof from the server
// (or, at target's size, the root itself). The leaves before start passed
// already, so a failure is a leaf in [start, size).
func checkPrefix(ctx context.Context, c *Client, target *kt.Checkpoint, start, size int64, reader tlog.HashReader) error {
	root, err := tlog.TreeHash(size, reader)
	if err != nil {
		return fmt.Errorf("ksclient: tree hash of %d leaves: %w", size, err)
	}
	if size == target.Size {
		if root != target.Root {
			return securityError(nil, "leaves [0, %d) do not hash to the checkpoint's root: a leaf in [%d, %d) differs from the log", size, start, size)
		}
		return nil
	}
	raw, err := c.Consistency(ctx, size, target.Size)
	if err != nil {
		if refusedProof(err) {
			return securityError(err, "the key server will not prove size %d consistent with its checkpoint of size %d", size, target.Size)
		}
		return err
	}
	proof, err := hashes(raw)
	if err != nil {
		return err
	}
	if err := tlog.CheckTree(proof, target.Size, target.Root, size, root); err != nil {
		return securityError(err, "leaves [0, %d) are not a prefix of the checkpoint's tree: a leaf in [%d, %d) differs from the log", size, start, size)
	}
	return nil
}
