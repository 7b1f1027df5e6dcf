package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cleanup removes what a crash can leave: everything in trash, temporary
// files in uploads and blobs, and upload directories holding another
// upload's blob (the old side of a replacement, before it reached trash).
func (e *Engine) cleanup() error {
	entries, err := os.ReadDir(e.trash)
	if err != nil {
		return fmt.Errorf("fs: cleanup: %w", err)
	}
	for _, d := range entries {
		if err := os.RemoveAll(filepath.Join(e.trash, d.Name())); err != nil {
			return fmt.Errorf("fs: cleanup: %w", err)
		}
	}
	uploads, err := os.ReadDir(e.uploads)
	if err != nil {
		return fmt.Errorf("fs: cleanup: %w", err)
	}
	for _, d := range uploads {
		path := filepath.Join(e.uploads, d.Name())
		_, handle, _ := strings.Cut(d.Name(), ".")
		if root, err := os.OpenRoot(path); err == nil {
			m, err := readManifest(root)
			root.Close()
			if err == nil && m.handle != handle {
				if err := os.RemoveAll(path); err != nil {
					return fmt.Errorf("fs: cleanup: %w", err)
				}
				continue
			}
		}
		if err := removeTemps(path); err != nil {
			return err
		}
	}
	shards, err := os.ReadDir(e.objects)
	if err != nil {
		return fmt.Errorf("fs: cleanup: %w", err)
	}
	for _, s := range shards {
		blobs, err := os.ReadDir(filepath.Join(e.objects, s.Name()))
		if err != nil {
			continue
		}
		for _, b := range blobs {
			if err := removeTemps(filepath.Join(e.objects, s.Name(), b.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeTemps removes the temporary files in the directory dir.
func removeTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil // not a directory: not ours to judge
	}
	for _, f := range entries {
		if strings.HasPrefix(f.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(dir, f.Name())); err != nil {
				return fmt.Errorf("fs: cleanup: %w", err)
			}
		}
	}
	return nil
}
