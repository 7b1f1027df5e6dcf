//go:build unix

package fs

import (
	"errors"
	"syscall"
)

// isNotEmpty reports whether err is a rename onto a non-empty directory.
func isNotEmpty(err error) bool { return errors.Is(err, syscall.ENOTEMPTY) }
