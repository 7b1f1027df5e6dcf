package wasmtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const samplePkg = "github.com/sealpost/sealpost/internal/wasmtest/testdata/sample"

// execSample runs the sample package with env and returns its exit code,
// the log and the error.
func execSample(t *testing.T, env map[string]string, timeout time.Duration) (int, string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a test binary for js/wasm and runs it in Chromium")
	}
	if findChromium() == "" {
		t.Skipf("no Chromium (set %s)", ChromiumEnv)
	}
	var (
		mu  sync.Mutex
		log strings.Builder
	)
	code, err := Exec(samplePkg, Options{Env: env, Timeout: timeout}, func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&log, format+"\n", args...)
	})
	mu.Lock()
	defer mu.Unlock()
	return code, log.String(), err
}

func TestExecPass(t *testing.T) {
	code, log, err := execSample(t, nil, 0)
	if err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v; log:\n%s", code, err, log)
	}
	for _, want := range []string{"hello from the browser", "--- PASS: TestSample"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestExecFail(t *testing.T) {
	code, log, err := execSample(t, map[string]string{"WASMTEST_FAIL": "1"}, 0)
	if err != nil || code == 0 {
		t.Fatalf("Exec of a failing test = %d, %v, want a non-zero exit code; log:\n%s", code, err, log)
	}
	if !strings.Contains(log, "failing as asked") || !strings.Contains(log, "--- FAIL: TestSample") {
		t.Errorf("log lacks the failure:\n%s", log)
	}
}

func TestExecTimeout(t *testing.T) {
	code, log, err := execSample(t, map[string]string{"WASMTEST_HANG": "1"}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Exec of a hanging test = %d, %v, want a timeout; log:\n%s", code, err, log)
	}
}
