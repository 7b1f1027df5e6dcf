package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
)

// TestMain lets the test binary be --herd's relay child (child.go): the
// tool starts its own executable for it.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(relayChild(spec, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runBench runs the tool with args and returns its JSON report.
func runBench(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append(args, "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	return rep
}

func TestSelfSQLite(t *testing.T) {
	settle = 100 * time.Millisecond
	rep := runBench(t, "--self", "sqlite", "--devices", "4", "--envelopes", "300", "--batch", "3", "--idle", "5")
	if rep["stored"] != 300.0 || rep["delivered_acked"] != 300.0 || rep["not_delivered"] != 0.0 {
		t.Errorf("report: %v", rep)
	}
	if lat := rep["latency_ms"].(map[string]any); lat["count"] != 300.0 || lat["p50"].(float64) <= 0 {
		t.Errorf("latency: %v", lat)
	}
	if idle, ok := rep["idle"].(map[string]any); !ok || idle["connections"] != 5.0 {
		t.Errorf("idle: %v", rep["idle"])
	}
	if errs := rep["errors"].(map[string]any); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
}

func TestSelfPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	rep := runBench(t, "--self", "postgres", "--postgres", dsn, "--devices", "3", "--envelopes", "100", "--rate", "500")
	if rep["stored"] != 100.0 || rep["delivered_acked"] != 100.0 {
		t.Errorf("report: %v", rep)
	}
}

func TestFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{},                                  // no --token-key, no --pin
		{"--self", "mysql"},                 // unknown store
		{"--self", "postgres"},              // no DSN
		{"--self", "sqlite", "--size", "8"}, // below the header
		{"--self", "sqlite", "--batch", "0"},
		{"--herd", "5", "--token-key", "k", "--pin", "p"}, // --herd restarts its own relay
		{"--self", "sqlite", "--herd", "5", "--restarts", "0"},
		{"--anonymous", "--token-key", "k", "--pin", "p"}, // needs its own relay and key server
		{"--self", "sqlite", "--compare-anonymous", "--ephemeral"},
		{"--push", "5", "--token-key", "k", "--pin", "p"}, // needs its own relay and push service
		{"--self", "sqlite", "--push", "5", "--shared", "--batch", "1"},
		{"--self", "sqlite", "--push", "5", "--batch", "1000"}, // no room for the offline item
		{"--self", "sqlite", "--push", "5", "--push-hang", "1.5"},
		{"--self", "sqlite", "--push", "5", "--push-interval", "1ms"},
		{"--self", "sqlite", "--senders", "4"},                     // --receivers missing
		{"--self", "sqlite", "--senders", "0", "--receivers", "4"}, // no sender
		{"--self", "sqlite", "--senders", "2", "--receivers", "2", "--shared"},
		{"--relay-child", "--token-key", "k", "--pin", "p"},           // needs --self
		{"--self", "sqlite", "--relay-child", "--idle", "5"},          // --idle measures an in-process relay
		{"--self", "sqlite", "--server-pid", "1"},                     // the relay is the tool's own
		{"--mqtt-tls", "--self", "sqlite"},                            // --mqtt-tls without --mqtt
		{"--mqtt", "127.0.0.1", "--senders", "1", "--receivers", "1"}, // no port
		{"--mqtt", "127.0.0.1:1883"},                                  // no --senders, --receivers
		{"--mqtt", "127.0.0.1:1883", "--senders", "1", "--receivers", "1", "--self", "sqlite"},
		{"--mqtt", "127.0.0.1:1883", "--senders", "1", "--receivers", "1", "--batch", "2"},
		{"--mqtt", "127.0.0.1:1883", "--senders", "1", "--receivers", "1", "--mqtt-tls"},          // trusting nothing
		{"--mqtt", "127.0.0.1:1883", "--senders", "1", "--receivers", "1", "--pin", "p"},          // --pin without TLS
		{"--mqtt", "127.0.0.1:1883", "--senders", "1", "--receivers", "1", "--inflight", "70000"}, // past the packet ids
	} {
		var stderr bytes.Buffer
		if code := run(args, os.Stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "sealpost-bench:") {
			t.Errorf("%q: no message: %q", args, stderr.String())
		}
	}
}

