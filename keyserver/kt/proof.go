package kt

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// LeafHash is the RFC 6962 hash of a leaf, SHA-256(0x00 || leaf)
// (spec/transparency.md §3).
func LeafHash(leaf []byte) tlog.Hash { return tlog.RecordHash(leaf) }

// VerifyInclusion checks that proof shows leaf at index in the tree of cp
// (spec/transparency.md §6.1). cp must come from OpenCheckpoint. A proof
// that fails, or an index outside the tree, is ErrSecurity: the log signed
// a tree that does not hold what the key server served.
func VerifyInclusion(cp *Checkpoint, index int64, leaf []byte, proof tlog.RecordProof) error {
	if cp == nil {
		return errors.New("kt: VerifyInclusion without a checkpoint")
	}
	if index < 0 || index >= cp.Size {
		return security("leaf index %d outside a tree of size %d", index, cp.Size)
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.Root, index, LeafHash(leaf)); err != nil {
		return security("leaf %d is not in the tree of size %d: %v", index, cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of newer contains the tree of
// older as a prefix (spec/transparency.md §6.2). Both must come from
// OpenCheckpoint for the same log. Every failure between two validly signed
// checkpoints is ErrSecurity: newer smaller than older (a rollback), equal
// sizes with different roots, or a proof that does not verify (a fork).
// Equal checkpoints, and an empty older tree, need an empty proof.
func VerifyConsistency(older, newer *Checkpoint, proof tlog.TreeProof) error {
	if older == nil || newer == nil {
		return errors.New("kt: VerifyConsistency without two checkpoints")
	}
	if older.Origin != newer.Origin {
		return malformed("checkpoints of different logs %q and %q", older.Origin, newer.Origin)
	}
	switch {
	case newer.Size < older.Size:
		return security("rollback: tree of size %d after size %d", newer.Size, older.Size)
	case newer.Size == older.Size:
		if newer.Root != older.Root {
			return security("fork: two roots for size %d", newer.Size)
		}
		if len(proof) != 0 {
			return security("consistency proof of %d hashes between equal trees", len(proof))
		}
		return nil
	case older.Size == 0:
		if len(proof) != 0 {
			return security("consistency proof of %d hashes from the empty tree", len(proof))
		}
		return nil
	}
	if err := tlog.CheckTree(proof, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return security("fork: tree of size %d does not extend tree of size %d: %v", newer.Size, older.Size, err)
	}
	return nil
}

// Advance checks newer against the pinned checkpoint and returns the
// checkpoint to pin from now on (spec/transparency.md §7.1). With no pin
// yet (nil), newer is pinned as it is (trust on first use). Otherwise newer
// must be consistent with pinned (VerifyConsistency), and the larger of the
// two is returned; when they are equal, the one the log key timestamped
// later (§5.3), pinned if neither is later. Both
// checkpoints' signed notes are opened again with v, so a Checkpoint that
// did not come from v.OpenCheckpoint is refused.
func (v *Verifier) Advance(pinned, newer *Checkpoint, proof tlog.TreeProof) (*Checkpoint, error) {
	if newer == nil {
		return nil, errors.New("kt: Advance without a checkpoint")
	}
	if err := v.reopen(newer); err != nil {
		return nil, err
	}
	if pinned == nil {
		return newer, nil
	}
	if err := v.reopen(pinned); err != nil {
		return nil, fmt.Errorf("pinned: %w", err)
	}
	if err := VerifyConsistency(pinned, newer, proof); err != nil {
		return nil, err
	}
	if newer.Size == pinned.Size && !newer.Time.After(pinned.Time) {
		return pinned, nil
	}
	return newer, nil
}

// reopen checks that cp is what v.OpenCheckpoint makes of cp.Signed.
func (v *Verifier) reopen(cp *Checkpoint) error {
	got, err := v.OpenCheckpoint(cp.Signed)
	if err != nil {
		return err
	}
	if got.Origin != cp.Origin || got.Size != cp.Size || got.Root != cp.Root || !got.Time.Equal(cp.Time) {
		return malformed("checkpoint fields do not match its signed note")
	}
	return nil
}
