// Package group implements Sealpost's group state (spec/groups.md): the
// state of a group (id, epoch, name, members and their roles), the signed,
// hash-chained changes that alone change it, the rules that apply a change
// to a state, the deterministic choice between concurrent changes, and a
// Tracker that converges to the same state on every member whatever order
// the changes arrive in.
//
// The package is pure: no store, no network, no clock, no randomness except
// where a caller passes a reader (NewGroupID). It never fetches a key: the
// caller passes a KeyLookup that returns an account key as the caller's key
// directory (spec/client.md §6) shows it. It never signs for anyone either:
// a change is built unsigned (NewChange), its SignedMessage signed by the
// author's account key, and the signature set with SetSignature.
package group

import (
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/keys"
)

// Constants of spec/groups.md §2.
const (
	// Version is the version byte of a state and a change (§3, §4).
	Version = 0x01
	// IDSize is the size of a group id (§2.1).
	IDSize = 32
	// HashSize is the size of a state hash and a change id (§3.2, §4.3).
	HashSize = 32
	// MaxNameLen is the longest group name, in bytes of UTF-8 (§2.2).
	MaxNameLen = 128
	// MaxMembers is the largest number of members of a group (§2.2).
	MaxMembers = 1000
	// MaxEpoch is the largest epoch a state may have (§2.2).
	MaxEpoch = 1 << 62
	// SignatureSize is the size of a change's Ed25519 signature.
	SignatureSize = keys.SignatureSize
)

// Labels of spec/groups.md §2.3. A hash or signature covers
// label || 0x00 || bytes (spec/keys.md §2.3).
const (
	LabelState    = "sealpost/v1/group-state"
	LabelChange   = "sealpost/v1/group-change"
	LabelChangeID = "sealpost/v1/group-change-id"
)

// ID is a group id: 32 bytes chosen at random by the creator (§2.1).
type ID [IDSize]byte

// Hash is a state hash or a change id (§3.2, §4.3).
type Hash [HashSize]byte

// NewGroupID reads a group id from rand (the caller's CSPRNG).
func NewGroupID(rand io.Reader) (ID, error) {
	var id ID
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return ID{}, fmt.Errorf("group: reading a group id: %w", err)
	}
	return id, nil
}

// KeyLookup returns the account key of handle as the key directory shows it
// (spec/client.md §6.1), and false when the caller knows none. The package
// calls it only for a change's author.
type KeyLookup func(handle string) (accountKey [32]byte, ok bool)

// Errors of spec/errors.md §3.20 (spec/groups.md §7). Each is the name
// there in Go case; test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a canonical state or change,
	// or a change whose arguments break §4.2 on their own.
	ErrMalformed = errors.New("group: malformed")
	// ErrBadSignature reports a change whose signature does not verify under
	// its author's account key.
	ErrBadSignature = errors.New("group: bad signature")
	// ErrUnknownAuthor reports a change whose author has no account key in
	// the caller's directory.
	ErrUnknownAuthor = errors.New("group: unknown author")
	// ErrWrongGroup reports a change for another group id.
	ErrWrongGroup = errors.New("group: change for another group")
	// ErrNotAdmin reports an admin-only change by a member who is not an
	// admin, or a Demote naming a member who is not an admin.
	ErrNotAdmin = errors.New("group: not an admin")
	// ErrNotMember reports a change by a non-member, or naming a non-member
	// where a member is required.
	ErrNotMember = errors.New("group: not a member")
	// ErrAlreadyMember reports an Add naming a member.
	ErrAlreadyMember = errors.New("group: already a member")
	// ErrAlreadyAdmin reports a Promote naming an admin.
	ErrAlreadyAdmin = errors.New("group: already an admin")
	// ErrLastAdmin reports a Demote that would leave the group without an
	// admin.
	ErrLastAdmin = errors.New("group: last admin")
	// ErrTooManyMembers reports a change that would make the group larger
	// than MaxMembers.
	ErrTooManyMembers = errors.New("group: too many members")
	// ErrStaleEpoch reports a change for an epoch older than the state it
	// is applied to (or older than a Tracker keeps).
	ErrStaleEpoch = errors.New("group: stale epoch")
	// ErrFutureEpoch reports a change for a newer epoch than the state's:
	// changes are missing; hold it until they arrive.
	ErrFutureEpoch = errors.New("group: future epoch")
	// ErrWrongPrevious reports a change for the state's epoch that names
	// another state hash: a fork.
	ErrWrongPrevious = errors.New("group: wrong previous state")
	// ErrTooManyChanges reports a change a Tracker would have to hold
	// while it already holds MaxPending, or a fork beyond MaxStates.
	ErrTooManyChanges = errors.New("group: too many changes held")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
