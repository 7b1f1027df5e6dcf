//go:build !linux

package fs

// replaceDir puts the directory src in place of the existing directory
// dst: without an atomic exchange, in two renames.
func (e *Engine) replaceDir(src, dst string) (string, error) {
	return e.replaceDirTwoSteps(src, dst)
}
