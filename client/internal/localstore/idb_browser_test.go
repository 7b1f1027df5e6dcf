//go:build !js

package localstore

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/wasmtest"
)

// TestIndexedDBInBrowser runs this package's js tests (kv_idb_js_test.go:
// the IndexedDB backend, Web Locks) in headless Chromium. It is skipped
// with -short, on the kv engine's run of the suite (the same tests again),
// and when there is no Chromium.
func TestIndexedDBInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package for js/wasm and runs it in Chromium")
	}
	if onKVEngine() {
		t.Skip("runs once, on the SQLite engine's run")
	}
	const pkg = "github.com/sealpost/sealpost/client/internal/localstore"
	t.Run("all", func(t *testing.T) {
		wasmtest.Run(t, pkg, wasmtest.Options{Timeout: 5 * time.Minute})
	})
	// TestIDBQuota under a 4 MiB quota, which its 12 MiB Update exceeds.
	t.Run("quota", func(t *testing.T) {
		wasmtest.Run(t, pkg, wasmtest.Options{
			Args:       []string{"-test.run=^TestIDBQuota$"},
			Env:        map[string]string{"SEALPOST_TEST_IDB_QUOTA": "1"},
			QuotaBytes: 4 << 20,
			Timeout:    5 * time.Minute,
		})
	})
}
