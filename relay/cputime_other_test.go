//go:build !unix

package relay

import "time"

// cpuTime is 0: the platform has no getrusage.
func cpuTime() time.Duration { return 0 }
