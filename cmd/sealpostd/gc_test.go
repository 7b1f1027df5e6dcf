package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestApplyGC(t *testing.T) {
	orig := debug.SetGCPercent(123)
	defer debug.SetGCPercent(orig)
	log := slog.New(slog.DiscardHandler)

	cfg := DefaultConfig()
	cfg.applyGC(log) // 0: the runtime's setting stays
	if got := debug.SetGCPercent(123); got != 123 {
		t.Errorf("default config changed the GC percent to %d", got)
	}

	parsed, err := parseConfig("sealpostd", []string{"--gc-percent", "400"}, io.Discard)
	if err != nil || parsed.Validate() != nil {
		t.Fatalf("parse: %v", err)
	}
	parsed.applyGC(log)
	if got := debug.SetGCPercent(123); got != 400 {
		t.Errorf("--gc-percent 400: GC percent %d", got)
	}
}
