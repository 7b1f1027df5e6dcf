//go:build !linux

package fs

import "os"

// writeBehind writes to a part's file; only Linux starts the disk writes
// early (writebehind_linux.go).
type writeBehind struct{ f *os.File }

func (w *writeBehind) Write(p []byte) (int, error) { return w.f.Write(p) }
