// Package store defines the key server's storage: one interface, Store,
// with a SQLite implementation (store/sqlite, the embedded default) and a
// PostgreSQL one (store/postgres) side by side, and one conformance suite
// (store/storetest) that both run.
//
// A Store keeps accounts and their devices, the transparency log (leaves and
// the RFC 6962 hashes golang.org/x/mod/sumdb/tlog stores), prekeys, token
// challenges and invite codes, the send-token issuer's keys and counts
// (sendtokens.go), and the key transparency v2 directory
// (directory.go: map nodes and roots, the epoch log, batches, VRF entries
// and sequenced versions). It knows nothing of signatures or encodings:
// the key server validates every value before it reaches the store, and the
// store keeps bytes. Every method is atomic: it changes everything it says
// or nothing.
package store

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Errors callers act on. Implementations return them (wrapped or not) so
// that errors.Is matches; anything else is a fault of the store itself.
var (
	ErrNotFound        = errors.New("store: not found")
	ErrHandleTaken     = errors.New("store: handle taken")
	ErrConflict        = errors.New("store: account changed concurrently")
	ErrDeviceExists    = errors.New("store: device id already used by this account")
	ErrDeviceRevoked   = errors.New("store: device revoked")
	ErrTooManyPrekeys  = errors.New("store: too many one-time prekeys")
	ErrDuplicatePrekey = errors.New("store: prekey id already uploaded")
	ErrInvite          = errors.New("store: invite code unknown or used")
	ErrChallenge       = errors.New("store: challenge unknown, used or expired")
)

// Device is one device of an account as the log records it.
type Device struct {
	ID uint32
	// Certificate is the device certificate's encoding (spec/keys.md §6).
	Certificate []byte
	// Revocation is the revocation's encoding (spec/keys.md §7), nil while
	// the device is active.
	Revocation []byte
}

// Account is an account's current key set.
type Account struct {
	Handle     string
	AccountKey [32]byte
	// Version counts the key-set changes: 1 after registration, +1 for
	// each device added or revoked.
	Version uint64
	// LogIndex is the index of the log leaf recording this Version.
	LogIndex int64
	// Devices are all the account's devices, active and revoked, by ID.
	Devices []Device
	Created time.Time
}

// KeySetUpdate is one change of an account's key set, applied together
// with the append of the log leaf that records the new key set. Exactly one
// of "create" (ExpectedVersion 0, AccountKey and AddDevice set), AddDevice
// or Revoke is given.
type KeySetUpdate struct {
	Handle string
	// ExpectedVersion is the Version the caller read; the update fails with
	// ErrConflict if the account has moved on (or, for 0, ErrHandleTaken if
	// it exists).
	ExpectedVersion uint64
	AccountKey      [32]byte // creation only
	// Invite, at creation, is the hash of an invite code to consume; nil
	// when registration is open.
	Invite    []byte
	AddDevice *Device // ID and Certificate
	// Revoke names a device to revoke and its revocation; the device's
	// prekeys are deleted with it.
	Revoke *Device
	// Leaf is the log leaf recording the key set after the change
	// (keyserver/kt), appended at the next index.
	Leaf []byte
	Now  time.Time
}

// Prekey is one uploaded prekey: its id and its encoding (spec/keys.md §8).
type Prekey struct {
	ID      uint32
	Encoded []byte
}

// Upload is one prekey upload for one device. Nil fields leave the stored
// value as it is.
type Upload struct {
	Handle string
	Device uint32
	// Signed replaces the device's signed X25519 prekey.
	Signed *Prekey
	// LastResort replaces the device's last-resort ML-KEM-768 prekey.
	LastResort *Prekey
	// OneTime and OneTimeKEM are added to the device's one-time prekeys.
	OneTime    []Prekey
	OneTimeKEM []Prekey
	// MaxOneTime caps how many one-time prekeys of each kind the device
	// may hold after the upload; past it the upload fails with
	// ErrTooManyPrekeys and nothing is stored.
	MaxOneTime int
}

// Counts says how many one-time prekeys a device holds.
type Counts struct {
	OneTime    int
	OneTimeKEM int
}

// HeldIDs are the ids of the one-time prekeys a device holds, by kind.
type HeldIDs struct {
	OneTime    []uint32
	OneTimeKEM []uint32
}

