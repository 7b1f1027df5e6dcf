//go:build !unix

package storetest

import "testing"

// CPUMeter reports nothing where getrusage is unavailable (cpu_unix.go).
type CPUMeter struct{}

// StartCPU is called right before b.ResetTimer.
func StartCPU() CPUMeter { return CPUMeter{} }

// Report adds nothing.
func (CPUMeter) Report(*testing.B) {}
