package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// idleReport is the memory cost of idle authenticated connections.
type idleReport struct {
	Connections int     `json:"connections"`
	Measured    string  `json:"measured"`
	OpenSeconds float64 `json:"open_seconds"`
	HeapBefore  int64   `json:"heap_inuse_before"`
	HeapAfter   int64   `json:"heap_inuse_after"`
	RSSBefore   int64   `json:"rss_before"`
	RSSAfter    int64   `json:"rss_after"`
	StackBefore int64   `json:"stack_inuse_before"`
	StackAfter  int64   `json:"stack_inuse_after"`
	HeapPerConn int64   `json:"heap_per_connection"`
	// StackPerConn is goroutine stacks per connection.
	StackPerConn int64 `json:"stack_per_connection"`
	// GoPerConn is heap and goroutine stacks together per connection.
	GoPerConn  int64 `json:"heap_and_stack_per_connection"`
	RSSPerConn int64 `json:"rss_per_connection"`
	// Measured in a relay child process only (--self): its goroutines,
	// and its anonymous resident memory (/proc/PID/smaps_rollup), before
	// and after.
	GoroutinesBefore int   `json:"goroutines_before,omitempty"`
	GoroutinesAfter  int   `json:"goroutines_after,omitempty"`
	AnonBefore       int64 `json:"anon_rss_before,omitempty"`
	AnonAfter        int64 `json:"anon_rss_after,omitempty"`
	// Per connection: live heap objects, free heap pages kept, runtime
	// metadata (memory).
	LivePerConn int64 `json:"heap_alloc_per_connection,omitempty"`
	FreePerConn int64 `json:"heap_free_retained_per_connection,omitempty"`
	MetaPerConn int64 `json:"runtime_metadata_per_connection,omitempty"`
}

