// Package meta is the blob service's database: who owns which blob, open
// uploads with their committed offset and running digest state, quotas and
// expiry (spec/attachments.md §4, §5). Two implementations, sqlite and
// postgres, pass one conformance suite (metatest).
package meta

import (
	"context"
	"errors"
	"time"
)

// Errors the store returns; wrapped errors match with errors.Is.
var (
	// ErrNotFound: no such blob or upload (or not the caller's).
	ErrNotFound = errors.New("meta: not found")
	// ErrQuota: creating the upload would pass the account's quota or its
	// open-upload limit.
	ErrQuota = errors.New("meta: quota exceeded")
	// ErrOffset: the upload's committed offset is not the one expected.
	ErrOffset = errors.New("meta: offset mismatch")
	// ErrBusy: another request holds the upload's lease.
	ErrBusy = errors.New("meta: upload busy")
	// ErrUnavailable: the database cannot serve now (a 503).
	ErrUnavailable = errors.New("meta: unavailable")
)

// Upload is an open upload.
type Upload struct {
	ID      [32]byte // the upload id (spec/attachments.md §4.1)
	Account string   // the uploader's handle
	Size    int64    // the declared ciphertext size S
	Digest  [32]byte // the declared SHA-256 D
	// PartSize is Z, fixed at creation.
	PartSize int64
	// Key is the engine key the blob will be stored under; Handle the
	// engine's upload handle.
	Key    string
	Handle string
	// Offset is the committed offset; Parts the committed parts in order;
	// HashState the marshaled SHA-256 state over bytes [0, Offset).
	Offset    int64
	Parts     []Part
	HashState []byte
	// Expires is when the upload is dropped (UploadTTL after its last
	// part); Created when it was made.
	Created time.Time
	Expires time.Time
}

// Part is a committed part (as blobs/store.Part).
type Part struct {
	Number int
	Size   int64
	Tag    string
}

// Blob is a complete blob.
type Blob struct {
	ID      [32]byte
	Account string
	Size    int64
	Digest  [32]byte
	Key     string // the engine key
	Created time.Time
	Expires time.Time
}

// Usage is an account's use of its quota.
type Usage struct {
	Stored      int64 // bytes of its unexpired blobs
	Open        int64 // declared sizes of its open uploads
	OpenUploads int   // how many open uploads
}

// Limits bound CreateUpload (spec/attachments.md §4.3, §4.7). Zero values
// are taken literally: a zero Quota or MaxOpenUploads refuses every upload.
type Limits struct {
	Quota          int64 // Stored + Open + new size must not pass it
	MaxOpenUploads int   // refused when OpenUploads is already this many
}

// Store is the blob service's database. All methods are safe for concurrent
// use, also from several processes sharing one database.
//
// A blob or upload is expired at now when its Expires is not after now
// (Expires <= now); an expired row is not found by the reads that take a
// now, and does not count to Usage, even before the sweeper deletes it.
// Errors other than the sentinels above are faults of the database or the
// program; those of a database that cannot serve now also match
// ErrUnavailable.
type Store interface {
	// FindBlob returns the account's unexpired blob with this size and
	// digest (the per-account dedup, spec/attachments.md §4.3), or
	// ErrNotFound.
	FindBlob(ctx context.Context, account string, size int64, digest [32]byte, now time.Time) (Blob, error)
	// ExtendBlob sets a blob's expiry to expires if that is later (an
	// earlier expires changes nothing). ErrNotFound if there is no such
	// blob row or it has expired at now: an expired blob is never
	// revived, since the sweeper may be deleting its bytes.
	ExtendBlob(ctx context.Context, id [32]byte, expires, now time.Time) error
	// CreateUpload records u if the account's usage stays within lim
	// (Stored + Open + u.Size <= Quota and OpenUploads < MaxOpenUploads),
	// checked and inserted in one transaction that excludes every other
	// CreateUpload of the account, so concurrent creates never pass the
	// quota together. ErrQuota otherwise, recording nothing; expired blobs
	// and uploads do not count. The upload starts at offset 0 with no
	// parts and no lease whatever u holds; u.HashState is stored as given
	// (nil is fine). u.Size and u.PartSize must be positive.
	CreateUpload(ctx context.Context, u Upload, lim Limits, now time.Time) error
	// Upload returns the account's open upload, or ErrNotFound (also when
	// it has expired at now).
	Upload(ctx context.Context, account string, id [32]byte, now time.Time) (Upload, error)
	// Lease takes the upload's lease until `until` if nobody else holds an
	// unexpired lease (ErrBusy) and its committed offset is `offset`
	// (ErrOffset), checked in that order. The token identifies the holder;
	// its holder may take the lease again (to extend it). ErrNotFound if
	// the upload is gone or expired at now. A refusal changes nothing.
	Lease(ctx context.Context, id [32]byte, offset int64, token [16]byte, until, now time.Time) error
	// Release drops the lease the token holds, changing nothing else. It
	// returns nil if the token holds no lease (or the upload is gone).
	Release(ctx context.Context, id [32]byte, token [16]byte) error
	// ReleaseNode drops every lease whose token begins with node: the
	// leases a server instance took before it stopped (a lease token is
	// the instance's 8-byte node id then 8 random bytes). It changes
	// nothing else.
	ReleaseNode(ctx context.Context, node [8]byte) error
	// CommitPart appends part p to the upload held under token, moves its
	// offset to offset+p.Size, stores hashState, sets its expiry and drops
	// the lease, in one transaction. ErrNotFound if the upload is gone;
	// ErrBusy if the token no longer holds the lease (another took it, or
	// it was released); ErrOffset if offset is not the committed one. A
	// lease that ran out but that nobody else took still commits. A
	// refusal changes nothing.
	CommitPart(ctx context.Context, id [32]byte, token [16]byte, offset int64, p Part, hashState []byte, expires time.Time) error
	// CompleteUpload turns the upload into blob b in one transaction: the
	// upload row and its parts go, the blob row comes, its size moves from
	// Open to Stored. ErrNotFound if the upload is gone or is not
	// b.Account's, changing nothing.
	CompleteUpload(ctx context.Context, uploadID [32]byte, b Blob) error
	// DeleteUpload removes an upload and its parts (its size no longer
	// counts), or returns ErrNotFound if there is none.
	DeleteUpload(ctx context.Context, id [32]byte) error
	// Blob returns an unexpired blob by id, or ErrNotFound.
	Blob(ctx context.Context, id [32]byte, now time.Time) (Blob, error)
	// Usage returns the account's usage at now.
	Usage(ctx context.Context, account string, now time.Time) (Usage, error)
	// Expired returns up to limit blobs and up to limit uploads expired at
	// now, soonest expired first, for the sweeper to delete from the
	// engine and then from here. An upload whose lease is held past now is
	// left out until its part is committed or the lease runs out.
	Expired(ctx context.Context, now time.Time, limit int) ([]Blob, []Upload, error)
	// DeleteBlob removes a blob row, or returns ErrNotFound if there is
	// none.
	DeleteBlob(ctx context.Context, id [32]byte) error
	// Close closes the database.
	Close() error
}
