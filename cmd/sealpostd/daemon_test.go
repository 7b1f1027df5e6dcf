package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/keyfile"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/internal/testbin"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/tlsconfig"
)

// These tests build the real sealpostd binary and run it as a child
// process.

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// binary returns the path of a freshly built sealpostd.
func binary(t *testing.T) string {
	return testbin.Build(t, "github.com/sealpost/sealpost/cmd/sealpostd")[0]
}

type daemon struct {
	cmd    *exec.Cmd
	stderr *testbin.SyncBuffer
	addr   string
	fp     tlsconfig.Fingerprint
	// admin is the admin listener's http://host:port, if sealpostd
	// printed one.
	admin  string
	exited chan struct{}
}

const (
	listeningPrefix   = "sealpostd: key server listening on https://"
	fingerprintPrefix = "sealpostd: TLS certificate SHA-256 fingerprint: "
	adminPrefix       = "sealpostd: admin listening on "
	relayPrefix       = "sealpostd: relay listening on wss://"
	blobsPrefix       = "sealpostd: blob service listening on https://"
)

// start runs sealpostd with args and waits for its address and
// fingerprint lines.
func start(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{stderr: new(testbin.SyncBuffer), exited: make(chan struct{})}
	d.cmd = exec.Command(binary(t), args...)
	d.cmd.Stderr = d.stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("sealpostd stderr:\n%s", d.stderr.String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		d.cmd.Wait()
		close(d.exited)
	}()
	timeout := time.After(60 * time.Second)
	for d.addr == "" || d.fp == (tlsconfig.Fingerprint{}) {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("sealpostd exited before it was ready:\n%s", d.stderr.String())
			}
			if a, ok := strings.CutPrefix(line, listeningPrefix); ok {
				d.addr = a
			}
			if a, ok := strings.CutPrefix(line, relayPrefix); ok && d.addr == "" {
				// The relay alone: its line names the address.
				d.addr, _, _ = strings.Cut(a, "/")
			}
			if a, ok := strings.CutPrefix(line, blobsPrefix); ok && d.addr == "" {
				// The blob service alone.
				d.addr, _, _ = strings.Cut(a, "/")
			}
			if u, ok := strings.CutPrefix(line, adminPrefix); ok {
				d.admin = u
			}
			if f, ok := strings.CutPrefix(line, fingerprintPrefix); ok {
				if d.fp, err = tlsconfig.ParseFingerprint(f); err != nil {
					t.Fatalf("fingerprint line %q: %v", line, err)
				}
			}
		case <-timeout:
			t.Fatalf("sealpostd not ready after 60s:\n%s", d.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return d
}

// stop sends SIGTERM and checks sealpostd exits with status 0 promptly.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("sealpostd still running 10s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("sealpostd exited with status %d after SIGTERM", code)
	}
}

func (d *daemon) client() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsconfig.ClientConfig(d.fp)},
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

func TestDaemon(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}
	d := start(t, args...)
	c := d.client()
	base := "https://" + d.addr

	resp, body := get(t, c, base+"/healthz")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s %s", resp.Status, body)
	}
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("/healthz not over TLS 1.3: %+v", resp.TLS)
	}
	resp, body = get(t, c, base+"/.well-known/sealpost-keyserver")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(body) {
		t.Errorf("well-known: %s %q %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}

	// A client pinned to another certificate, and a TLS 1.2 client, are
	// refused.
	other := d.fp
	other[31] ^= 1
	wrong := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsconfig.ClientConfig(other)}}
	if _, err := wrong.Get(base + "/healthz"); !errors.Is(err, tlsconfig.ErrPinMismatch) {
		t.Errorf("wrong pin: err = %v, want ErrPinMismatch", err)
	}
	old := tlsconfig.ClientConfig(d.fp)
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if conn, err := tls.Dial("tcp", d.addr, old); err == nil {
		conn.Close()
		t.Error("TLS 1.2 client connected")
	}
	d.stop(t)

	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", fi.Mode().Perm())
	}
	for _, f := range []string{tlsconfig.CertFile, tlsconfig.KeyFile, tokenKeyFile, logKeyFile, vrfKeyFile} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	keys := readFiles(t, dataDir, tokenKeyFile, logKeyFile, vrfKeyFile)

	// A restart reuses the certificate and the keys.
	d2 := start(t, args...)
	if d2.fp != d.fp {
		t.Errorf("fingerprint changed across restart: %s then %s", d.fp, d2.fp)
	}
	resp, _ = get(t, d2.client(), "https://"+d2.addr+"/healthz")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz after restart: %s", resp.Status)
	}
	d2.stop(t)
	if !bytes.Equal(readFiles(t, dataDir, tokenKeyFile, logKeyFile, vrfKeyFile), keys) {
		t.Error("signing keys changed across restart")
	}

	// A data directory from before the key directory, without a VRF key:
	// the next start creates one and publishes it; the other keys stay.
	signing := readFiles(t, dataDir, tokenKeyFile, logKeyFile)
	if err := os.Remove(filepath.Join(dataDir, vrfKeyFile)); err != nil {
		t.Fatal(err)
	}
	d3 := start(t, args...)
	resp, body = get(t, d3.client(), "https://"+d3.addr+"/.well-known/sealpost-keyserver")
	d3.stop(t)
	var wk api.WellKnown
	if err := json.Unmarshal(body, &wk); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("well-known after a start without a VRF key: %s %s", resp.Status, body)
	}
	vk, err := keyfile.ReadEd25519(filepath.Join(dataDir, vrfKeyFile))
	if err != nil {
		t.Fatalf("VRF key not created: %v", err)
	}
	if pub := vk.Public().(ed25519.PublicKey); !bytes.Equal(wk.VRFKey, pub) || wk.DirectoryOrigin != "localhost/sealpost-kt/v2" {
		t.Errorf("published VRF key %x, origin %q; the file's is %x", wk.VRFKey, wk.DirectoryOrigin, pub)
	}
	if !bytes.Equal(readFiles(t, dataDir, tokenKeyFile, logKeyFile), signing) {
		t.Error("token or log key changed when the VRF key was created")
	}
}

