package e2e_test

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	if webDist.dir != "" {
		os.RemoveAll(webDist.dir)
	}
	os.Exit(code)
}

// webDist is the web client, built once per test binary.
var webDist struct {
	once     sync.Once
	dir      string
	output   string // what sealpost-webbuild printed
	wasmName string // the module's file name
	// The module's sizes in bytes as sealpost-webbuild printed them:
	// raw, gzipped and in brotli.
	wasmRaw, wasmGzip, wasmBrotli int
	err                           error
}

// buildWeb builds the web client (without its size limit: TestWasmSize
// checks that on its own) and returns its directory.
func buildWeb(t *testing.T) string {
	t.Helper()
	bins := testbin.Build(t, "github.com/sealpost/sealpost/cmd/sealpost-webbuild")
	webDist.once.Do(func() {
		dir, err := os.MkdirTemp("", "sealpost-web")
		if err != nil {
			webDist.err = err
			return
		}
		webDist.dir = dir
		cmd := exec.Command(bins[0], "-o", dir, "-max-wasm", "-1")
		out, err := cmd.CombinedOutput()
		webDist.output = string(out)
		if err != nil {
			webDist.err = fmt.Errorf("sealpost-webbuild: %v\n%s", err, out)
			return
		}
		m := regexp.MustCompile(`(?m)^(sealpost\.[0-9a-f]{16}\.wasm)\s+(\d+)\s+(\d+)\s+(\d+)$`).FindStringSubmatch(webDist.output)
		if m == nil {
			webDist.err = fmt.Errorf("sealpost-webbuild printed no module size:\n%s", out)
			return
		}
		webDist.wasmName = m[1]
		webDist.wasmRaw, _ = strconv.Atoi(m[2])
		webDist.wasmGzip, _ = strconv.Atoi(m[3])
		webDist.wasmBrotli, _ = strconv.Atoi(m[4])
	})
	if webDist.err != nil {
		t.Fatal(webDist.err)
	}
	return webDist.dir
}

// server is a sealpostd serving the web client.
type server struct {
	url     string // https://127.0.0.1:PORT
	addr    string
	pin     string
	logKey  string
	spki    string // base64 SHA-256 of the certificate's public key, for Chromium
	dataDir string
	stderr  *testbin.SyncBuffer
	stop    func() // kills the running sealpostd and waits until it exited
}

// startServer runs sealpostd (SQLite, a fresh data directory) with the
// web client.
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{dataDir: filepath.Join(t.TempDir(), "data"), stderr: new(testbin.SyncBuffer)}
	s.start(t, "127.0.0.1:0")
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("sealpostd stderr:\n%s", s.stderr.String())
		}
	})
	pemBytes, err := os.ReadFile(filepath.Join(s.dataDir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatal("tls-cert.pem: no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	s.spki = base64.StdEncoding.EncodeToString(sum[:])
	return s
}

// restart stops sealpostd and runs it again on the same data directory
// and address (so the same keys and mailboxes, and the same certificate
// unless args say otherwise), with args added to its command line.
func (s *server) restart(t *testing.T, args ...string) {
	t.Helper()
	s.stop()
	url := s.url
	s.url, s.pin, s.logKey = "", "", ""
	s.start(t, s.addr, args...)
	if s.url != url {
		t.Fatalf("sealpostd restarted at %s, not %s", s.url, url)
	}
}

// start runs sealpostd on s.dataDir, listening on listen, with args
// added, and waits until it is ready.
func (s *server) start(t *testing.T, listen string, args ...string) {
	t.Helper()
	dist := buildWeb(t)
	bin := testbin.Build(t, "github.com/sealpost/sealpost/cmd/sealpostd")[0]
	cmd := exec.Command(bin, append([]string{"--data-dir", s.dataDir, "--listen", listen, "--log-level", "warn", "--web", dist}, args...)...)
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-exited
		})
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		cmd.Wait()
		close(exited)
	}()
	timeout := time.After(30 * time.Second)
	web := false
	for s.url == "" || s.pin == "" || s.logKey == "" || !web {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("sealpostd exited before it was ready:\n%s", s.stderr.String())
			}
			if a, ok := strings.CutPrefix(line, "sealpostd: key server listening on "); ok {
				s.url = a
				s.addr = strings.TrimPrefix(a, "https://")
			}
			if k, ok := strings.CutPrefix(line, "sealpostd: transparency log verifier key: "); ok {
				s.logKey = k
			}
			if f, ok := strings.CutPrefix(line, "sealpostd: TLS certificate SHA-256 fingerprint: "); ok {
				s.pin = f
			}
			web = web || strings.HasPrefix(line, "sealpostd: web client at ")
		case <-timeout:
			t.Fatalf("sealpostd not ready after 30s:\n%s", s.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
}

// cli is one device of the sealpost command.
type cli struct {
	t   *testing.T
	srv *server
	bin string
	dir string
	env []string
}

func newCLI(t *testing.T, srv *server, name string) *cli {
	t.Helper()
	root := t.TempDir()
	return &cli{
		t: t, srv: srv, bin: testbin.Build(t, "github.com/sealpost/sealpost/cmd/sealpost")[0], dir: filepath.Join(root, name),
		env: append(os.Environ(), "SEALPOST_TEST_WORKFACTOR=10", "HOME="+root, "SEALPOST_PASSPHRASE=passphrase of "+name, "SEALPOST_DIR="),
	}
}

// run runs the command and fails the test if it fails.
func (c *cli) run(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.bin, append([]string{"--dir", c.dir}, args...)...)
	cmd.Env = c.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("sealpost %v: %v\nstdout: %s\nstderr: %s", args, err, out, stderr.String())
	}
	return string(out)
}

// try runs the command and returns its output and error.
func (c *cli) try(args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append([]string{"--dir", c.dir}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cli) init(handle string) {
	c.t.Helper()
	c.run("init", "--server", c.srv.url, "--pin", c.srv.pin, "--log-key", c.srv.logKey, handle)
}
