package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sealpost/sealpost/blobs/store"
)

// openBlob opens key's blob directory and reads its manifest.
func (e *Engine) openBlob(ctx context.Context, key string) (*os.Root, blobManifest, error) {
	if err := checkKey(key); err != nil {
		return nil, blobManifest{}, err
	}
	if err := e.live(ctx); err != nil {
		return nil, blobManifest{}, err
	}
	root, err := os.OpenRoot(e.blobDir(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, blobManifest{}, fmt.Errorf("%w: blob %s", store.ErrNotFound, key)
	}
	if err != nil {
		return nil, blobManifest{}, fmt.Errorf("fs: %w", err)
	}
	m, err := readManifest(root)
	if errors.Is(err, os.ErrNotExist) {
		// Deleted, or replaced, between the two opens.
		err = fmt.Errorf("%w: blob %s", store.ErrNotFound, key)
	}
	if err != nil {
		root.Close()
		return nil, blobManifest{}, err
	}
	return root, m, nil
}

// Size returns the blob's size from its manifest.
func (e *Engine) Size(ctx context.Context, key string) (int64, error) {
	root, m, err := e.openBlob(ctx, key)
	if err != nil {
		return 0, err
	}
	root.Close()
	return m.size, nil
}

// Open returns a reader over the blob's parts from off. It holds the
// blob's directory open, not its path: a blob replaced or deleted
// meanwhile ends the read with an error when a part it still needs is
// gone, never with the new blob's bytes.
func (e *Engine) Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	root, m, err := e.openBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	if off < 0 || length < 0 || off > m.size || length > m.size-off {
		root.Close()
		return nil, fmt.Errorf("%w: %d bytes from %d of %d", store.ErrRange, length, off, m.size)
	}
	r := &blobReader{root: root, parts: m.parts, left: length}
	for r.i < len(r.parts) && off >= r.parts[r.i].size {
		off -= r.parts[r.i].size
		r.i++
	}
	r.off = off
	return r, nil
}

// blobReader reads left bytes from offset off of part i onwards.
type blobReader struct {
	root  *os.Root
	parts []partRef
	i     int
	off   int64
	left  int64
	f     *os.File
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	for r.off == r.parts[r.i].size {
		r.closePart()
		r.i++
		r.off = 0
	}
	if r.f == nil {
		f, err := r.root.Open(r.parts[r.i].name)
		if err != nil {
			return 0, fmt.Errorf("fs: reading blob: %w", err)
		}
		r.f = f
	}
	p = p[:min(int64(len(p)), r.left, r.parts[r.i].size-r.off)]
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	r.left -= int64(n)
	if n == len(p) {
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, fmt.Errorf("fs: reading blob: %w", err)
}

func (r *blobReader) closePart() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

func (r *blobReader) Close() error {
	r.closePart()
	return r.root.Close()
}

// Delete moves the blob's directory to trash and removes it.
func (e *Engine) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := e.live(ctx); err != nil {
		return err
	}
	old, err := e.toTrash(e.blobDir(key))
	if err != nil {
		return fmt.Errorf("fs: deleting blob: %w", err)
	}
	if old == "" {
		return nil
	}
	if err := syncDir(e.shardDir(key)); err != nil {
		return fmt.Errorf("fs: deleting blob: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("fs: deleting blob: %w", err)
	}
	return nil
}
