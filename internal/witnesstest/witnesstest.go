// Package witnesstest runs real, independent transparency-log witnesses for
// tests: litewitness from filippo.io/torchwood (C2SP tlog-witness), each with
// its own ssh-agent holding a fresh Ed25519 key and its own SQLite state in
// a temporary directory, listening on 127.0.0.1. It is never replaced by an
// in-process fake: what the tests check is what an independent witness
// implementation answers.
//
// The binaries (litewitness and witnessctl at Version) are built once with
// `go install` into a cache directory keyed by the version (Dir), and
// reused from there; .ci/run builds them before the tests (Install). The
// witness also needs ssh-agent, ssh-add and ssh-keygen (OpenSSH client) on
// the PATH. A test that asks for a witness fails, never skips, when any of
// this is missing.
package witnesstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testbin"
)

// Version is the torchwood release whose litewitness the tests run.
const Version = "v0.6.1"

const module = "filippo.io/torchwood"

// tool builds the binaries at Version (testbin.Tool).
var tool = testbin.Tool{
	Name: "witnesstest", Env: "SEALPOST_WITNESS_BIN", CacheName: "torchwood-" + Version,
	Packages: []string{module + "/cmd/litewitness@" + Version, module + "/cmd/witnessctl@" + Version},
	Binaries: []string{"litewitness", "witnessctl"},
}

// Dir returns the directory the binaries are cached in: $SEALPOST_WITNESS_BIN if set,
// else <user cache dir>/sealpost/bin/torchwood-<Version>.
func Dir() (string, error) { return tool.Dir() }

// Install builds the binaries at Version into Dir, unless they are already
// there, and returns Dir; concurrent test binaries may call it at once.
func Install() (string, error) { return tool.Install() }

// Witness is one running litewitness.
type Witness struct {
	// URL is the witness's submission prefix: POST URL+"/add-checkpoint".
	URL string
	// Name is the witness's name, the key name of its cosignatures.
	Name string
	// VKey is the witness's verifier key (C2SP signed-note vkey with
	// signature type 0x04, C2SP tlog-cosignature), computed from its
	// public key and checked against the one litewitness announces.
	VKey string
	// Started is how long Start took from launching ssh-agent to
	// litewitness accepting connections (the binaries already built).
	Started time.Duration

	bin, db string
	cmd     *exec.Cmd
	done    chan struct{}
	out     *testbin.SyncBuffer
	stopped bool
}

// Start runs a witness named name (a schema-less URL such as
// "witness.test/w1"), knowing the logs given as origin → log verifier key,
// and stops it at t.Cleanup. Any failure fails the test.
func Start(t testing.TB, name string, logs map[string]string) *Witness {
	t.Helper()
	bin, err := Install()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("witnesstest: %s not found: install the OpenSSH client (openssh-client)", tool)
		}
	}
	dir := t.TempDir()
	// A Unix socket path must fit in 108 bytes: keep it short.
	sockDir, err := os.MkdirTemp("", "wt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "a")

	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	agentOut := &testbin.SyncBuffer{}
	agent.Stdout, agent.Stderr = agentOut, agentOut
	if err := agent.Start(); err != nil {
		t.Fatalf("witnesstest: ssh-agent: %v", err)
	}
	agentDone := make(chan struct{})
	go func() { agent.Wait(); close(agentDone) }()
	t.Cleanup(func() {
		agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-agentDone:
		case <-time.After(10 * time.Second):
			agent.Process.Kill()
			<-agentDone
		}
	})
	testbin.WaitReady(t, "witnesstest", "ssh-agent socket", agentDone, agentOut, func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})

	keyPath := filepath.Join(dir, "witness-key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", keyPath).CombinedOutput(); err != nil {
		t.Fatalf("witnesstest: ssh-keygen: %v\n%s", err, out)
	}
	add := exec.Command("ssh-add", keyPath)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("witnesstest: ssh-add: %v\n%s", err, out)
	}
	pubLine, err := os.ReadFile(keyPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, fingerprint, err := parseSSHEd25519(pubLine)
	if err != nil {
		t.Fatal(err)
	}
	vkey := VerifierKey(name, pub)

	w := &Witness{Name: name, VKey: vkey, bin: bin, db: filepath.Join(dir, "litewitness.db"), done: make(chan struct{}), out: &testbin.SyncBuffer{}}
	for origin, logKey := range logs {
		w.AddLog(t, origin, logKey)
	}

	addr := testbin.FreeAddr(t)
	w.URL = "http://" + addr
	w.cmd = exec.Command(filepath.Join(bin, "litewitness"),
		"-name", name, "-db", w.db, "-ssh-agent", sock, "-key", fingerprint, "-listen", addr)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("witnesstest: litewitness: %v", err)
	}
	go func() { w.cmd.Wait(); close(w.done) }()
	t.Cleanup(w.Stop)
	testbin.WaitReady(t, "witnesstest", "litewitness on "+addr, w.done, w.out, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	// slog quotes the value when it holds '=' (base64 padding).
	if !strings.Contains(w.out.String(), "vkey="+vkey) && !strings.Contains(w.out.String(), "vkey=\""+vkey+"\"") {
		t.Fatalf("witnesstest: litewitness does not announce the verifier key %s:\n%s", vkey, w.out.String())
	}
	w.Started = time.Since(begin)
	return w
}

