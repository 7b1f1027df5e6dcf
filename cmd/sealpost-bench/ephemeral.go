package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// --ephemeral measures ephemeral sends (spec/relay.md §7.4): --devices
// receivers and as many senders connected to a relay child process (so
// that its CPU time is its own), --envelopes ephemeral items of --size
// bytes, --batch per SendEphemeral frame (a typing indicator to a group's
// devices), each from a sender to the receivers in turn, at --rate items
// per second (or flat out). It reports the items
// received per second, those that did not arrive (the relay or the
// receiver's buffer dropped them: nothing is retried), the latency, and
// the relay process's CPU time per item sent while the load ran
// (/proc/PID/stat, Linux).

// ephemeralReport is what --ephemeral measures.
type ephemeralReport struct {
	Receivers        int     `json:"receivers"`
	Senders          int     `json:"senders"`
	Sent             int64   `json:"sent"`
	Received         int64   `json:"received"`
	Dropped          int64   `json:"dropped"`
	SendSeconds      float64 `json:"send_seconds"`
	SentPerSecond    float64 `json:"sent_per_second"`
	ReceivedPerSec   float64 `json:"received_per_second"`
	RelayCPUSeconds  float64 `json:"relay_cpu_seconds"`
	RelayCPUPerItem  float64 `json:"relay_cpu_us_per_item"`
	RelaySysPerItem  float64 `json:"relay_sys_cpu_us_per_item"` // of RelayCPUPerItem, in the kernel
	RelayCPUMeasured bool    `json:"relay_cpu_measured"`
	// StoreCommits is how many write transactions the relay's SQLite
	// store committed while the load ran (sqlite.Queue.Commits): 0, as
	// an ephemeral send writes nothing (spec/relay.md §7.4).
	StoreCommits         int64          `json:"store_commits"`
	StoreCommitsMeasured bool           `json:"store_commits_measured"`
	Latency              latencySummary `json:"latency_ms"`
}

func (r *ephemeralReport) print(w io.Writer) {
	fmt.Fprintf(w, "ephemeral: %d senders, %d receivers\n", r.Senders, r.Receivers)
	fmt.Fprintf(w, "sent             %d in %.2fs (%.0f/s)\n", r.Sent, r.SendSeconds, r.SentPerSecond)
	fmt.Fprintf(w, "received         %d (%.0f/s), dropped %d\n", r.Received, r.ReceivedPerSec, r.Dropped)
	l := r.Latency
	fmt.Fprintf(w, "latency ms       p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (%d samples)\n", l.P50, l.P90, l.P99, l.Max, l.Count)
	if r.RelayCPUMeasured {
		fmt.Fprintf(w, "relay CPU        %.2fs: %.1f µs per item sent (%.1f µs of it in the kernel)\n", r.RelayCPUSeconds, r.RelayCPUPerItem, r.RelaySysPerItem)
	} else {
		fmt.Fprintf(w, "relay CPU        not measured\n")
	}
	if r.StoreCommitsMeasured {
		fmt.Fprintf(w, "store writes     %d write transactions committed while the load ran\n", r.StoreCommits)
	} else {
		fmt.Fprintf(w, "store writes     not measured (SQLite only)\n")
	}
}

