// Package wasmtest runs a package's tests in a real browser: it builds the
// package's test binary for js/wasm (GOOS=js GOARCH=wasm go test -c), serves
// it on 127.0.0.1 with Go's wasm_exec.js (read from GOROOT at run time) and
// a small page, runs it in headless Chromium driven by chromedp, copies the
// test binary's output (the browser console) into the Go test log, and
// fails the calling test when the wasm tests fail or time out.
//
// A native test calls it in one line:
//
//	func TestInBrowser(t *testing.T) {
//		wasmtest.Run(t, "github.com/sealpost/sealpost/client/internal/localstore", wasmtest.Options{})
//	}
//
// Chromium is found at $SEALPOST_CHROMIUM, else /usr/bin/chromium,
// chromium or chromium-browser on $PATH. Without one the test fails if
// $SEALPOST_REQUIRE_CHROMIUM is 1 (as in CI, where a skip would hide that
// nothing ran), and is skipped otherwise.
// Every run gets a fresh profile directory, so IndexedDB starts empty.
package wasmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// ChromiumEnv names the environment variable that overrides the Chromium
// binary.
const ChromiumEnv = "SEALPOST_CHROMIUM"

// RequireChromiumEnv names the environment variable that, set to 1, makes
// Run fail rather than skip when there is no Chromium.
const RequireChromiumEnv = "SEALPOST_REQUIRE_CHROMIUM"

// DefaultTimeout bounds a run (building, loading and testing) when
// Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// Options adjust a run.
type Options struct {
	// Args are passed to the test binary after -test.v (for example
	// "-test.run=TestIndexedDB").
	Args []string
	// Timeout bounds the whole run; 0 means DefaultTimeout.
	Timeout time.Duration
	// Env is the test binary's environment (os.Getenv in the browser).
	Env map[string]string
	// QuotaBytes, if not 0, sets the page's storage quota (IndexedDB and
	// the rest) to that many bytes, through the DevTools protocol
	// (Storage.overrideQuotaForOrigin), so that tests can fill it.
	QuotaBytes float64
}

