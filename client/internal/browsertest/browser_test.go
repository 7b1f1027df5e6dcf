//go:build !js

// Package browsertest runs the client's browser build (GOOS=js) in headless
// Chromium: Open and Close on IndexedDB, the settings the browser refuses,
// and file transfer's documented refusal (browser_js_test.go).
package browsertest

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/wasmtest"
)

func TestClientInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the client for js/wasm and runs it in Chromium")
	}
	wasmtest.Run(t, "github.com/sealpost/sealpost/client/internal/browsertest", wasmtest.Options{Timeout: 5 * time.Minute})
}