func readFiles(t *testing.T, dir string, names ...string) []byte {
	t.Helper()
	var all []byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestDaemonBadFlags(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(binary(t), "--data-dir", dataDir, "--listen", "nowhere", "--log-format", "xml", "--name", "Bad Name", "--tls-cert", "/nonexistent.pem", "--shutdown-timeout", "-1s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2\n%s", err, stderr.String())
	}
	for _, want := range []string{"invalid configuration", "--listen", "--log-format", "--name", "--tls-key", "--shutdown-timeout"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("panic at start:\n%s", stderr.String())
	}
	if _, err := os.Stat(dataDir); err == nil {
		t.Error("data directory created despite the bad configuration")
	}
}

func TestDaemonInvite(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(binary(t), "invite", "--data-dir", dataDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sealpostd invite: %v\n%s", err, stderr.String())
	}
	code := strings.TrimSpace(string(out))
	if len(code) < 16 || strings.ContainsAny(code, " \n") {
		t.Errorf("invite printed %q, want one code", out)
	}
	again, err := exec.Command(binary(t), "invite", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(again)) == code {
		t.Error("two invites printed the same code")
	}
}

func TestDaemonPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--postgres", dsn, "--invite-only", "--relay-audience", "relay:localhost")
	c := d.client()
	resp, body := get(t, c, "https://"+d.addr+"/healthz")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s %s", resp.Status, body)
	}
	resp, body = get(t, c, "https://"+d.addr+"/.well-known/sealpost-keyserver")
	var wk struct {
		InviteOnly     bool     `json:"invite_only"`
		RelayAudiences []string `json:"relay_audiences"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &wk) != nil || !wk.InviteOnly || !slices.Equal(wk.RelayAudiences, []string{"relay:localhost", "blobs:localhost"}) {
		t.Errorf("well-known: %s %s", resp.Status, body)
	}
	// sealpostd invite works against the running server's database.
	out, err := exec.Command(binary(t), "invite", "--data-dir", dataDir, "--postgres", dsn).Output()
	if err != nil || len(strings.TrimSpace(string(out))) < 16 {
		t.Errorf("sealpostd invite: %q, %v", out, err)
	}
	d.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, sqliteFile)); err == nil {
		t.Error("SQLite database created although --postgres was given")
	}
}

// TestDaemonShutdownFinishesRequests checks that SIGTERM lets a request in
// flight finish before sealpostd exits.
func TestDaemonShutdownFinishesRequests(t *testing.T) {
	d := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0")
	conn, err := tls.Dial("tcp", d.addr, tlsconfig.ClientConfig(d.fp))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"handle": "x"}`
	// Headers and half the body: the handler is reading it.
	if _, err := io.WriteString(conn, "POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body[:5]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
		t.Fatal("sealpostd exited with a request in flight")
	case <-time.After(time.Second):
	}
	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to the request in flight: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("request in flight: %s, want the key server's 4xx for a bad registration", resp.Status)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("sealpostd still running 10s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// TestDaemonCertificateFilesAndMetrics runs sealpostd with --tls-cert and
// --tls-key and an admin listener.
func TestDaemonCertificateFilesAndMetrics(t *testing.T) {
	certDir := t.TempDir()
	cert, _, err := tlsconfig.LoadOrCreate(certDir, []string{"keys.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--name", "keys.example.test",
		"--tls-cert", filepath.Join(certDir, tlsconfig.CertFile), "--tls-key", filepath.Join(certDir, tlsconfig.KeyFile),
		"--admin-listen", "127.0.0.1:0")
	if want := tlsconfig.FingerprintOf(cert.Certificate[0]); d.fp != want {
		t.Errorf("fingerprint %s, want the given certificate's %s", d.fp, want)
	}
	if d.admin == "" {
		t.Fatal("no admin line")
	}
	resp, body := get(t, http.DefaultClient, d.admin+"/metrics")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("go_goroutines")) {
		t.Errorf("plain-HTTP /metrics: %s", resp.Status)
	}
	if _, err := os.Stat(filepath.Join(dataDir, tlsconfig.CertFile)); err == nil {
		t.Error("self-signed certificate generated although --tls-cert was given")
	}
	d.stop(t)
}
