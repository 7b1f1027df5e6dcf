// Package directory implements the key transparency version 2 protocol
// (spec/transparency-v2.md): the log leaf that commits one epoch of the
// private directory (Leaf, §5), the commitment to a key set (Commit, §6.1),
// the verification of a lookup answer (proof of latest, VerifyLookup, §6.3)
// and of an owner's history (VerifyHistory, §6.4), and the auditor that
// replays the public batches of each epoch (Audit, Auditor, §8).
//
// It builds on crypto/vrf (the private index of a handle, §3),
// keyserver/kt/vmap (the map and its proofs, §4) and keyserver/kt (the
// RFC 6962 log, C2SP checkpoints and key-set entries); checkpoints of a
// version 2 log have an origin ending in OriginSuffix (NewVerifier, §9).
//
// Errors say whom to blame (spec/errors.md §3.16). ErrMalformed: bytes
// that are not a canonical encoding. ErrProofInvalid: a well-formed answer
// that does not prove what it claims — evidence against the key server.
// ErrWrongKey: a leaf names a VRF key other than the pinned one.
// ErrNotLatest: a lookup answered from an epoch other than the
// checkpoint's last. ErrOrigin: a checkpoint or verifier key of another
// log. ErrHistory: a history whose versions have a gap, go backwards, or
// lack a proof. ErrAudit: log leaves that do not follow each other or do
// not match their batch. Each wraps the lower layer's error where there is
// one, so errors.Is also finds vrf.ErrInvalidProof, vmap.ErrProofInvalid,
// kt.ErrSecurity and the like.
//
// The package is pure: no I/O and no global state.
package directory

import (
	"errors"
	"fmt"
)

// Constants of spec/transparency-v2.md §2.
const (
	// OriginSuffix ends the origin of every version 2 log:
	// "<key server name>/sealpost-kt/v2" (§5.2, §9).
	OriginSuffix = "/sealpost-kt/v2"
	// LeafVersion is the first byte of a log leaf (§5.1).
	LeafVersion = 0x02
	// LeafSize is the length of a log leaf (§5.1).
	LeafSize = 1 + 8 + 8 + 32 + 32 + 4 + 32
	// OpeningSize is the length of a commitment opening (§6.1).
	OpeningSize = 32
	// LabelCommit is the label of the key-set commitment (§6.1).
	LabelCommit = "sealpost/v2/kt-commit"
)

// Errors of spec/errors.md §3.16: each sentinel is the name there in Go
// case (ErrProofInvalid is proof_invalid); test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a canonical encoding.
	ErrMalformed = errors.New("directory: malformed")
	// ErrProofInvalid reports a well-formed answer that does not prove
	// what it claims: a VRF proof for another handle or key, an inclusion
	// or map proof that fails, a commitment that does not open, an entry
	// of another handle or with bad signatures, a batch proof that does
	// not lead from one map root to the next, leaves that do not make the
	// checkpoint's tree. Evidence against the key server.
	ErrProofInvalid = errors.New("directory: proof does not verify")
	// ErrWrongKey reports a log leaf whose VRF key is not the pinned one,
	// or a VRF key that changed from one epoch to the next.
	ErrWrongKey = errors.New("directory: wrong VRF key")
	// ErrNotLatest reports a lookup whose leaf is not the last epoch of
	// the checkpoint.
	ErrNotLatest = errors.New("directory: not the latest epoch")
	// ErrOrigin reports a checkpoint or verifier key whose origin does not
	// end in OriginSuffix: another log, for instance a version 1 one.
	ErrOrigin = errors.New("directory: not a version 2 log")
	// ErrHistory reports a history whose versions are not 1, 2, 3, … at
	// strictly increasing epochs with strictly increasing key-set versions,
	// whose entries do not follow each other, or whose proofs do not cover
	// exactly the epochs HistoryEpochs names.
	ErrHistory = errors.New("directory: history invalid")
	// ErrAudit reports log leaves that do not follow the previous state
	// (epoch numbering, time) or do not match their batch (digest, count,
	// a batch refused on its own), or a checkpoint whose size is not the
	// state's plus the leaves given.
	ErrAudit = errors.New("directory: audit failed")
)

// fail returns an error wrapping kind with a message.
func fail(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

// wrap returns an error wrapping kind and a lower layer's err.
func wrap(kind error, what string, err error) error {
	return fmt.Errorf("%w: %s: %w", kind, what, err)
}
