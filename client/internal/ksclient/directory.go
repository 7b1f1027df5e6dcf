package ksclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// The key directory (spec/transparency-v2.md): lookups with proofs of the
// latest key set or of absence, the owner's history, and the public audit
// data of every epoch.

// directoryPath is /v2/accounts/{handle}{suffix}; the handle is checked
// so that it cannot change the path.
func directoryPath(handle, suffix string) (string, error) {
	p, err := accountPath(handle, suffix)
	if err != nil {
		return "", err
	}
	return "/v2" + p[len("/v1"):], nil
}

// DirectoryLookup asks for the proof of handle's latest key set, or of its
// absence (spec/keyserver.md §9.1). Verify it with VerifyDirectoryLookup.
func (c *Client) DirectoryLookup(ctx context.Context, handle string) (*api.DirectoryLookup, error) {
	p, err := directoryPath(handle, "")
	if err != nil {
		return nil, err
	}
	return call[api.DirectoryLookup](ctx, c, http.MethodGet, p, nil, "", nil)
}

// DirectoryHistory asks for every value handle's index has had, with the
// proofs that it had no other (spec/keyserver.md §9.2); only a device of
// the account may (token). Verify it with VerifyDirectoryHistory.
func (c *Client) DirectoryHistory(ctx context.Context, token, handle string) (*api.DirectoryHistory, error) {
	p, err := directoryPath(handle, "/history")
	if err != nil {
		return nil, err
	}
	return call[api.DirectoryHistory](ctx, c, http.MethodGet, p, nil, token, nil)
}

// Batch returns the public batch of epoch and its batch proof against the
// map of epoch − 1 (spec/keyserver.md §9.4).
func (c *Client) Batch(ctx context.Context, epoch uint64) (*api.BatchResponse, error) {
	if epoch < 1 {
		return nil, fmt.Errorf("ksclient: batch of epoch %d", epoch)
	}
	q := url.Values{"epoch": {strconv.FormatUint(epoch, 10)}}
	return call[api.BatchResponse](ctx, c, http.MethodGet, "/v2/log/batch", q, "", nil)
}

// directoryError wraps an error of the directory package: a proof that
// does not prove, a leaf of another key, a history with a gap and every
// other refusal of what the log key signed are evidence against the
// server (kt.ErrSecurity).
func directoryError(err error, format string, args ...any) error {
	return securityError(err, format, args...)
}

// openAnswer opens the checkpoint an answer was given under — the log's
// key, the witnesses' quorum — and checks it against the pin
// (spec/client.md §6.1 steps 1–2). It returns the opened checkpoint and
// the one to pin next.
func openAnswer(ctx context.Context, c *Client, v *kt.Verifier, pinned *kt.Checkpoint, signed, what string) (cp, next *kt.Checkpoint, err error) {
	if pinned != nil {
		// A pin that does not open under v is not this log's: the log
		// key changed, and nothing can be checked against the pin.
		if _, err := v.OpenCheckpoint(pinned.Signed); err != nil {
			return nil, nil, securityError(err, "the pinned checkpoint is not signed by the log's key")
		}
	}
	if cp, err = c.openCheckpoint(v, []byte(signed)); err != nil {
		return nil, nil, checkpointError(err, "the checkpoint of %s", what)
	}
	if next, err = advance(ctx, c, v, pinned, cp); err != nil {
		return nil, nil, err
	}
	return cp, next, nil
}

// fresh applies spec/client.md §6.1 step 5 to an answer's checkpoint,
// after every check that could show misbehaviour: never a view older than
// the pin, never one older than the age rule.
func freshAnswer(pinned, cp *kt.Checkpoint, fresh Freshness, what string) error {
	if pinned != nil && cp.Size < pinned.Size {
		return fmt.Errorf("%w: %s was answered under a checkpoint of size %d, older than the pinned size %d", ErrStale, what, cp.Size, pinned.Size)
	}
	if err := fresh.Check(cp); err != nil {
		return fmt.Errorf("ksclient: %s: %w", what, err)
	}
	return nil
}

// VerifyDirectoryLookup checks a directory lookup answer for handle
// (spec/client.md §6.1, spec/transparency-v2.md §6.3) against the pinned
// checkpoint (nil: none yet) and the key server's VRF key, and returns the
// handle's latest entry — nil when the answer proves the handle absent —
// and the checkpoint to pin next.
//
// Every failure that shows the server misbehaving wraps kt.ErrSecurity; a
// checkpoint without the witnesses' quorum wraps kt.ErrNoQuorum; an answer
// under a checkpoint older than the pin or the age rule wraps ErrStale. The
// caller still applies spec/client.md §6.2: an entry with another account
// key or a lower version than one it has seen.
func VerifyDirectoryLookup(ctx context.Context, c *Client, v *kt.Verifier, vrfKey *vrf.PublicKey, pinned *kt.Checkpoint, fresh Freshness, handle string, resp *api.DirectoryLookup) (*kt.Entry, *kt.Checkpoint, error) {
	entry, _, next, err := VerifyDirectoryLookupAt(ctx, c, v, vrfKey, pinned, fresh, handle, resp)
	return entry, next, err
}

