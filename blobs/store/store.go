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
	// ErrRange: a read that starts past the end of the blob.
	ErrRange = errors.New("store: range out of bounds")
)

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

// Engine stores blobs. Keys are 1 to 128 bytes of [A-Za-z0-9_-]. All methods
// are safe for concurrent use.
type Engine interface {
	// CreateUpload starts an upload whose result will be stored under key
	// and returns the engine's handle for it.
	CreateUpload(ctx context.Context, key string) (handle string, err error)
	// PutPart stores part number n of the upload, reading exactly size
	// bytes from r, and returns once the part is durable. If r yields fewer
	// or more bytes, or fails, nothing of the part is kept (ErrShortPart or
	// r's error). Storing a number again replaces that part.
	PutPart(ctx context.Context, key, handle string, n int, r io.Reader, size int64) (Part, error)
	// CompleteUpload makes key readable as the given parts in order,
	// atomically: a reader sees the whole blob or ErrNotFound, never a
	// part of it. It is idempotent: completing an upload that already
	// completed into key returns nil.
	CompleteUpload(ctx context.Context, key, handle string, parts []Part) error
	// AbortUpload discards an open upload and its parts; aborting an
	// unknown handle returns nil.
	AbortUpload(ctx context.Context, key, handle string) error
	// Open returns a reader of length bytes of the blob under key from
	// offset off. off+length must not pass the end (ErrRange).
	Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Size returns the length of the blob under key, or ErrNotFound.
	Size(ctx context.Context, key string) (int64, error)
	// Delete removes the blob under key; deleting an absent key returns
	// nil.
	Delete(ctx context.Context, key string) error
	// Close releases the engine's resources.
	Close() error
}
