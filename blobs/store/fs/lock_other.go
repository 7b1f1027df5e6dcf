//go:build !unix

package fs

import (
	"fmt"
	"os"
)

// lockDir opens path. Without flock, nothing stops a second Engine on the
// same directory.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	return f, nil
}