// VerifyDirectoryLookupAt is VerifyDirectoryLookup that also returns the
// checkpoint the answer was verified under: the entry is the handle's
// latest as of that checkpoint's tree (spec/client.md §6.1).
func VerifyDirectoryLookupAt(ctx context.Context, c *Client, v *kt.Verifier, vrfKey *vrf.PublicKey, pinned *kt.Checkpoint, fresh Freshness, handle string, resp *api.DirectoryLookup) (entry *kt.Entry, at, next *kt.Checkpoint, err error) {
	if resp == nil {
		return nil, nil, nil, errors.New("ksclient: no lookup answer to verify")
	}
	what := "the lookup of " + handle
	cp, next, err := openAnswer(ctx, c, v, pinned, resp.Checkpoint, what)
	if err != nil {
		return nil, nil, nil, err
	}
	if resp.Handle != handle {
		return nil, nil, nil, securityError(nil, "the lookup of %s answered for another handle", handle)
	}
	inclusion, err := hashes(resp.Inclusion)
	if err != nil {
		return nil, nil, nil, err
	}
	entry, err = directory.VerifyLookup(cp, vrfKey, &directory.Lookup{
		Handle:    handle,
		VRFProof:  resp.VRFProof,
		Epoch:     resp.Epoch,
		Leaf:      resp.Leaf,
		MapProof:  resp.MapProof,
		Inclusion: inclusion,
		Entry:     resp.Entry,
		Opening:   resp.Opening,
	})
	if err != nil {
		return nil, nil, nil, directoryError(err, "%s", what)
	}
	if err := freshAnswer(pinned, cp, fresh, what); err != nil {
		return nil, nil, nil, err
	}
	return entry, cp, next, nil
}

// VerifyCheckpoint checks the key server's current checkpoint (GET
// /v2/log/checkpoint, spec/keyserver.md §9.3) exactly as a lookup's
// checkpoint is checked (spec/client.md §6.1 steps 1, 2, 4 and 5): the
// pin and the answer open under the log key, the witnesses' quorum when
// configured, consistency with the pin, then no view older than the pin
// and the age rule. It returns the opened checkpoint and the one to pin
// next. Errors wrap kt.ErrSecurity, kt.ErrNoQuorum or ErrStale as
// VerifyDirectoryLookup's do.
func VerifyCheckpoint(ctx context.Context, c *Client, v *kt.Verifier, pinned *kt.Checkpoint, fresh Freshness, signed string) (cp, next *kt.Checkpoint, err error) {
	const what = "the current checkpoint"
	cp, next, err = openAnswer(ctx, c, v, pinned, signed, what)
	if err != nil {
		return nil, nil, err
	}
	if err := freshAnswer(pinned, cp, fresh, what); err != nil {
		return nil, nil, err
	}
	return cp, next, nil
}

// VerifiedHistory is a verified owner history: every key set the handle's
// index has held, oldest first, each with the epoch that set it.
type VerifiedHistory struct {
	Entries []*kt.Entry
	Epochs  []uint64
}

// VerifyDirectoryHistory checks the owner history of handle
// (spec/client.md §6.3, spec/transparency-v2.md §6.4) as
// VerifyDirectoryLookup checks a lookup, and returns the verified history
// and the checkpoint to pin next. Errors as VerifyDirectoryLookup's.
func VerifyDirectoryHistory(ctx context.Context, c *Client, v *kt.Verifier, vrfKey *vrf.PublicKey, pinned *kt.Checkpoint, fresh Freshness, handle string, resp *api.DirectoryHistory) (*VerifiedHistory, *kt.Checkpoint, error) {
	if resp == nil {
		return nil, nil, errors.New("ksclient: no history to verify")
	}
	what := "the history of " + handle
	cp, next, err := openAnswer(ctx, c, v, pinned, resp.Checkpoint, what)
	if err != nil {
		return nil, nil, err
	}
	if resp.Handle != handle {
		return nil, nil, securityError(nil, "the history of %s answered for another handle", handle)
	}
	h := &directory.History{Handle: handle, VRFProof: resp.VRFProof}
	for _, hv := range resp.Versions {
		h.Versions = append(h.Versions, directory.HistoryVersion{Version: hv.Version, Epoch: hv.Epoch, Entry: hv.Entry, Opening: hv.Opening})
	}
	for _, p := range resp.Proofs {
		inclusion, err := hashes(p.Inclusion)
		if err != nil {
			return nil, nil, err
		}
		h.Proofs = append(h.Proofs, directory.EpochProof{Epoch: p.Epoch, Leaf: p.Leaf, Inclusion: inclusion, MapProof: p.MapProof})
	}
	entries, err := directory.VerifyHistory(cp, vrfKey, h)
	if err != nil {
		return nil, nil, directoryError(err, "%s", what)
	}
	if err := freshAnswer(pinned, cp, fresh, what); err != nil {
		return nil, nil, err
	}
	out := &VerifiedHistory{Entries: entries}
	for _, hv := range h.Versions {
		out.Epochs = append(out.Epochs, hv.Epoch)
	}
	return out, next, nil
}