// page loads wasm_exec.js and runs the test binary with argv; the exit
// code lands in window.wasmtestExit (a failure to load, as -1).
const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>wasmtest</title></head><body>
<script src="/wasm_exec.js"></script>
<script>
(async () => {
	try {
		const go = new Go();
		go.argv = ["test.wasm"].concat(%s);
		go.env = %s;
		go.exit = (code) => { window.wasmtestExit = code; };
		const r = await WebAssembly.instantiateStreaming(fetch("/test.wasm"), go.importObject);
		await go.run(r.instance);
		if (window.wasmtestExit === undefined) window.wasmtestExit = 0;
	} catch (e) {
		console.error("wasmtest: " + e);
		window.wasmtestExit = -1;
	}
})();
</script></body></html>
`

// Run builds pkg's tests for js/wasm and runs them in headless Chromium;
// see the package comment.
func Run(t *testing.T, pkg string, opts Options) {
	t.Helper()
	needChromium(t)
	code, err := Exec(pkg, opts, t.Logf)
	switch {
	case err != nil:
		t.Fatalf("wasmtest: %s in Chromium: %v", pkg, err)
	case code != 0:
		t.Fatalf("wasmtest: %s failed in Chromium (exit code %d)", pkg, code)
	}
}

// Exec builds pkg's tests for js/wasm, runs them in headless Chromium and
// returns the test binary's exit code (0: the tests passed). Each line the
// binary writes to the console goes to logf as it comes, until Exec
// returns. The error reports a build failure, a missing Chromium, a page
// that did not load, or the timeout.
func Exec(pkg string, opts Options, logf func(format string, args ...any)) (int, error) {
	chromium := findChromium()
	if chromium == "" {
		return 0, fmt.Errorf("no Chromium (set %s)", ChromiumEnv)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "wasmtest-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	wasm := filepath.Join(dir, "test.wasm")
	if err := build(ctx, pkg, wasm); err != nil {
		return 0, err
	}
	wasmExec, err := wasmExecJS(ctx)
	if err != nil {
		return 0, err
	}
	url, stop, err := serve(wasm, wasmExec, append([]string{"-test.v"}, opts.Args...), opts.Env)
	if err != nil {
		return 0, err
	}
	defer stop()

	// The console listener may still fire while the browser stops; it
	// logs only until Exec returns.
	var mu sync.Mutex
	done := false
	defer func() {
		mu.Lock()
		done = true
		mu.Unlock()
	}()
	log := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			logf(format, args...)
		}
	}
	return runChromium(ctx, log, chromium, filepath.Join(dir, "profile"), url, opts.QuotaBytes)
}

// needChromium fails t if there is no Chromium and $SEALPOST_REQUIRE_CHROMIUM
// is 1, and skips it if there is none otherwise.
func needChromium(t testing.TB) {
	t.Helper()
	if findChromium() != "" {
		return
	}
	if os.Getenv(RequireChromiumEnv) == "1" {
		t.Fatalf("wasmtest: no Chromium (set %s), and %s=1 requires one", ChromiumEnv, RequireChromiumEnv)
	}
	t.Skipf("wasmtest: no Chromium (set %s; %s=1 makes this a failure)", ChromiumEnv, RequireChromiumEnv)
}

// findChromium returns the Chromium binary, or "" if there is none
// ($SEALPOST_CHROMIUM naming no file is none).
func findChromium() string {
	if p := os.Getenv(ChromiumEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// build compiles pkg's test binary for js/wasm to out.
func build(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s for js/wasm: %v\n%s", pkg, err, stderr.Bytes())
	}
	return nil
}

// wasmExecJS returns the path of the Go toolchain's wasm_exec.js.
func wasmExecJS(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(out))
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			return filepath.Join(root, p), nil
		}
	}
	return "", fmt.Errorf("no wasm_exec.js under %s", root)
}

// serve serves the page, wasm_exec.js and the test binary on 127.0.0.1 (a
// secure context: IndexedDB and Web Locks work there) and returns the
// page's URL and a function that stops the server.
func serve(wasm, wasmExec string, argv []string, env map[string]string) (string, func(), error) {
	if env == nil {
		env = map[string]string{}
	}
	argvJSON, err := json.Marshal(argv)
	if err != nil {
		return "", nil, err
	}
	envJSON, err := json.Marshal(env)
	if err != nil {
		return "", nil, err
	}
	html := fmt.Sprintf(page, argvJSON, envJSON)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(html))
	})
	mux.HandleFunc("GET /wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, wasmExec)
	})
	mux.HandleFunc("GET /test.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasm)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
}

// runChromium loads url in headless Chromium with a fresh profile,
// copies the console to logf as it comes, and returns the test binary's
// exit code.
func runChromium(ctx context.Context, logf func(string, ...any), chromium, profile, url string, quota float64) (int, error) {
	opts := append([]chromedp.ExecAllocatorOption{},
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// The listener runs on chromedp's event goroutine and must not block;
	// logf does not.
	listen := func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, consoleText(a))
			}
			logf("%s", strings.TrimRight(strings.Join(parts, " "), "\n"))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil && d.Exception.Description != "" {
				logf("uncaught exception: %s", d.Exception.Description)
			} else {
				logf("uncaught exception: %s", d.Text)
			}
		}
	}
	if err := chromedp.Listen(bctx, listen); err != nil {
		return 0, fmt.Errorf("start Chromium: %w", err)
	}
	setQuota := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if quota == 0 {
			return chromedp.Void{}, nil
		}
		origin := strings.TrimSuffix(url, "/")
		_, err := cdp.Call(ctx, tg, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: origin, QuotaSize: &quota})
		return chromedp.Void{}, err
	}
	deadline, _ := ctx.Deadline()
	err := chromedp.Do(bctx,
		setQuota,
		chromedp.Navigate(url),
		chromedp.Poll[chromedp.Void](`window.wasmtestExit !== undefined`,
			chromedp.WithPollingInterval(200*time.Millisecond),
			chromedp.WithPollingTimeout(time.Until(deadline))),
	)
	if err == nil {
		var code int
		code, err = chromedp.Run(bctx, chromedp.Evaluate[int](`window.wasmtestExit`))
		if err == nil {
			return code, nil
		}
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("timed out: %w", err)
	}
	return 0, err
}

// consoleText is one console argument as text: a string's value, else
// its description or JSON.
func consoleText(a *runtime.RemoteObject) string {
	switch {
	case a.Type == runtime.RemoteObjectTypeString:
		var s string
		if err := json.Unmarshal([]byte(a.Value), &s); err == nil {
			return s
		}
	case a.Description != "":
		return a.Description
	}
	return string(a.Value)
}
