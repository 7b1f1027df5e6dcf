package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/internal/partio"
)

// copyBufSize is the buffer a part is copied through.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// partName is part n's file name with its tag.
func partName(n int, tag string) string { return fmt.Sprintf("%05d-%s", n, tag) }

// CreateUpload makes the upload's directory.
func (e *Engine) CreateUpload(ctx context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := e.live(ctx); err != nil {
		return "", err
	}
	handle := randomHex(handleLen / 2)
	if err := os.Mkdir(e.uploadDir(key, handle), dirPerm); err != nil {
		return "", fmt.Errorf("fs: creating upload: %w", err)
	}
	if err := syncDir(e.uploads); err != nil {
		return "", fmt.Errorf("fs: creating upload: %w", err)
	}
	return handle, nil
}

// PutPart writes the part to a temporary file in the upload's directory,
// fsyncs it, renames it to the part's name (replacing an earlier part n)
// and fsyncs the directory. On any failure the temporary file is removed.
func (e *Engine) PutPart(ctx context.Context, key, handle string, n int, r io.Reader, size int64) (store.Part, error) {
	if err := checkKey(key); err != nil {
		return store.Part{}, err
	}
	if n < 1 || n > store.MaxParts || size < 0 {
		return store.Part{}, fmt.Errorf("%w: part %d of %d bytes", store.ErrInvalid, n, size)
	}
	if err := e.live(ctx); err != nil {
		return store.Part{}, err
	}
	if !validHex(handle, handleLen) {
		return store.Part{}, fmt.Errorf("%w: upload %q", store.ErrNotFound, handle)
	}
	path := e.uploadDir(key, handle)
	// The root follows the directory if Complete or Abort moves it, so
	// the temporary file is removed wherever it went.
	root, err := os.OpenRoot(path)
	if errors.Is(err, os.ErrNotExist) {
		return store.Part{}, fmt.Errorf("%w: upload %s", store.ErrNotFound, handle)
	}
	if err != nil {
		return store.Part{}, fmt.Errorf("fs: %w", err)
	}
	defer root.Close()
	tmp := tmpPrefix + randomHex(8)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return store.Part{}, fmt.Errorf("fs: %w", err)
	}
	kept := false
	defer func() {
		if !kept {
			f.Close()
			root.Remove(tmp)
		}
	}()
	pr := partio.NewReader(ctx, r, size)
	buf := copyBufs.Get().(*[copyBufSize]byte)
	_, err = io.CopyBuffer(&writeBehind{f: f}, pr, buf[:])
	copyBufs.Put(buf)
	if perr := pr.Err(); perr != nil {
		return store.Part{}, perr
	}
	if err != nil {
		return store.Part{}, fmt.Errorf("fs: writing part %d: %w", n, err)
	}
	if err := f.Sync(); err != nil {
		return store.Part{}, fmt.Errorf("fs: writing part %d: %w", n, err)
	}
	if err := f.Close(); err != nil {
		return store.Part{}, fmt.Errorf("fs: writing part %d: %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return store.Part{}, err
	}
	tag := randomHex(tagLen / 2)
	unlock := e.lockHandle(handle)
	defer unlock()
	if !sameDir(root, path) {
		return store.Part{}, fmt.Errorf("%w: upload %s ended", store.ErrNotFound, handle)
	}
	if err := root.Rename(tmp, partName(n, tag)); err != nil {
		return store.Part{}, fmt.Errorf("fs: storing part %d: %w", n, err)
	}
	kept = true
	if err := syncRoot(root); err != nil {
		return store.Part{}, fmt.Errorf("fs: storing part %d: %w", n, err)
	}
	// The replaced part, if any, is now unreferenced: remove it (a
	// leftover is harmless, and Complete removes it too).
	if names, err := readNames(root); err == nil {
		prefix := partName(n, "")
		for _, name := range names {
			if strings.HasPrefix(name, prefix) && name != partName(n, tag) {
				root.Remove(name)
			}
		}
	}
	return store.Part{Number: n, Size: size, Tag: tag}, nil
}