// AuditResult is what AuditDirectory checked.
type AuditResult struct {
	// State is the new audit state, to keep for the next audit.
	State *directory.AuditState
	// Checked is the number of epochs checked, Updates the number of
	// key-set updates they held.
	Checked, Updates uint64
	// Checkpoint is the signed checkpoint audited against; Pin the
	// checkpoint to pin from now on.
	Checkpoint string
	Pin        *kt.Checkpoint
}

// AuditDirectory audits the directory from state (directory.NewAuditState
// for a first audit) up to the server's latest checkpoint
// (spec/client.md §6.4, spec/transparency-v2.md §8): the checkpoint is
// opened and checked against the pin as a lookup's is, then every epoch
// since state is fetched — its leaf, its public batch and batch proof —
// and checked, in pages of at most the server's MaxLeaves epochs.
// progress, if not nil, is called after each page with the epochs checked
// so far and the total.
//
// The audit reads only public data, which names no handle. Errors as
// VerifyDirectoryLookup's; a refusal returns no state.
func AuditDirectory(ctx context.Context, c *Client, v *kt.Verifier, pinned *kt.Checkpoint, fresh Freshness, state *directory.AuditState, progress func(done, total uint64)) (*AuditResult, error) {
	signed, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	const what = "the audit"
	cp, next, err := openAnswer(ctx, c, v, pinned, signed, what)
	if err != nil {
		return nil, err
	}
	wk, err := c.WellKnown(ctx)
	if err != nil {
		return nil, err
	}
	a, err := directory.NewAuditor(state)
	if err != nil {
		return nil, err
	}
	res := &AuditResult{Checkpoint: signed, Pin: next}
	page, target := uint64(max(wk.Limits.MaxLeaves, 1)), uint64(cp.Size)
	if target < state.Size {
		// A tree smaller than the one audited: stale if it is a prefix
		// of the audited tree, which the server must prove; a rollback
		// or a fork otherwise.
		proof, err := consistency(ctx, c, target, state.Size)
		if err != nil {
			return nil, err
		}
		if err := tlog.CheckTree(proof, int64(state.Size), state.TreeRoot, int64(target), cp.Root); err != nil {
			return nil, securityError(err, "the latest checkpoint (size %d) is not a prefix of the audited tree (size %d)", target, state.Size)
		}
		return nil, fmt.Errorf("%w: the latest checkpoint (size %d) is older than the audited tree (size %d)", ErrStale, target, state.Size)
	}
	if target == state.Size {
		// Nothing new: the checkpoint must be the audited tree's.
		if err := a.Advance(cp, nil, nil); err != nil {
			return nil, directoryError(err, "the checkpoint of the audited size %d", target)
		}
	}
	for done := state.Size; done < target; {
		end := min(done+page, target)
		leaves, err := c.Leaves(ctx, int64(done), int64(end))
		if err != nil {
			return nil, err
		}
		if uint64(len(leaves)) != end-done {
			return nil, securityError(nil, "asked for the leaves of epochs [%d, %d], got %d", done+1, end, len(leaves))
		}
		epochs := make([]directory.AuditEpoch, 0, len(leaves))
		for i, leaf := range leaves {
			b, err := c.Batch(ctx, done+uint64(i)+1)
			if err != nil {
				return nil, err
			}
			epochs = append(epochs, directory.AuditEpoch{Leaf: leaf, Batch: b.Batch, BatchProof: b.Proof})
			if l, err := directory.ParseLeaf(leaf); err == nil {
				res.Updates += uint64(l.Count)
			}
		}
		// Pages before the last are checked without a checkpoint of
		// their size (the server signs only its latest tree); the last
		// page ties every leaf to the target's root, and the audited
		// tree to the target's by a consistency proof.
		if end < target {
			err = a.Check(epochs)
		} else {
			proof, perr := consistency(ctx, c, a.State().Size, target)
			if perr != nil {
				return nil, perr
			}
			err = a.Advance(cp, proof, epochs)
		}
		if err != nil {
			return nil, directoryError(err, "the audit of epochs [%d, %d]", done+1, end)
		}
		res.Checked += end - done
		done = end
		if progress != nil {
			progress(done, target)
		}
	}
	if err := freshAnswer(pinned, cp, fresh, what); err != nil {
		return nil, err
	}
	res.State = a.State()
	return res, nil
}

// consistency fetches and converts the consistency proof between two
// sizes of a log whose larger checkpoint the log key signed: a refusal is
// evidence against the server.
func consistency(ctx context.Context, c *Client, old, new uint64) (tlog.TreeProof, error) {
	raw, err := c.Consistency(ctx, int64(old), int64(new))
	if err != nil {
		if refusedProof(err) {
			return nil, securityError(err, "the key server will not prove size %d consistent with its checkpoint of size %d", old, new)
		}
		return nil, err
	}
	return hashes(raw)
}