// TestHerd runs the reconnect mode small: every connection comes back
// after a graceful restart and after a crash of the relay, and the report
// has their distribution.
func TestHerd(t *testing.T) {
	for _, mode := range []string{"restart", "drop"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"--self", "sqlite", "--herd", "20", "--restarts", "2", "--down", "300ms"}
			if mode == "drop" {
				args = append(args, "--drop")
			}
			rep := runBench(t, args...)
			h, ok := rep["herd"].(map[string]any)
			if !ok || h["connections"] != 20.0 || h["mode"] != mode {
				t.Fatalf("herd: %v", rep["herd"])
			}
			rounds := h["restarts"].([]any)
			if len(rounds) != 2 {
				t.Fatalf("restarts: %v", rounds)
			}
			for _, r := range rounds {
				r := r.(map[string]any)
				if r["reconnected"] != 20.0 || r["not_back"] != 0.0 || r["p50_seconds"].(float64) > r["max_seconds"].(float64) {
					t.Errorf("restart: %v", r)
				}
			}
		})
	}
}

// --ephemeral: every item arrives (nothing drops them at this rate), and
// the relay child's CPU is measured (about 40 ms of it).
func TestSelfEphemeral(t *testing.T) {
	rep := runBench(t, "--self", "sqlite", "--ephemeral", "--devices", "4", "--envelopes", "1000", "--rate", "5000", "--size", "512")
	e, ok := rep["ephemeral"].(map[string]any)
	if !ok {
		t.Fatalf("report: %v", rep)
	}
	if e["sent"] != 1000.0 || e["received"] != 1000.0 || e["dropped"] != 0.0 {
		t.Errorf("ephemeral: %v", e)
	}
	if e["relay_cpu_measured"] != true || e["relay_cpu_us_per_item"].(float64) <= 0 {
		t.Errorf("relay CPU: %v", e)
	}
	// Nothing written: the SQLite store committed no write transaction
	// while the items went through (spec/relay.md §7.4).
	if e["store_commits_measured"] != true || e["store_commits"] != 0.0 {
		t.Errorf("store writes: %v", e)
	}
	if errs := rep["errors"].(map[string]any); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
}

// --compare-anonymous: the authenticated run and the anonymous one (one
// send token per Send, issued by the child's key server) both deliver
// everything, every token is spent once (nothing answered duplicate), and
// both rows have the relay's CPU.
func TestSelfCompareAnonymous(t *testing.T) {
	rep := runBench(t, "--self", "sqlite", "--compare-anonymous", "--devices", "3", "--envelopes", "150", "--batch", "3")
	auth, ok := rep["authenticated"].(map[string]any)
	if !ok {
		t.Fatalf("no authenticated row: %v", rep)
	}
	for name, r := range map[string]map[string]any{"authenticated": auth, "anonymous": rep} {
		if r["stored"] != 150.0 || r["delivered_acked"] != 150.0 || r["not_delivered"] != 0.0 {
			t.Errorf("%s: %v", name, r)
		}
		if errs := r["errors"].(map[string]any); len(errs) != 0 {
			t.Errorf("%s: errors %v", name, errs)
		}
		if st := r["statuses"].(map[string]any); len(st) != 1 || st["stored"] != 150.0 {
			t.Errorf("%s: statuses %v", name, st)
		}
	}
	if rep["anonymous"] != true || rep["send_tokens"] != 50.0 || auth["anonymous"] != nil {
		t.Errorf("anonymous %v, tokens %v; authenticated row anonymous %v", rep["anonymous"], rep["send_tokens"], auth["anonymous"])
	}
}

