package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestFanout runs the fan-out mode small: every recipient is delivered
// every message, the warm-up messages are left out of the samples, and
// each measured message's SendResult is timed.
func TestFanout(t *testing.T) {
	const n, msgs, warmup = 20, 5, 2
	rep := runBench(t, "--self", "sqlite", "--fanout", "20", "--fanout-messages", "5", "--fanout-warmup", "2", "--fanout-interval", "20ms")
	f, ok := rep["fanout"].(map[string]any)
	if !ok {
		t.Fatalf("no fan-out report: %v", rep)
	}
	if f["recipients"] != float64(n) || f["delivered"] != float64(n*(msgs+warmup)) || f["missing"] != 0.0 {
		t.Errorf("fan-out report: %v", f)
	}
	if lat := f["latency_ms"].(map[string]any); lat["count"] != float64(n*msgs) || lat["p50"].(float64) <= 0 || lat["max"].(float64) < lat["p50"].(float64) {
		t.Errorf("latency: %v", lat)
	}
	if sr := f["send_result_ms"].(map[string]any); sr["count"] != float64(msgs) {
		t.Errorf("SendResult latency: %v", sr)
	}
	if p := f["per_message_p50_ms"].(map[string]any); p["min"].(float64) <= 0 || p["max"].(float64) < p["min"].(float64) {
		t.Errorf("per-message p50: %v", p)
	}
	if st := rep["statuses"].(map[string]any); st["stored"] != float64(n*(msgs+warmup)) {
		t.Errorf("statuses: %v", st)
	}
	if rep["not_delivered"] != 0.0 {
		t.Errorf("not delivered: %v", rep["not_delivered"])
	}
}

func TestFanoutFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--self", "sqlite", "--fanout", "2001"}, // over MaxSharedRecipients
		{"--self", "sqlite", "--fanout", "5", "--fanout-messages", "0"},
		{"--self", "sqlite", "--fanout", "5", "--fanout-interval", "0s"},
		{"--self", "sqlite", "--fanout", "5", "--idle", "3"},
	} {
		var stderr bytes.Buffer
		if code := run(args, os.Stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "--fanout") {
			t.Errorf("%q: no message about --fanout: %q", args, stderr.String())
		}
	}
}
