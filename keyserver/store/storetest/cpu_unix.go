//go:build unix

package storetest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CPUMeter reports the CPU a benchmark's timed part used per operation,
// the deterministic side of an operations/s figure on a shared machine:
// the benchmark process's own (getrusage) as client-µs/op, and, when a
// PostgreSQL server runs on this machine and /proc is readable, that of
// every process named postgres (backends, those already exited through
// the postmaster's children times, the WAL writer, the checkpointer) as
// server-µs/op. The server figure counts anything else the server did
// meanwhile, so run it on an otherwise idle server.
type CPUMeter struct {
	client, server time.Duration
	serverOK       bool
}

// StartCPU is called right before b.ResetTimer.
func StartCPU() CPUMeter {
	m := CPUMeter{client: processCPU()}
	m.server, m.serverOK = postgresCPU()
	return m
}

// Report adds the metrics for b.N operations.
func (m CPUMeter) Report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64((processCPU()-m.client).Microseconds())/n, "client-µs/op")
	if s, ok := postgresCPU(); ok && m.serverOK {
		b.ReportMetric(float64((s-m.server).Microseconds())/n, "server-µs/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU sums utime, stime, cutime and cstime (/proc/PID/stat fields
// 14–17, in USER_HZ ticks of 10 ms) of the processes named postgres.
func postgresCPU() (time.Duration, bool) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	found := false
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(raw)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 15 {
			continue
		}
		// f[0] is field 3: fields 14–17 are f[11:15].
		for _, v := range f[11:15] {
			x, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				ticks += x
			}
		}
		found = true
	}
	return time.Duration(ticks) * 10 * time.Millisecond, found
}