func (r *idleReport) print(w io.Writer) {
	n := float64(r.Connections)
	fmt.Fprintf(w, "idle connections %d opened in %.1fs; measured: %s\n", r.Connections, r.OpenSeconds, r.Measured)
	fmt.Fprintf(w, "heap in use      %.1f MiB -> %.1f MiB: %.2f KiB per connection\n",
		mib(r.HeapBefore), mib(r.HeapAfter), float64(r.HeapPerConn)/1024)
	fmt.Fprintf(w, "stacks in use    %.1f MiB -> %.1f MiB: %.2f KiB per connection; heap+stacks %.2f KiB per connection\n",
		mib(r.StackBefore), mib(r.StackAfter), float64(r.StackPerConn)/1024, float64(r.GoPerConn)/1024)
	if r.GoroutinesAfter > 0 {
		fmt.Fprintf(w, "goroutines       %d -> %d: %.2f per connection\n",
			r.GoroutinesBefore, r.GoroutinesAfter, float64(r.GoroutinesAfter-r.GoroutinesBefore)/n)
	}
	fmt.Fprintf(w, "resident (RSS)   %.1f MiB -> %.1f MiB: %.2f KiB per connection\n",
		mib(r.RSSBefore), mib(r.RSSAfter), float64(r.RSSPerConn)/1024)
	if r.LivePerConn != 0 {
		fmt.Fprintf(w, "of which         live objects %.2f KiB, free heap kept %.2f KiB, runtime metadata %.2f KiB per connection\n",
			float64(r.LivePerConn)/1024, float64(r.FreePerConn)/1024, float64(r.MetaPerConn)/1024)
	}
	if r.AnonAfter > 0 {
		fmt.Fprintf(w, "anonymous RSS    %.1f MiB -> %.1f MiB: %.2f KiB per connection (smaps_rollup)\n",
			mib(r.AnonBefore), mib(r.AnonAfter), float64(r.AnonAfter-r.AnonBefore)/1024/n)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// settle is how long the tool waits before measuring, for the connections'
// goroutines and buffers to reach their idle state (the relay parks an
// idle reader after parkAfter, and the garbage collector shrinks the
// stacks of parked goroutines).
var settle = 3 * time.Second

// memory is one measurement, in bytes.
type memory struct {
	Heap       int64 `json:"heap_inuse"`
	Stack      int64 `json:"stack_inuse"`
	RSS        int64 `json:"rss"`
	Anon       int64 `json:"anon_rss,omitempty"`
	Goroutines int   `json:"goroutines,omitempty"`
	// Where RSS goes beyond the heap and stacks in use: live objects (the
	// rest of HeapInuse is free space in spans in use), free heap pages
	// not yet returned to the system, and the runtime's metadata (span
	// structures, GC bitmaps, goroutine structures).
	Live int64 `json:"heap_alloc,omitempty"`
	Free int64 `json:"heap_free_retained,omitempty"`
	Meta int64 `json:"runtime_metadata,omitempty"`
}

// childMemoryPath is where a relay child answers its memory (a memory in
// JSON, after a garbage collection); childHeapPath answers its heap
// profile (pprof format).
const (
	childMemoryPath = "/sealpost-bench/memory"
	childHeapPath   = "/sealpost-bench/heap"
)

// childMemoryHandlers adds the relay child's memory endpoints to mux.
func childMemoryHandlers(mux *http.ServeMux) {
	mux.HandleFunc(childMemoryPath, func(w http.ResponseWriter, _ *http.Request) {
		m := gcMemory()
		m.Anon = smapsAnon()
		m.Goroutines = runtime.NumGoroutine()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(m)
	})
	mux.HandleFunc(childHeapPath, func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		pprof.Lookup("heap").WriteTo(w, 0)
	})
}

// gcMemory measures this process after garbage collections (which also
// shrink the stacks of goroutines that need less than they have).
func gcMemory() memory {
	for range 3 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{Heap: int64(ms.HeapInuse), Stack: int64(ms.StackInuse), RSS: selfRSS(),
		Live: int64(ms.HeapAlloc), Free: int64(ms.HeapIdle - ms.HeapReleased),
		Meta: int64(ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.GCSys + ms.OtherSys)}
}

// runIdleChild is --self --idle: the relay runs as a child process, so
// that its memory is measured alone (and the clients' descriptors and the
// relay's do not share one limit); --envelopes of load run first against
// the same child.
func runIdleChild(ctx context.Context, o *options, stderr io.Writer) (*report, error) {
	c, err := startChild(ctx, o, stderr)
	if err != nil {
		return nil, err
	}
	defer c.shutdown()
	rep := &report{Devices: o.devices, Envelopes: o.envelopes, Size: o.size, Batch: o.batch, Shared: o.shared, InFlight: o.inflight, Rate: o.rate,
		Self: o.self, Errors: map[string]int64{}, Statuses: map[string]int64{}}
	var run [4]byte
	rand.Read(run[:])
	runID := hex.EncodeToString(run[:])
	tg := c.target
	if o.envelopes > 0 {
		if err := load(ctx, o, &tg, runID, loadMode{}, rep, stderr); err != nil {
			return nil, err
		}
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tg.tls}}
	defer hc.CloseIdleConnections()
	base := "https://" + c.spec.Addr
	measure := func() (m memory, err error) {
		err = getChild(ctx, hc, base+childMemoryPath, func(r io.Reader) error { return json.NewDecoder(r).Decode(&m) })
		return m, err
	}
	profile := func() error {
		if o.relayMemProfile == "" {
			return nil
		}
		f, err := os.Create(o.relayMemProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		return getChild(ctx, hc, base+childHeapPath, func(r io.Reader) error { _, err := io.Copy(f, r); return err })
	}
	return rep, idleWith(ctx, o, &tg, runID, rep, stderr, "relay child process (pid "+strconv.Itoa(c.pid())+")", measure, profile)
}

func getChild(ctx context.Context, hc *http.Client, url string, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return read(resp.Body)
}

// idle opens o.idle authenticated connections that stay idle and measures
// the memory they cost: the relay's own, from its /metrics, when it runs
// elsewhere; this whole process's (relay and client sides) otherwise.
func idle(ctx context.Context, o *options, tg *target, runID string, rep *report, stderr io.Writer) error {
	if tg.metrics == "" {
		return idleWith(ctx, o, tg, runID, rep, stderr, "this process: in-process relay and the tool's client side together",
			func() (memory, error) { return gcMemory(), nil }, nil)
	}
	return idleWith(ctx, o, tg, runID, rep, stderr, "relay process (its /metrics)",
		func() (memory, error) { return scrape(ctx, tg) }, nil)
}

// idleWith is idle with the measurement (and an optional heap profile,
// taken with the connections open) given.
func idleWith(ctx context.Context, o *options, tg *target, runID string, rep *report, stderr io.Writer,
	measured string, measure func() (memory, error), profile func() error) error {
	r := &idleReport{Connections: o.idle, Measured: measured}
	time.Sleep(settle)
	before, err := measure()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sealpost-bench: opening %d idle connections\n", o.idle)
	t0 := time.Now()
	conns, err := dialIdle(ctx, tg, "i"+runID, o.idle, o.dialConc, o.sourceIPs, rep)
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
	if profile != nil {
		if err := profile(); err != nil {
			return err
		}
	}
	n := int64(o.idle)
	r.HeapBefore, r.StackBefore, r.RSSBefore = before.Heap, before.Stack, before.RSS
	r.HeapAfter, r.StackAfter, r.RSSAfter = after.Heap, after.Stack, after.RSS
	r.GoroutinesBefore, r.GoroutinesAfter = before.Goroutines, after.Goroutines
	r.AnonBefore, r.AnonAfter = before.Anon, after.Anon
	r.HeapPerConn = (r.HeapAfter - r.HeapBefore) / n
	r.StackPerConn = (r.StackAfter - r.StackBefore) / n
	r.GoPerConn = (r.HeapAfter + r.StackAfter - r.HeapBefore - r.StackBefore) / n
	r.RSSPerConn = (r.RSSAfter - r.RSSBefore) / n
	r.LivePerConn = (after.Live - before.Live) / n
	r.FreePerConn = (after.Free - before.Free) / n
	r.MetaPerConn = (after.Meta - before.Meta) / n
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

// parseIPs parses --source-ips: addresses separated by commas, or FIRST-LAST
// ranges of IPv4 addresses (127.0.0.1-127.0.0.4).
func parseIPs(list string) ([]net.IP, error) {
	var ips []net.IP
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		first, last, isRange := strings.Cut(f, "-")
		a := net.ParseIP(first)
		if a == nil {
			return nil, fmt.Errorf("--source-ips: %q is not an IP address", first)
		}
		if !isRange {
			ips = append(ips, a)
			continue
		}
		b := net.ParseIP(last)
		a4, b4 := a.To4(), b.To4()
		if a4 == nil || b4 == nil || binary.BigEndian.Uint32(a4) > binary.BigEndian.Uint32(b4) ||
			binary.BigEndian.Uint32(b4)-binary.BigEndian.Uint32(a4) >= 1<<16 {
			return nil, fmt.Errorf("--source-ips: %q is not a range of IPv4 addresses", f)
		}
		for v := binary.BigEndian.Uint32(a4); v <= binary.BigEndian.Uint32(b4); v++ {
			ips = append(ips, binary.BigEndian.AppendUint32(nil, v))
		}
	}
	return ips, nil
}

// selfRSS returns this process's resident set size from /proc, or 0.
func selfRSS() int64 {
	return procKiB("/proc/self/status", "VmRSS:")
}

// smapsAnon returns this process's anonymous resident memory (the heap,
// stacks and runtime structures, without the mapped executable), or 0.
func smapsAnon() int64 {
	return procKiB("/proc/self/smaps_rollup", "Anonymous:")
}

// procKiB returns the "NAME: N kB" field of a /proc file in bytes, or 0.
func procKiB(file, name string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

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
			m.Heap = int64(f)
		case "go_memstats_stack_inuse_bytes":
			m.Stack = int64(f)
		case "process_resident_memory_bytes":
			m.RSS = int64(f)
		}
	}
	return m, sc.Err()
}
