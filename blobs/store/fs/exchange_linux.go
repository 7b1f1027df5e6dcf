package fs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// replaceDir puts the directory src in place of the existing directory
// dst in one step (renameat2 RENAME_EXCHANGE), so a reader of dst finds
// the old or the new, and returns where the old one now is (src). A file
// system without the exchange falls back to replaceDirTwoSteps.
func (e *Engine) replaceDir(src, dst string) (string, error) {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return e.replaceDirTwoSteps(src, dst)
	}
	if err != nil {
		return "", &os.LinkError{Op: "renameat2", Old: src, New: dst, Err: err}
	}
	return src, nil
}
