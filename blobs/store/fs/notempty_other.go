//go:build !unix

package fs

// isNotEmpty reports whether err is a rename onto a non-empty directory;
// elsewhere such a rename reports os.ErrExist.
func isNotEmpty(error) bool { return false }
