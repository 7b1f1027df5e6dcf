// Package testbin serves tests that run the module's commands as child
// processes (sealpostd, the sealpost CLI, test programs): it builds them
// once per test binary, and gives a buffer that a child's output can be
// written to while the test reads it.
package testbin

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{} // import path → binary
)

// Build builds the packages named by their import paths (each a main
// package) with the go command, once per test binary, and returns the
// binaries' paths in the same order. A failed build fails the test.
// TestMain calls Cleanup after m.Run.
func Build(t testing.TB, pkgs ...string) []string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	var missing []string
	for _, p := range pkgs {
		if built[p] == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		goTool, err := exec.LookPath("go")
		if err != nil {
			t.Fatal(err)
		}
		if dir == "" {
			if dir, err = os.MkdirTemp("", "sealpost-bin"); err != nil {
				t.Fatal(err)
			}
		}
		args := append([]string{"build", "-o", dir + string(filepath.Separator)}, missing...)
		if out, err := exec.Command(goTool, args...).CombinedOutput(); err != nil {
			t.Fatal(fmt.Errorf("go build %v: %v\n%s", missing, err, out))
		}
		for _, p := range missing {
			built[p] = filepath.Join(dir, path.Base(p))
		}
	}
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = built[p]
	}
	return out
}

// Cleanup removes what Build built.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// SyncBuffer is a bytes.Buffer safe for one goroutine writing (a child's
// output) while others read.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tool is a program of another module that tests run as a real outside
// part, built with `go install` at a pinned version into a cache directory
// and reused from there.
type Tool struct {
	// Name prefixes errors ("witnesstest").
	Name string
	// Env, if set in the environment, is the directory to use instead of
	// the cache.
	Env string
	// CacheName is the cache directory's name (torchwood-v0.6.1).
	CacheName string
	// Packages are what go install builds, each pkg@version; Binaries
	// the programs it must leave.
	Packages []string
	Binaries []string
}

// Dir returns the directory the tool's binaries are in: $Env if set, else
// <user cache dir>/sealpost/bin/<CacheName>.
func (t Tool) Dir() (string, error) {
	if d := os.Getenv(t.Env); t.Env != "" && d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%s: no cache directory: %w", t.Name, err)
	}
	return filepath.Join(cache, "sealpost", "bin", t.CacheName), nil
}

var installMu sync.Mutex

// Install builds the tool into Dir, unless its binaries are already
// there, and returns Dir. Concurrent test binaries may call it at once:
// each builds into a temporary directory of its own and the first to
// finish renames it into place.
func (t Tool) Install() (string, error) {
	installMu.Lock()
	defer installMu.Unlock()
	dir, err := t.Dir()
	if err != nil {
		return "", err
	}
	if t.installed(dir) {
		return dir, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%s: building %v needs the go command: %w", t.Name, t.Binaries, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", t.Name, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.Name, err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(goTool, append([]string{"install"}, t.Packages...)...)
	cmd.Dir = tmp // outside this module: pkg@version builds the tool's own module
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: go install %v: %v\n%s", t.Name, t.Packages, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !t.installed(dir) {
		return "", fmt.Errorf("%s: %w", t.Name, err)
	}
	return dir, nil
}

// Installed reports whether dir holds every binary of the tool.
func (t Tool) Installed(dir string) bool { return t.installed(dir) }

func (t Tool) installed(dir string) bool {
	for _, b := range t.Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// WaitReady polls ready for up to 30 s, failing the test early if the
// process whose output is out exits (exited closes); name prefixes the
// failure.
func WaitReady(t testing.TB, name, what string, exited <-chan struct{}, out *SyncBuffer, ready func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !ready() {
		select {
		case <-exited:
			t.Fatalf("%s: waiting for %s: the process exited:\n%s", name, what, out.String())
		case <-ctx.Done():
			t.Fatalf("%s: %s not ready after 30 s:\n%s", name, what, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
