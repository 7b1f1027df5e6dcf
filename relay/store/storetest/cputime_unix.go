//go:build unix

package storetest

import (
	"syscall"
	"time"
)

// CPUTime is the process's user and system CPU time so far, 0 where
// getrusage is unavailable.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
