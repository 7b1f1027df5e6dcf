// Package kt implements Sealpost's key transparency (spec/transparency.md):
// the log leaf that records an account's key set (Entry), checkpoints of the
// log as C2SP signed notes, and the checks a client makes on what the key
// server shows it — a checkpoint's signature, an entry's inclusion in a
// checkpoint, and a new checkpoint's consistency with the one it pinned —
// and the check a monitor makes on each handle's history (CheckSuccessor).
//
// The Merkle tree and its proofs are RFC 6962's, computed by
// golang.org/x/mod/sumdb/tlog; signed notes are golang.org/x/mod/sumdb/note.
//
// Errors say whom to blame. ErrMalformed: bytes that are not a canonical
// encoding. ErrBadSignature: a checkpoint not signed by the log's key (anyone
// could have made it), or an entry whose signatures do not verify.
// ErrSecurity: the log's own key signed something that contradicts what the
// client already holds or what the server served alongside it — a forked
// log, a rolled-back tree, a proof that does not prove. That is evidence of
// a misbehaving key server, not a transient fault, and clients must not
// retry it away.
//
// The package is pure: no I/O and no global state.
package kt

import (
	"errors"
	"fmt"
)

// Version is the version byte of an entry (spec/transparency.md §2).
const Version = 0x01

// Limits of spec/transparency.md §2 and §4.
const (
	// MaxDevices is the largest number of devices, active and revoked, an
	// entry lists. Revoked devices stay listed, so it caps the devices an
	// account can ever add.
	MaxDevices = 64
	// MaxTreeSize is the largest tree size a checkpoint may state.
	MaxTreeSize = 1 << 62
	// MaxOriginLen is the longest origin (and note key name) accepted.
	MaxOriginLen = 255
	// MaxCheckpointSize is the longest signed checkpoint OpenCheckpoint
	// reads, signatures included.
	MaxCheckpointSize = 4096
)

// Errors of spec/errors.md §3.7: each sentinel is the name there in Go
// case (ErrBadSignature is bad_signature); test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a canonical encoding.
	ErrMalformed = errors.New("kt: malformed")
	// ErrBadSignature reports a checkpoint that the log's key did not sign,
	// or an entry whose certificates or revocations do not verify.
	ErrBadSignature = errors.New("kt: bad signature")
	// ErrSecurity reports a key server that showed inconsistent views: a
	// validly signed checkpoint that conflicts with the pinned one (a fork
	// or a rollback), or a proof against a validly signed checkpoint that
	// does not verify.
	ErrSecurity = errors.New("kt: key server misbehaved (inconsistent transparency log)")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func security(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSecurity, fmt.Sprintf(format, args...))
}
