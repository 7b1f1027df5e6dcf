// Package fs is the blob service's default byte storage: a store.Engine on
// the local file system, under one directory (the service gives <data
// dir>/blobs) (spec/attachments.md §5).
//
// Layout, every directory 0700 and file 0600:
//
//	lock                             held (flock) while an Engine is open
//	uploads/<key>.<handle>/          an open upload
//	    <nnnnn>-<tag>                its part n, tag 16 random hex digits
//	    .tmp-<random>                a part or manifest being written
//	objects/<key[:2]>/<key>/         a complete blob: its upload's directory
//	    manifest                     the parts in order, with their sizes
//	    <nnnnn>-<tag>
//	trash/<random>                   a deleted blob or aborted upload
//
// A part is written to a temporary file in its upload's directory,
// fsynced, renamed to its name and the directory fsynced before PutPart
// returns. CompleteUpload writes the manifest the same way, then renames
// the upload's directory to the blob's, one rename, and fsyncs the parent:
// the blob is readable whole or not at all, and no byte is copied. A blob
// already under the key is swapped out in the same step (renameat2
// RENAME_EXCHANGE on Linux; elsewhere it is renamed away first, so a
// reader may briefly find neither). Deletes and aborts rename into trash
// before removing, so a crash leaves nothing half removed: Open empties
// trash and removes stale temporary files.
//
// Keys are case-sensitive: on a case-insensitive file system two keys
// differing only in case would collide. Only one Engine, in one process,
// may use a directory at a time (Open takes a lock on it).
package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"

	"github.com/sealpost/sealpost/blobs/store"
)

const (
	dirPerm   = 0o700
	filePerm  = 0o600
	tmpPrefix = ".tmp-"
	manifest  = "manifest"
	handleLen = 32 // hex digits
	tagLen    = 16 // hex digits
)

// Engine is a store.Engine under one directory.
type Engine struct {
	dir, uploads, objects, trash string
	lock                         *os.File

	// handles serialises the steps of one upload that move or replace
	// its files (a part's rename, completion, abort), by handle.
	handles [64]sync.Mutex

	mu     sync.Mutex
	closed bool
}

var _ store.Engine = (*Engine)(nil)

// Open opens the engine under dir, creating it and its subdirectories
// (0700) if need be, takes the directory's lock, and removes what a crash
// may have left: temporary files, trash, and the directory of an upload
// whose completion replaced another blob.
func Open(dir string) (*Engine, error) {
	e := &Engine{
		dir:     dir,
		uploads: filepath.Join(dir, "uploads"),
		objects: filepath.Join(dir, "objects"),
		trash:   filepath.Join(dir, "trash"),
	}
	for _, d := range []string{dir, e.uploads, e.objects, e.trash} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("fs: %w", err)
		}
	}
	lock, err := lockDir(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	e.lock = lock
	if err := e.cleanup(); err != nil {
		lock.Close()
		return nil, err
	}
	return e, nil
}

// Close releases the directory's lock. The Engine must not be used after.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.lock.Close()
}

// lockHandle locks the upload handle's stripe and returns its unlock.
func (e *Engine) lockHandle(handle string) func() {
	h := fnv.New32a()
	h.Write([]byte(handle))
	m := &e.handles[h.Sum32()%uint32(len(e.handles))]
	m.Lock()
	return m.Unlock
}

func (e *Engine) uploadDir(key, handle string) string {
	return filepath.Join(e.uploads, key+"."+handle)
}

func (e *Engine) shardDir(key string) string {
	return filepath.Join(e.objects, key[:min(2, len(key))])
}

func (e *Engine) blobDir(key string) string {
	return filepath.Join(e.shardDir(key), key)
}

// checkKey refuses a key outside store.ValidKey: no key reaches a path
// unless it is one plain file name.
func checkKey(key string) error {
	if !store.ValidKey(key) {
		return fmt.Errorf("%w: key %q", store.ErrInvalid, key)
	}
	return nil
}

// validHex reports whether s is n lowercase hex digits.
func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// syncDir fsyncs the directory at path, making renames in it durable.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// toTrash renames path into trash, returning where it went; a missing
// path returns "" and no error.
func (e *Engine) toTrash(path string) (string, error) {
	dst := filepath.Join(e.trash, randomHex(16))
	if err := os.Rename(path, dst); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return dst, nil
}

// live fails once the engine is closed, and with ctx's error.
func (e *Engine) live(ctx context.Context) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return errors.New("fs: engine closed")
	}
	return ctx.Err()
}
