package wasmtest

import (
	"fmt"
	"os"
	"os/exec"
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
	needChromium(t)
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

// TestNoChromium: without a Chromium, Run fails the test when
// SEALPOST_REQUIRE_CHROMIUM=1 and skips it otherwise (run in a child
// process of this test binary, which runs TestNoChromiumChild).
func TestNoChromium(t *testing.T) {
	for _, tc := range []struct {
		require string
		want    string
	}{
		{"1", "--- FAIL: TestNoChromiumChild"},
		{"", "--- SKIP: TestNoChromiumChild"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoChromiumChild$", "-test.v")
		cmd.Env = append(os.Environ(), "WASMTEST_CHILD=1", ChromiumEnv+"=/nonexistent/chromium", RequireChromiumEnv+"="+tc.require)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s=%q: output lacks %q:\n%s", RequireChromiumEnv, tc.require, tc.want, out)
		}
	}
}

// TestNoChromiumChild runs Run without a Chromium, in TestNoChromium's
// child process only.
func TestNoChromiumChild(t *testing.T) {
	if os.Getenv("WASMTEST_CHILD") != "1" {
		t.Skip("run by TestNoChromium")
	}
	Run(t, samplePkg, Options{})
	t.Error("Run returned without a Chromium")
}