// AddLog registers the log named origin with its verifier key (witnessctl
// add-log, add-key). It works while the witness runs.
func (w *Witness) AddLog(t testing.TB, origin, logKey string) {
	t.Helper()
	ctl := filepath.Join(w.bin, "witnessctl")
	for _, args := range [][]string{
		{"add-log", "-db", w.db, "-origin", origin},
		{"add-key", "-db", w.db, "-origin", origin, "-key", logKey},
	} {
		if out, err := exec.Command(ctl, args...).CombinedOutput(); err != nil {
			t.Fatalf("witnesstest: witnessctl %s: %v\n%s", args[0], err, out)
		}
	}
}

// Stop stops the witness (SIGINT, then SIGKILL after 10 s). Its URL then
// refuses connections. Stop is idempotent.
func (w *Witness) Stop() {
	if w.stopped || w.cmd == nil || w.cmd.Process == nil {
		return
	}
	w.stopped = true
	w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		<-w.done
	}
}

// Log returns what litewitness has written so far.
func (w *Witness) Log() string { return w.out.String() }

// VerifierKey is the vkey of an Ed25519 cosigner (C2SP tlog-cosignature):
// "<name>+<key id>+<base64(0x04 || pub)>", key id the first four bytes of
// SHA-256(name || "\n" || 0x04 || pub) in hex.
func VerifierKey(name string, pub []byte) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', 0x04})
	h.Write(pub)
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h.Sum(nil)),
		base64.StdEncoding.EncodeToString(append([]byte{0x04}, pub...)))
}

// parseSSHEd25519 reads an OpenSSH public key line ("ssh-ed25519 <base64
// wire blob> comment") and returns the raw key and its SHA256 fingerprint
// as ssh-keygen -l prints it.
func parseSSHEd25519(line []byte) (pub []byte, fingerprint string, err error) {
	f := bytes.Fields(line)
	if len(f) < 2 || string(f[0]) != "ssh-ed25519" {
		return nil, "", errors.New("witnesstest: not an ssh-ed25519 public key")
	}
	blob, err := base64.StdEncoding.DecodeString(string(f[1]))
	if err != nil {
		return nil, "", fmt.Errorf("witnesstest: public key: %w", err)
	}
	// string "ssh-ed25519", string key[32]
	const typ = "ssh-ed25519"
	if len(blob) != 4+len(typ)+4+32 || string(blob[4:4+len(typ)]) != typ ||
		binary.BigEndian.Uint32(blob[4+len(typ):]) != 32 {
		return nil, "", errors.New("witnesstest: malformed ssh-ed25519 key blob")
	}
	sum := sha256.Sum256(blob)
	return blob[len(blob)-32:], "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}