// sameDir reports whether path still names root's directory.
func sameDir(root *os.Root, path string) bool {
	a, err := root.Stat(".")
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// syncRoot fsyncs root's directory.
func syncRoot(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// readNames lists root's directory.
func readNames(root *os.Root) ([]string, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// CompleteUpload checks the parts against the upload's files, writes the
// manifest, removes parts it does not name, and renames the upload's
// directory to the blob's.
func (e *Engine) CompleteUpload(ctx context.Context, key, handle string, parts []store.Part) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := store.CheckParts(parts); err != nil {
		return err
	}
	if err := e.live(ctx); err != nil {
		return err
	}
	if !validHex(handle, handleLen) {
		return fmt.Errorf("%w: upload %q", store.ErrNotFound, handle)
	}
	unlock := e.lockHandle(handle)
	defer unlock()
	path := e.uploadDir(key, handle)
	root, err := os.OpenRoot(path)
	if errors.Is(err, os.ErrNotExist) {
		return e.completed(key, handle)
	}
	if err != nil {
		return fmt.Errorf("fs: %w", err)
	}
	defer root.Close()
	m := blobManifest{handle: handle}
	keep := map[string]bool{}
	for _, p := range parts {
		if !validHex(p.Tag, tagLen) {
			return fmt.Errorf("fs: part %d: no part with tag %q", p.Number, p.Tag)
		}
		name := partName(p.Number, p.Tag)
		fi, err := root.Lstat(name)
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("fs: part %d: no part with tag %s", p.Number, p.Tag)
		}
		if fi.Size() != p.Size {
			return fmt.Errorf("fs: part %d holds %d bytes, not %d", p.Number, fi.Size(), p.Size)
		}
		m.parts = append(m.parts, partRef{name: name, size: p.Size})
		m.size += p.Size
		keep[name] = true
	}
	if err := writeManifest(root, m); err != nil {
		return err
	}
	names, err := readNames(root)
	if err != nil {
		return fmt.Errorf("fs: %w", err)
	}
	for _, name := range names {
		if name != manifest && !keep[name] && !strings.HasPrefix(name, tmpPrefix) {
			root.Remove(name)
		}
	}
	if err := syncRoot(root); err != nil {
		return fmt.Errorf("fs: %w", err)
	}
	if err := e.publish(path, key); err != nil {
		return fmt.Errorf("fs: completing upload: %w", err)
	}
	return nil
}

// publish renames the upload directory path to key's blob directory,
// replacing a blob already there, and makes it durable.
func (e *Engine) publish(path, key string) error {
	shard, dst := e.shardDir(key), e.blobDir(key)
	if _, err := os.Stat(shard); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(shard, dirPerm); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := syncDir(e.objects); err != nil {
			return err
		}
	}
	err := os.Rename(path, dst)
	switch {
	case err == nil:
		if err := syncDir(shard); err != nil {
			return err
		}
		return syncDir(e.uploads)
	case !errors.Is(err, os.ErrExist) && !isNotEmpty(err):
		return err
	}
	// A blob is under key already: swap it out.
	old, err := e.replaceDir(path, dst)
	if err != nil {
		return err
	}
	if err := syncDir(shard); err != nil {
		return err
	}
	if filepath.Dir(old) != e.trash {
		// The old blob is where the upload was: into trash with it, so
		// that a crash cannot leave it half removed there.
		if old, err = e.toTrash(old); err != nil {
			return err
		}
	}
	if err := syncDir(e.uploads); err != nil {
		return err
	}
	os.RemoveAll(old) // what stays is removed with trash at the next Open
	return nil
}

// replaceDirTwoSteps renames dst into trash, then src to dst, and returns
// where the old dst went.
func (e *Engine) replaceDirTwoSteps(src, dst string) (string, error) {
	old, err := e.toTrash(dst)
	if err != nil {
		return "", err
	}
	if err := os.Rename(src, dst); err != nil {
		os.Rename(old, dst) // put the old blob back
		return "", err
	}
	return old, nil
}

// completed answers a completion whose upload directory is gone: nil if
// the blob under key is that upload's.
func (e *Engine) completed(key, handle string) error {
	root, err := os.OpenRoot(e.blobDir(key))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: upload %s", store.ErrNotFound, handle)
	}
	if err != nil {
		return fmt.Errorf("fs: %w", err)
	}
	defer root.Close()
	m, err := readManifest(root)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: upload %s", store.ErrNotFound, handle)
	}
	if err != nil {
		return err
	}
	if m.handle != handle {
		return fmt.Errorf("%w: upload %s", store.ErrNotFound, handle)
	}
	return nil
}

// AbortUpload moves the upload's directory to trash and removes it.
func (e *Engine) AbortUpload(ctx context.Context, key, handle string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := e.live(ctx); err != nil {
		return err
	}
	if !validHex(handle, handleLen) {
		return nil
	}
	unlock := e.lockHandle(handle)
	defer unlock()
	old, err := e.toTrash(e.uploadDir(key, handle))
	if err != nil {
		return fmt.Errorf("fs: aborting upload: %w", err)
	}
	if old == "" {
		return nil
	}
	if err := syncDir(e.uploads); err != nil {
		return fmt.Errorf("fs: aborting upload: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("fs: aborting upload: %w", err)
	}
	return nil
}
