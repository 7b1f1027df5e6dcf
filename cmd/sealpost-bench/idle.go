package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// idleReport is the memory cost of idle authenticated connections.
type idleReport struct {
	Connections int     `json:"connections"`
	Measured    string  `json:"measured"` // "relay process (/metrics)" or "this process (relay and clients)"
	OpenSeconds float64 `json:"open_seconds"`
	HeapBefore  int64   `json:"heap_inuse_before"`
	HeapAfter   int64   `json:"heap_inuse_after"`
	RSSBefore   int64   `json:"rss_before"`
	RSSAfter    int64   `json:"rss_after"`
	StackBefore int64   `json:"stack_inuse_before"`
	StackAfter  int64   `json:"stack_inuse_after"`
	HeapPerConn int64   `json:"heap_per_connection"`
	// GoPerConn is heap and goroutine stacks together per connection.
	GoPerConn  int64 `json:"heap_and_stack_per_connection"`
	RSSPerConn int64 `json:"rss_per_connection"`
}

func (r *idleReport) print(w io.Writer) {
	fmt.Fprintf(w, "idle connections %d opened in %.1fs; measured: %s\n", r.Connections, r.OpenSeconds, r.Measured)
	fmt.Fprintf(w, "heap in use      %.1f MiB -> %.1f MiB: %.1f KiB per connection\n",
		mib(r.HeapBefore), mib(r.HeapAfter), float64(r.HeapPerConn)/1024)
	fmt.Fprintf(w, "stacks in use    %.1f MiB -> %.1f MiB; heap+stacks %.1f KiB per connection\n",
		mib(r.StackBefore), mib(r.StackAfter), float64(r.GoPerConn)/1024)
	fmt.Fprintf(w, "resident (RSS)   %.1f MiB -> %.1f MiB: %.1f KiB per connection\n",
		mib(r.RSSBefore), mib(r.RSSAfter), float64(r.RSSPerConn)/1024)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// settle is how long the tool waits before measuring, for the connections'
// goroutines and buffers to reach their idle state.
var settle = 3 * time.Second

// idle opens o.idle authenticated connections that stay idle and measures
// the memory they cost: the relay's own, from its /metrics, when it runs
// elsewhere; this whole process's (relay and client sides) with --self.
func idle(ctx context.Context, o *options, tg *target, runID string, rep *report, stderr io.Writer) error {
	measure := func() (m memory, err error) {
		if tg.metrics == "" {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return memory{int64(ms.HeapInuse), int64(ms.StackInuse), selfRSS()}, nil
		}
		return scrape(ctx, tg)
	}
	r := &idleReport{Connections: o.idle, Measured: "relay process (its /metrics)"}
	if tg.metrics == "" {
		r.Measured = "this process: in-process relay and the tool's client side together"
	}
	time.Sleep(settle)
	var err error
	before, err := measure()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sealpost-bench: opening %d idle connections\n", o.idle)
	t0 := time.Now()
	conns, err := dialAll(ctx, tg, "i"+runID, o.idle, o.dialConc, rep)
	if err != nil {
		return err
	}
	r.OpenSeconds = time.Since(t0).Seconds()
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	time.Sleep(settle)
	after, err := measure()
	if err != nil {
		return err
	}
	r.HeapBefore, r.StackBefore, r.RSSBefore = before.heap, before.stack, before.rss
	r.HeapAfter, r.StackAfter, r.RSSAfter = after.heap, after.stack, after.rss
	r.HeapPerConn = (r.HeapAfter - r.HeapBefore) / int64(o.idle)
	r.GoPerConn = (r.HeapAfter + r.StackAfter - r.HeapBefore - r.StackBefore) / int64(o.idle)
	r.RSSPerConn = (r.RSSAfter - r.RSSBefore) / int64(o.idle)
	for _, c := range conns {
		select {
		case <-c.Done():
			rep.addError("idle connection closed: " + errKind(c.Err()))
		default:
		}
	}
	rep.Idle = r
	return nil
}

// selfRSS returns this process's resident set size from /proc, or 0.
func selfRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memory is one measurement, in bytes.
type memory struct{ heap, stack, rss int64 }

// scrape reads the relay process's heap and stacks in use and its RSS from
// its Prometheus /metrics (the Go and process collectors sealpostd
// registers).
func scrape(ctx context.Context, tg *target) (m memory, err error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tg.tls}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.metrics, nil)
	if err != nil {
		return m, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return m, fmt.Errorf("reading the relay's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("reading the relay's metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
		switch name {
		case "go_memstats_heap_inuse_bytes":
			m.heap = int64(f)
		case "go_memstats_stack_inuse_bytes":
			m.stack = int64(f)
		case "process_resident_memory_bytes":
			m.rss = int64(f)
		}
	}
	return m, sc.Err()
}
