//go:build !unix

package postgres_test

import "testing"

// cpuMeter reports nothing where getrusage is unavailable (cpu_test.go).
type cpuMeter struct{}

func startCPU() cpuMeter { return cpuMeter{} }

func (cpuMeter) report(*testing.B) {}
