// Package store is the blob service's byte storage: the Engine interface and
// its errors. Two engines implement it, fs (the local file system, the
// default) and s3 (S3-compatible object storage); storetest is the one
// conformance suite both pass (spec/attachments.md §5).
//
// An engine stores opaque ciphertext under keys the service chooses. It knows
// nothing of accounts, quotas or expiry: those are the service's, in its
// database (package blobs/meta).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// MaxParts is the most parts one upload may have (S3's limit).
const MaxParts = 10000

// MinPartSize is the smallest size of every part but the last (S3's limit).
const MinPartSize = 5 << 20

// Errors an engine returns; wrapped errors match with errors.Is.
var (
	// ErrNotFound: no complete blob under the key, or no open upload with
	// the handle.
	ErrNotFound = errors.New("store: not found")
	// ErrShortPart: a part's reader ended before, or went past, its size.
	ErrShortPart = errors.New("store: part size mismatch")
	// ErrRange: a read that does not lie within the blob (a negative
	// offset or length, or one that ends past the end).
	ErrRange = errors.New("store: range out of bounds")
	// ErrInvalid: a key, part number, size or part list outside what this
	// interface allows (ValidKey, CheckParts). Nothing is read or written.
	ErrInvalid = errors.New("store: invalid argument")
)

// MaxKeySize is the longest key, in bytes.
const MaxKeySize = 128

// Part is one stored part of an upload.
type Part struct {
	// Number is 1 to MaxParts.
	Number int
	// Size is the part's length in bytes.
	Size int64
	// Tag is what the engine returned for the part (an S3 ETag); the
	// caller keeps it and gives it back to CompleteUpload.
	Tag string
}

// Engine stores blobs. Keys are 1 to MaxKeySize bytes of [A-Za-z0-9_-]
// (ValidKey); a method given another key fails with ErrInvalid and touches
// nothing. All methods are safe for concurrent use.
type Engine interface {
	// CreateUpload starts an upload whose result will be stored under key
	// and returns the engine's handle for it.
	CreateUpload(ctx context.Context, key string) (handle string, err error)
	// PutPart stores part number n (1 to MaxParts) of the upload, reading
	// exactly size bytes from r and then its end, and returns once the
	// part is durable. If r yields fewer or more bytes, or fails, or ctx
	// ends first, nothing of the part is kept (ErrShortPart, r's error or
	// ctx's) and a part stored earlier under n stays as it was. Storing a
	// number again replaces that part: the new Tag, not the old one, then
	// completes the upload. An unknown handle, or one of another key, is
	// ErrNotFound.
	PutPart(ctx context.Context, key, handle string, n int, r io.Reader, size int64) (Part, error)
	// CompleteUpload makes key readable as the given parts in order
	// (CheckParts: numbers ascending, every part but the last at least
	// MinPartSize), atomically: a reader sees the whole blob or
	// ErrNotFound, never a part of it. A blob already under key is
	// replaced as atomically: a reader sees the old one or the new one. It
	// is idempotent: completing an upload that already completed into key
	// returns nil. A handle with neither an open upload nor a completed
	// blob behind it is ErrNotFound.
	CompleteUpload(ctx context.Context, key, handle string, parts []Part) error
	// AbortUpload discards an open upload and its parts; aborting an
	// unknown handle returns nil.
	AbortUpload(ctx context.Context, key, handle string) error
	// Open returns a reader of length bytes of the blob under key from
	// offset off: ErrNotFound if there is none, ErrRange unless 0 <= off,
	// 0 <= length and off+length <= the blob's size. The reader yields
	// exactly length bytes or an error; deleting or replacing the blob
	// while it is read may end it with an error, never with other bytes.
	Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Size returns the length of the blob under key, or ErrNotFound.
	Size(ctx context.Context, key string) (int64, error)
	// Delete removes the blob under key; deleting an absent key returns
	// nil.
	Delete(ctx context.Context, key string) error
	// Close releases the engine's resources.
	Close() error
}

// ValidKey reports whether key is 1 to MaxKeySize bytes of [A-Za-z0-9_-].
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > MaxKeySize {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckParts checks a CompleteUpload part list as S3 would: 1 to MaxParts
// parts, numbers strictly ascending within 1 to MaxParts, a non-empty Tag,
// no negative Size, and every part but the last at least MinPartSize. The
// error matches ErrInvalid.
func CheckParts(parts []Part) error {
	if len(parts) == 0 || len(parts) > MaxParts {
		return fmt.Errorf("%w: %d parts", ErrInvalid, len(parts))
	}
	for i, p := range parts {
		switch {
		case p.Number < 1 || p.Number > MaxParts:
			return fmt.Errorf("%w: part number %d", ErrInvalid, p.Number)
		case i > 0 && p.Number <= parts[i-1].Number:
			return fmt.Errorf("%w: part %d after part %d", ErrInvalid, p.Number, parts[i-1].Number)
		case p.Tag == "":
			return fmt.Errorf("%w: part %d has no tag", ErrInvalid, p.Number)
		case p.Size < 0:
			return fmt.Errorf("%w: part %d has size %d", ErrInvalid, p.Number, p.Size)
		case i < len(parts)-1 && p.Size < MinPartSize:
			return fmt.Errorf("%w: part %d has %d bytes, under the minimum %d", ErrInvalid, p.Number, p.Size, MinPartSize)
		}
	}
	return nil
}
