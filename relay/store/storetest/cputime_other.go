//go:build !unix

package storetest

import "time"

// CPUTime is 0: the platform has no getrusage.
func CPUTime() time.Duration { return 0 }
