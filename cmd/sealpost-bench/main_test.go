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
