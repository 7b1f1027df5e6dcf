// Package testbin serves tests that run the module's commands as child
// processes (sealpostd, the sealpost CLI, test programs): it builds them
// once per test binary, and gives a buffer that a child's output can be
// written to while the test reads it.
package testbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
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