// Claimed is what one claim took for one device: the signed prekey, one
// one-time X25519 prekey if any remained, and one one-time ML-KEM prekey if
// any remained, else the last-resort one. Each one-time prekey is deleted
// in the claim that returns it, so none is handed out twice.
type Claimed struct {
	Device      uint32
	Certificate []byte
	Signed      []byte
	OneTime     []byte // nil when none remained
	KEM         []byte // one-time if KEMOneTime, else last resort
	KEMOneTime  bool
}

// Revocation is one device revocation as the revocation feed lists it
// (spec/keyserver.md §5.9).
type Revocation struct {
	// LogIndex is the index of the log leaf that recorded the revocation:
	// the feed's cursor. Revocations commit in log order.
	LogIndex int64
	Handle   string
	Device   uint32
	// Time is the revocation's KeySetUpdate.Now.
	Time time.Time
}

// Store is the key server's storage. Implementations are safe for
// concurrent use by many goroutines and, for PostgreSQL, by many key server
// processes sharing one database.
type Store interface {
	// UpdateKeySet applies u and appends u.Leaf to the log in one
	// transaction, returning the leaf's index. Errors: ErrHandleTaken,
	// ErrConflict, ErrNotFound (no such account), ErrDeviceExists,
	// ErrNotFound or ErrDeviceRevoked (revoking an unknown or revoked
	// device), ErrInvite.
	UpdateKeySet(ctx context.Context, u KeySetUpdate) (int64, error)
	// Account returns the current key set of handle, or ErrNotFound.
	Account(ctx context.Context, handle string) (*Account, error)

	// LogSize returns the number of leaves in the log.
	LogSize(ctx context.Context) (int64, error)
	// ReadHashes returns the stored hashes at the given indexes
	// (tlog.StoredHashIndex); it is a tlog.HashReader.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// Leaves returns the leaves with index in [start, end).
	Leaves(ctx context.Context, start, end int64) ([][]byte, error)

	// UploadPrekeys stores u for an active device. Errors: ErrNotFound,
	// ErrDeviceRevoked, ErrTooManyPrekeys, ErrDuplicatePrekey (an id
	// already held for that device and kind).
	UploadPrekeys(ctx context.Context, u Upload) error
	// CountPrekeys counts an active device's remaining one-time prekeys.
	// Errors: ErrNotFound, ErrDeviceRevoked.
	CountPrekeys(ctx context.Context, handle string, device uint32) (Counts, error)
	// ClaimPrekeys claims for every active device of handle that has a
	// signed prekey and a last-resort KEM prekey, in one transaction.
	// Errors: ErrNotFound (no such account).
	ClaimPrekeys(ctx context.Context, handle string) ([]Claimed, error)
	// Bundles returns what ClaimPrekeys would, for the same devices, but
	// with no one-time prekey of either kind (KEM is the last-resort
	// prekey), and takes nothing: the answer to a claim past the target's
	// one-time claim limit (spec/keyserver.md §5.8). Errors: ErrNotFound
	// (no such account).
	Bundles(ctx context.Context, handle string) ([]Claimed, error)
	// PrekeyIDs returns the ids of the one-time prekeys an active device
	// holds, each kind in ascending order. Errors: ErrNotFound,
	// ErrDeviceRevoked.
	PrekeyIDs(ctx context.Context, handle string, device uint32) (HeldIDs, error)

	// Revocations returns at most limit revocations recorded by log
	// leaves with index above after, in increasing index order.
	Revocations(ctx context.Context, after int64, limit int) ([]Revocation, error)

	// PutChallenge records a challenge nonce valid until expiry.
	PutChallenge(ctx context.Context, nonce []byte, expiry time.Time) error
	// UseChallenge consumes a challenge: it succeeds once for a nonce put
	// and not expired at now, and fails with ErrChallenge otherwise.
	// Expired challenges are deleted.
	UseChallenge(ctx context.Context, nonce []byte, now time.Time) error

	// AddInvite stores the hash of an invite code.
	AddInvite(ctx context.Context, codeHash []byte) error

	// Directory is the key transparency v2 directory (directory.go).
	Directory
	// SendTokens is the send-token issuer's state (sendtokens.go).
	SendTokens

	// Close releases the store.
	Close() error
}
