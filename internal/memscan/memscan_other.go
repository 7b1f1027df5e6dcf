//go:build !linux

package memscan

// Alloc returns ErrUnsupported outside Linux.
func Alloc(n int) ([]byte, error) { return nil, ErrUnsupported }

// Free does nothing outside Linux.
func Free(b []byte) {}

// RangeOf returns the zero Range outside Linux.
func RangeOf(b []byte) Range { return Range{} }

// Count returns ErrUnsupported outside Linux.
func Count(needle []byte, skip ...Range) (int, error) { return 0, ErrUnsupported }