// runEphemeral runs --ephemeral against the relay child r.
func runEphemeral(ctx context.Context, o *options, r *childRelay, runID string, rep *report, stderr io.Writer) error {
	tg := &r.target
	n := o.devices
	fmt.Fprintf(stderr, "sealpost-bench: opening %d receivers and %d senders to %s\n", n, n, tg.url)
	t0 := time.Now()
	rcv, err := dialAll(ctx, tg, "r"+runID, n, o.dialConc, rep)
	if err != nil {
		return err
	}
	defer closeAll(rcv)
	snd, err := dialAll(ctx, tg, "s"+runID, n, o.dialConc, rep)
	if err != nil {
		return err
	}
	defer closeAll(snd)
	rep.ConnectSeconds = time.Since(t0).Seconds()
	addrs := make([][]byte, n)
	for i := range addrs {
		addrs[i] = wire.FormatAddress(fmt.Sprintf("r%s-%d", runID, i), 1)
	}
	er := &ephemeralReport{Receivers: n, Senders: n}
	rep.Ephemeral = er

	var received, lastAt atomic.Int64
	lat := newLatencies(o.envelopes)
	var rwg sync.WaitGroup
	for _, c := range rcv {
		rwg.Go(func() {
			var mine []int64
			for env := range c.Ephemeral() {
				now := time.Now().UnixNano()
				if len(env) >= minEnvelope {
					mine = append(mine, now-int64(binary.BigEndian.Uint64(env)))
				}
				received.Add(1)
				lastAt.Store(now)
			}
			lat.mu.Lock()
			lat.ns = append(lat.ns, mine...)
			lat.mu.Unlock()
		})
	}

	jobs := make(chan int, 1024)
	go pace(ctx, jobs, o.envelopes, o.batch, o.rate)
	fmt.Fprintf(stderr, "sealpost-bench: sending %d ephemeral items of %d bytes, %d per SendEphemeral (%s)\n", o.envelopes, o.size, o.batch, rateText(o.rate))
	w0, wErr := r.storeCommits(ctx)
	u0, s0, cpuErr := processUserSys(r.pid())
	start := time.Now()
	var sent atomic.Int64
	var swg sync.WaitGroup
	for i, c := range snd {
		swg.Go(func() {
			items := make([]*wire.Item, o.batch)
			for j := range items {
				items[j] = &wire.Item{Envelope: make([]byte, o.size)}
			}
			for first := range jobs {
				k := min(o.batch, o.envelopes-first)
				now := uint64(time.Now().UnixNano())
				for j, it := range items[:k] {
					binary.BigEndian.PutUint64(it.Envelope[0:], now)
					binary.BigEndian.PutUint64(it.Envelope[8:], uint64(first+j))
					it.Recipient = addrs[(i+first+j)%n]
				}
				if err := c.SendEphemeral(ctx, items[:k]...); err != nil {
					rep.addError("send: " + errKind(err))
					return
				}
				sent.Add(int64(k))
			}
		})
	}
	swg.Wait()
	sendEnd := time.Now()
	// Wait until nothing more arrives: nothing is retried, so what has not
	// come within a settle time after the last send is dropped.
	for deadline := time.Now().Add(o.timeout); time.Now().Before(deadline) && received.Load() < sent.Load(); {
		before := received.Load()
		time.Sleep(200 * time.Millisecond)
		if received.Load() == before && time.Since(sendEnd) > time.Second {
			break
		}
	}
	u1, s1, cpuErr1 := processUserSys(r.pid())
	w1, wErr1 := r.storeCommits(ctx)
	end := time.Unix(0, lastAt.Load())
	if end.Before(sendEnd) {
		end = sendEnd
	}
	closeAll(rcv)
	rwg.Wait()

	er.Sent, er.Received = sent.Load(), received.Load()
	er.Dropped = er.Sent - er.Received
	er.SendSeconds = sendEnd.Sub(start).Seconds()
	if er.SendSeconds > 0 {
		er.SentPerSecond = float64(er.Sent) / er.SendSeconds
	}
	if d := end.Sub(start).Seconds(); d > 0 {
		er.ReceivedPerSec = float64(er.Received) / d
	}
	if cpuErr == nil && cpuErr1 == nil && er.Sent > 0 {
		er.RelayCPUMeasured = true
		cpu := u1 - u0 + s1 - s0
		er.RelayCPUSeconds = cpu.Seconds()
		er.RelayCPUPerItem = float64(cpu.Microseconds()) / float64(er.Sent)
		er.RelaySysPerItem = float64((s1 - s0).Microseconds()) / float64(er.Sent)
	} else if err := errors.Join(cpuErr, cpuErr1); err != nil {
		fmt.Fprintf(stderr, "sealpost-bench: relay CPU not measured: %v\n", err)
	}
	if wErr == nil && wErr1 == nil {
		er.StoreCommitsMeasured = true
		er.StoreCommits = w1 - w0
	} else if err := errors.Join(wErr, wErr1); err != nil {
		fmt.Fprintf(stderr, "sealpost-bench: store writes not measured: %v\n", err)
	}
	er.Latency = lat.summary()
	return nil
}

func closeAll(cs []*relayclient.Conn) {
	for _, c := range cs {
		if c != nil {
			c.CloseNow()
		}
	}
}

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on Linux whatever the kernel's HZ).
const clockTick = 10 * time.Millisecond

// processUserSys returns the user and the system CPU time of process pid.
func processUserSys(pid int) (user, sys time.Duration, err error) {
	if pid <= 0 {
		return 0, 0, errors.New("no relay process")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, 0, errors.New("unexpected /proc stat format")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("unexpected /proc stat format")
	}
	return time.Duration(u) * clockTick, time.Duration(st) * clockTick, nil
}
