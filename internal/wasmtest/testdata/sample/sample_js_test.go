//go:build js

// Package sample is the test binary wasmtest's own tests run in Chromium:
// it passes, fails or hangs as its environment asks.
package sample

import (
	"os"
	"testing"
	"time"
)

func TestSample(t *testing.T) {
	t.Log("hello from the browser")
	if os.Getenv("WASMTEST_FAIL") != "" {
		t.Fatal("failing as asked")
	}
	if os.Getenv("WASMTEST_HANG") != "" {
		time.Sleep(time.Hour)
	}
}
