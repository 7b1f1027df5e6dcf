// Package memscan counts copies of secret bytes in this process's memory,
// for tests that check a key never lands on the Go heap (SECURITY.md,
// "In memory").
//
// Count reads every readable mapping of the process through /proc/self/mem
// — the Go heap and every goroutine stack, allocated and free memory alike,
// so a copy in an object the garbage collector has released but not yet
// reused is found too. The needle and the read buffer live in memory mapped
// outside the Go heap (Alloc), and Count skips them, so the scan itself
// makes no copy it could find. Linux only; elsewhere Count reports
// ErrUnsupported.
package memscan

import (
	"bytes"
	"errors"
)

// ErrUnsupported reports a platform without /proc/self/mem.
var ErrUnsupported = errors.New("memscan: unsupported on this platform")

// Range is a span of memory [Start, Start+Len) that Count skips.
type Range struct {
	Start, Len uintptr
}

// count returns how many times needle occurs in b.
func count(b, needle []byte) int {
	n := 0
	for {
		i := bytes.Index(b, needle)
		if i < 0 {
			return n
		}
		n++
		b = b[i+1:]
	}
}
