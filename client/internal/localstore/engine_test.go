//go:build !js

package localstore

import (
	"flag"
	"os"
	"os/exec"
	"testing"
)

// TestMain runs the package's tests on the SQLite engine and then, in a
// child process of the same test binary, on the kv engine (the browser's,
// on its native log file): one conformance suite for both engines
// (spec/client-store.md §8).
func TestMain(m *testing.M) {
	code := m.Run()
	fuzzing := flag.Lookup("test.fuzz") != nil && flag.Lookup("test.fuzz").Value.String() != ""
	if code == 0 && os.Getenv(testEngineEnv) == "" && !fuzzing {
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), testEngineEnv+"=kv")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			os.Stderr.WriteString("localstore: the tests failed on the kv engine (" + testEngineEnv + "=kv)\n")
			code = 1
		}
	}
	os.Exit(code)
}

// kvEngine reports whether this run tests the kv engine.
func onKVEngine() bool { return os.Getenv(testEngineEnv) == "kv" }

// requireSQLite skips a test of the SQLite engine's files on the kv engine.
func requireSQLite(t *testing.T) {
	t.Helper()
	if onKVEngine() {
		t.Skip("tests the SQLite engine's state.db")
	}
}
