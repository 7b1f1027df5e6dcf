package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sealpost/sealpost/relay/wire"
)

// report is what the tool prints; the JSON names are for scripts.
type report struct {
	Self      string  `json:"self,omitempty"`
	Devices   int     `json:"devices"`
	Envelopes int     `json:"envelopes"`
	Size      int     `json:"size"`
	Batch     int     `json:"batch"`
	Shared    bool    `json:"shared,omitempty"` // --shared: each Send one body to Batch devices (spec/relay.md §16)
	InFlight  int     `json:"inflight_per_device"`
	Rate      float64 `json:"target_rate"`
	// Senders and Receivers (--senders, --receivers): the load's senders
	// send to random receivers; 0 when every device sends and receives.
	Senders   int `json:"senders,omitempty"`
	Receivers int `json:"receivers,omitempty"`
	// MQTT is the broker of --mqtt (mqtt.go), "" for a Sealpost relay;
	// MQTTTLS: over TLS.
	MQTT    string `json:"mqtt,omitempty"`
	MQTTTLS bool   `json:"mqtt_tls,omitempty"`

	ConnectSeconds float64          `json:"connect_seconds"`
	SendSeconds    float64          `json:"send_seconds"`
	Seconds        float64          `json:"seconds"`
	Stored         int64            `json:"stored"`
	Acked          int64            `json:"delivered_acked"`
	Lost           int64            `json:"not_delivered"`
	SentPerSecond  float64          `json:"stored_per_second"`
	AckedPerSecond float64          `json:"delivered_acked_per_second"`
	Latency        latencySummary   `json:"latency_ms"`
	Statuses       map[string]int64 `json:"statuses"`
	Errors         map[string]int64 `json:"errors"`
	Idle           *idleReport      `json:"idle,omitempty"`
	Herd           *herdReport      `json:"herd,omitempty"`
	Ephemeral      *ephemeralReport `json:"ephemeral,omitempty"`
	Push           *pushReport      `json:"push,omitempty"`
	Fanout         *fanoutReport    `json:"fanout,omitempty"`

	// Anonymous: the load's Sends went on anonymous connections, each
	// paid with a send token (--anonymous); Tokens were issued in
	// IssueSeconds before the timed part.
	Anonymous    bool    `json:"anonymous,omitempty"`
	Tokens       int     `json:"send_tokens,omitempty"`
	IssueSeconds float64 `json:"issue_seconds,omitempty"`
	// The relay child's CPU time over the timed part, and per envelope
	// stored (--anonymous, --compare-anonymous).
	RelayCPUSeconds     float64 `json:"relay_cpu_seconds,omitempty"`
	RelayCPUPerEnvelope float64 `json:"relay_cpu_us_per_envelope,omitempty"`
	RelaySysPerEnvelope float64 `json:"relay_sys_cpu_us_per_envelope,omitempty"`
	// Server names the process whose CPU the Relay* fields measure when
	// it is not the tool's relay child: "server-pid" (--server-pid).
	Server string `json:"server,omitempty"`
	// The tool's own CPU time over the timed part (getrusage), and per
	// envelope stored: it shares the machine with the server it measures.
	ToolCPUSeconds     float64 `json:"tool_cpu_seconds,omitempty"`
	ToolCPUPerEnvelope float64 `json:"tool_cpu_us_per_envelope,omitempty"`
	// Authenticated is --compare-anonymous's first run: the same load on
	// authenticated connections against the same relay.
	Authenticated *report `json:"authenticated,omitempty"`

	mu sync.Mutex
}

type latencySummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func (r *report) addError(kind string) {
	r.mu.Lock()
	r.Errors[kind]++
	r.mu.Unlock()
}

func (r *report) addErrorN(kind string, n int64) {
	r.mu.Lock()
	r.Errors[kind] += n
	r.mu.Unlock()
}

func (r *report) addStatusN(s wire.Status, n int64) {
	r.mu.Lock()
	r.Statuses[strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))] += n
	r.mu.Unlock()
}

