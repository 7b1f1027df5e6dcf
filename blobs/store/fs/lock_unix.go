//go:build unix

package fs

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir opens path and takes an exclusive flock on it, failing if
// another Engine (in this process or another) holds it.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("fs: %s is in use by another engine: %w", path, err)
	}
	return f, nil
}
