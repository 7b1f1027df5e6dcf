package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testbin"
	"github.com/sealpost/sealpost/tlsconfig"
)

// The tests build sealpostd and the receiver once per test binary (go
// build into a temporary directory) and run them as child processes.

const (
	sealpostdPkg = "github.com/sealpost/sealpost/cmd/sealpostd"
	receiverPkg  = "github.com/sealpost/sealpost/client/e2e/receiver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// binaries builds sealpostd and the receiver (once) and returns their
// paths.
func binaries(t *testing.T) (sealpostd, receiver string) {
	bins := testbin.Build(t, sealpostdPkg, receiverPkg)
	return bins[0], bins[1]
}

// daemonArgs are the flags every test's sealpostd gets on top of
// --data-dir and --listen: debug logs (the most the servers ever log, for
// the scans), and relay limits that let a test send flat out.
var daemonArgs = []string{
	"--log-level", "debug",
	"--relay-rate", "100000", "--relay-burst", "100000",
}

// daemon is one sealpostd process.
type daemon struct {
	cmd    *exec.Cmd
	addr   string // 127.0.0.1:PORT
	fp     string // the certificate's SHA-256 fingerprint, as printed
	logKey string // the transparency log verifier key, as printed
	stdout string // files capturing its output (its logs are on stderr)
	stderr string
	exited chan struct{}
}

// url is the key server's URL (the relay is on the same listener).
func (d *daemon) url() string { return "https://" + d.addr }

const (
	listeningPrefix   = "sealpostd: key server listening on https://"
	fingerprintPrefix = "sealpostd: TLS certificate SHA-256 fingerprint: "
	logKeyPrefix      = "sealpostd: transparency log verifier key: "
)

// daemonSetup says how to run sealpostd: its data directory, a fixed
// listen address (so that a restart keeps the clients' URL), the
// directory for its captured output, and extra flags.
type daemonSetup struct {
	dataDir string
	listen  string
	logDir  string
	args    []string
}

func newSetup(t *testing.T, args ...string) *daemonSetup {
	dir := t.TempDir()
	return &daemonSetup{
		dataDir: filepath.Join(dir, "data"),
		listen:  freeAddr(t),
		logDir:  filepath.Join(dir, "logs"),
		args:    args,
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, below the ephemeral ranges (Linux 32768–60999, BSDs 49152–65535)
// so that no outgoing connection takes it while sealpostd is down for a
// restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			ln.Close()
			return ln.Addr().String()
		}
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// start runs sealpostd, waits for its address and fingerprint lines and
// for /healthz to answer over TLS pinned to the fingerprint. Its stdout
// and stderr are appended to files in the setup's log directory (one pair
// for all runs), so a restart keeps the earlier runs' logs.
func (s *daemonSetup) start(t *testing.T) *daemon {
	t.Helper()
	sealpostd, _ := binaries(t)
	if err := os.MkdirAll(s.logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &daemon{
		stdout: filepath.Join(s.logDir, "sealpostd.stdout"),
		stderr: filepath.Join(s.logDir, "sealpostd.stderr"),
		exited: make(chan struct{}),
	}
	outFile, err := os.OpenFile(d.stdout, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	errFile, err := os.OpenFile(d.stderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--data-dir", s.dataDir, "--listen", s.listen}, daemonArgs...)
	d.cmd = exec.Command(sealpostd, append(args, s.args...)...)
	d.cmd.Stderr = errFile
	pipe, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errFile.Close() // the child has its own descriptor
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			fmt.Fprintln(outFile, sc.Text())
			lines <- sc.Text()
		}
		close(lines)
		d.cmd.Wait()
		outFile.Close()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.kill(t)
		if t.Failed() {
			t.Logf("sealpostd stderr (tail):\n%s", tail(d.stderr, 40))
		}
	})
	timeout := time.After(30 * time.Second)
	for d.addr == "" || d.fp == "" || d.logKey == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("sealpostd exited before it was ready:\n%s", tail(d.stderr, 40))
			}
			if a, ok := strings.CutPrefix(line, listeningPrefix); ok {
				d.addr = a
			}
			if k, ok := strings.CutPrefix(line, logKeyPrefix); ok {
				d.logKey = k
			}
			if f, ok := strings.CutPrefix(line, fingerprintPrefix); ok {
				if _, err := tlsconfig.ParseFingerprint(f); err != nil {
					t.Fatalf("fingerprint line %q: %v", line, err)
				}
				d.fp = f
			}
		case <-timeout:
			t.Fatalf("sealpostd not ready after 30s:\n%s", tail(d.stderr, 40))
		}
	}
	go func() {
		for range lines {
		}
	}()
	if d.addr != s.listen {
		t.Fatalf("sealpostd listens on %s, want %s", d.addr, s.listen)
	}
	d.waitHealthy(t)
	return d
}

// waitHealthy polls /healthz over pinned TLS until it answers 200.
func (d *daemon) waitHealthy(t *testing.T) {
	t.Helper()
	fp, err := tlsconfig.ParseFingerprint(d.fp)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsconfig.ClientConfig(fp)},
	}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get(d.url() + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("sealpostd /healthz: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (if the process still runs) and waits for it.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	select {
	case <-d.exited:
		return
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill sealpostd: %v", err)
	}
	<-d.exited
}

// stop sends SIGTERM and checks sealpostd exits with status 0.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("sealpostd still running 20s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("sealpostd exited with status %d after SIGTERM:\n%s", code, tail(d.stderr, 40))
	}
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// withTimeout is a context for one step of a test.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