func (r *report) print(w io.Writer) {
	if a := r.Authenticated; a != nil {
		fmt.Fprintf(w, "== authenticated Sends\n")
		a.print(w)
		fmt.Fprintf(w, "== anonymous Sends, one send token each\n")
	}
	if r.Envelopes > 0 && r.Herd == nil && r.Ephemeral == nil {
		switch {
		case r.MQTT != "":
			tls := "no TLS"
			if r.MQTTTLS {
				tls = "TLS 1.3"
			}
			fmt.Fprintf(w, "MQTT broker %s (%s), %d publishers, %d subscribers, messages %d of %d bytes, QoS 1, %d in flight per publisher, %s",
				r.MQTT, tls, r.Senders, r.Receivers, r.Envelopes, r.Size, r.InFlight, rateText(r.Rate))
		case r.Senders > 0:
			fmt.Fprintf(w, "senders %d, receivers %d, envelopes %d of %d bytes, %d per Send, %d Sends in flight per sender, %s",
				r.Senders, r.Receivers, r.Envelopes, r.Size, r.Batch, r.InFlight, rateText(r.Rate))
		default:
			fmt.Fprintf(w, "devices %d, envelopes %d of %d bytes, %d per Send, %d Sends in flight per device, %s",
				r.Devices, r.Envelopes, r.Size, r.Batch, r.InFlight, rateText(r.Rate))
		}
		if r.Shared {
			fmt.Fprintf(w, ", shared sends (one body per Send)")
		}
		switch {
		case r.Server != "" || r.MQTT != "":
		case r.RelayCPUSeconds > 0 || r.Anonymous:
			fmt.Fprintf(w, ", relay child process on %s", r.Self)
		case r.Self != "":
			fmt.Fprintf(w, ", in-process relay on %s", r.Self)
		}
		fmt.Fprintf(w, "\nconnected in %.2fs\n", r.ConnectSeconds)
		fmt.Fprintf(w, "stored           %d in %.2fs (%.0f/s)\n", r.Stored, r.SendSeconds, r.SentPerSecond)
		fmt.Fprintf(w, "delivered+acked  %d in %.2fs: %.0f envelopes/s\n", r.Acked, r.Seconds, r.AckedPerSecond)
		if r.Lost > 0 {
			fmt.Fprintf(w, "NOT DELIVERED    %d\n", r.Lost)
		}
		l := r.Latency
		fmt.Fprintf(w, "latency ms       p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (%d samples)\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Count)
		fmt.Fprintf(w, "statuses         %s\n", counts(r.Statuses))
		fmt.Fprintf(w, "errors           %s\n", counts(r.Errors))
		if r.Anonymous {
			fmt.Fprintf(w, "send tokens      %d issued in %.2fs before the timed part\n", r.Tokens, r.IssueSeconds)
		}
		if p := r.Push; p != nil {
			p.print(w)
		}
		if r.RelayCPUSeconds > 0 {
			who := "relay CPU       "
			if r.Server != "" || r.MQTT != "" {
				who = "server CPU      "
			}
			fmt.Fprintf(w, "%s %.2fs: %.1f µs per envelope stored (%.1f µs of it in the kernel)\n", who, r.RelayCPUSeconds, r.RelayCPUPerEnvelope, r.RelaySysPerEnvelope)
		}
		if r.ToolCPUSeconds > 0 {
			fmt.Fprintf(w, "tool CPU         %.2fs: %.1f µs per envelope stored (this load tool)\n", r.ToolCPUSeconds, r.ToolCPUPerEnvelope)
		}
	}
	if a := r.Authenticated; a != nil && a.RelayCPUPerEnvelope > 0 && r.RelayCPUPerEnvelope > 0 {
		fmt.Fprintf(w, "== anonymous / authenticated: relay CPU per envelope %.2fx, delivered+acked per second %.2fx\n",
			r.RelayCPUPerEnvelope/a.RelayCPUPerEnvelope, r.AckedPerSecond/a.AckedPerSecond)
	}
	if r.Fanout != nil {
		fmt.Fprintf(w, "connected in %.2fs\n", r.ConnectSeconds)
		r.Fanout.print(w)
		fmt.Fprintf(w, "statuses         %s\n", counts(r.Statuses))
		fmt.Fprintf(w, "errors           %s\n", counts(r.Errors))
	}
	if r.Idle != nil {
		r.Idle.print(w)
	}
	if r.Herd != nil {
		r.Herd.print(w)
	}
	if r.Ephemeral != nil {
		fmt.Fprintf(w, "connected in %.2fs\n", r.ConnectSeconds)
		r.Ephemeral.print(w)
		fmt.Fprintf(w, "errors           %s\n", counts(r.Errors))
	}
}

func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// latencies are the end-to-end latencies of a run (ns), from the send
// time in each envelope; the readers collect them (loadRun.readLoop).
type latencies struct {
	mu sync.Mutex
	ns []int64
}

func newLatencies(n int) *latencies { return &latencies{ns: make([]int64, 0, n)} }

func (l *latencies) summary() latencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ns) == 0 {
		return latencySummary{}
	}
	slices.Sort(l.ns)
	return summarize(l.ns)
}

// summarize returns the quantiles of the sorted latencies ns (nearest
// rank: the smallest sample at or above the fraction p of them).
func summarize(ns []int64) latencySummary {
	if len(ns) == 0 {
		return latencySummary{}
	}
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ns)))) - 1
		return float64(ns[max(i, 0)]) / 1e6
	}
	return latencySummary{Count: int64(len(ns)), P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: float64(ns[len(ns)-1]) / 1e6}
}