// --push: every Send stores one more envelope, for an offline device; with
// registrations the push service gets wake-ups (fewer than the envelopes:
// coalesced), without (the control) none, and with a push service that
// never answers the load still stores and delivers everything.
func TestSelfPush(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"registered", nil},
		{"control", []string{"--push-register=false"}},
		{"hanging", []string{"--push-hang", "1"}},
		{"postgres", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, rate := []string{"--self", "sqlite"}, "800"
			if tc.name == "postgres" {
				// A store nodes may share: the relay waits
				// relay.DefaultWakeSharedWait (2 s) before a wake-up, so
				// the load lasts longer.
				store, rate = []string{"--self", "postgres", "--postgres", pgtest.DSN(t)}, "100"
			}
			args := append(store, "--devices", "3", "--envelopes", "400", "--batch", "2", "--rate", rate,
				"--push", "20", "--push-interval", "100ms")
			args = append(args, tc.args...)
			rep := runBench(t, args...)
			if rep["stored"] != 400.0 || rep["delivered_acked"] != 400.0 || rep["not_delivered"] != 0.0 {
				t.Errorf("report: %v", rep)
			}
			if st := rep["statuses"].(map[string]any); len(st) != 1 || st["stored"] != 400.0 {
				t.Errorf("statuses %v", st)
			}
			if errs := rep["errors"].(map[string]any); len(errs) != 0 {
				t.Errorf("errors: %v", errs)
			}
			p, ok := rep["push"].(map[string]any)
			if !ok {
				t.Fatalf("no push report: %v", rep)
			}
			if p["offline_devices"] != 20.0 || p["offline_stored"] != 200.0 || p["offline_not_stored"] != 0.0 || p["bad_requests"] != 0.0 {
				t.Errorf("push: %v", p)
			}
			wakes := p["wakeups"].(float64)
			switch tc.name {
			case "registered", "postgres":
				if wakes < 1 || wakes >= 200 || p["devices_woken"].(float64) < 1 {
					t.Errorf("wake-ups %v, devices %v: want at least 1, fewer than the 200 envelopes", wakes, p["devices_woken"])
				}
				// The push service counts a wake-up before it answers,
				// the relay once answered: some may be in between.
				if rw, _ := p["relay_wakeups"].(map[string]any); rw["delivered"] == nil || rw["delivered"].(float64) < 1 || rw["delivered"].(float64) > wakes {
					t.Errorf("relay counted %v, the push service got %v", rw, wakes)
				}
			case "control":
				if wakes != 0 || p["registered"] != false {
					t.Errorf("control: %v", p)
				}
			case "hanging":
				if wakes != 0 || p["wakeups_hung"].(float64) < 1 {
					t.Errorf("hanging: %v", p)
				}
			}
		})
	}
}

// --senders and --receivers with the relay as a child process: senders
// only send, receivers only receive (each gets a share of the envelopes),
// and the relay's CPU is reported apart from the tool's.
func TestSelfSendersReceiversChild(t *testing.T) {
	rep := runBench(t, "--self", "sqlite", "--relay-child", "--senders", "3", "--receivers", "2", "--envelopes", "600")
	if rep["stored"] != 600.0 || rep["delivered_acked"] != 600.0 || rep["senders"] != 3.0 || rep["receivers"] != 2.0 {
		t.Errorf("report: %v", rep)
	}
	if lat := rep["latency_ms"].(map[string]any); lat["count"] != 600.0 || lat["p99_9"].(float64) < lat["p99"].(float64) || lat["max"].(float64) < lat["p99_9"].(float64) {
		t.Errorf("latency: %v", lat)
	}
	if rep["relay_cpu_us_per_envelope"] == nil || rep["tool_cpu_us_per_envelope"] == nil {
		t.Errorf("relay or tool CPU not reported: %v", rep)
	}
}

// The quantiles are nearest-rank: of 1..1000 ms, p50 is 500, p99.9 999.
func TestLatencySummary(t *testing.T) {
	l := newLatencies(1000)
	for i := 1000; i >= 1; i-- {
		l.ns = append(l.ns, int64(i)*1e6)
	}
	s := l.summary()
	if s != (latencySummary{Count: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}) {
		t.Errorf("summary: %+v", s)
	}
	if one := summarize([]int64{3e6}); one.P50 != 3 || one.P999 != 3 || one.Max != 3 {
		t.Errorf("one sample: %+v", one)
	}
	if (summarize(nil) != latencySummary{}) {
		t.Error("no samples: not zero")
	}
}

// The text report of a load with senders and receivers, and of --mqtt,
// has the quantiles, the server's CPU and the tool's.
func TestReportText(t *testing.T) {
	base := func() *report {
		return &report{Envelopes: 100, Size: 1024, Batch: 1, InFlight: 8, Senders: 4, Receivers: 4,
			Stored: 100, Acked: 100, Latency: latencySummary{Count: 100, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5},
			RelayCPUSeconds: 0.01, RelayCPUPerEnvelope: 100, RelaySysPerEnvelope: 40, ToolCPUSeconds: 0.003, ToolCPUPerEnvelope: 30}
	}
	for _, tc := range []struct {
		rep  *report
		want []string
	}{
		{base(), []string{"senders 4, receivers 4,", "p99 3.00  p99.9 4.00  max 5.00", "relay CPU", "100.0 µs per envelope", "tool CPU", "30.0 µs"}},
		{func() *report { r := base(); r.MQTT, r.MQTTTLS = "127.0.0.1:1", true; return r }(),
			[]string{"MQTT broker 127.0.0.1:1 (TLS 1.3), 4 publishers, 4 subscribers", "p99.9 4.00", "server CPU", "tool CPU"}},
	} {
		var b bytes.Buffer
		tc.rep.print(&b)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("no %q in:\n%s", w, b.String())
			}
		}
	}
}
