package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testbin"
	"github.com/sealpost/sealpost/tlsconfig"
)

// The end-to-end tests build the sealpost and sealpostd binaries and run
// them as child processes: a real daemon (key server and relay, SQLite,
// TLS 1.3 with a self-signed certificate the CLI pins) and the CLI as a
// script would use it.

// binaries builds sealpost and sealpostd once and returns their paths.
func binaries(t *testing.T) (cli, daemon string) {
	bins := testbin.Build(t, "github.com/sealpost/sealpost/cmd/sealpost", "github.com/sealpost/sealpost/cmd/sealpostd")
	return bins[0], bins[1]
}

type server struct {
	cmd    *exec.Cmd
	url    string
	pin    string
	logKey string // the log verifier key sealpostd printed
	stderr *testbin.SyncBuffer
	exited chan struct{}

	paceMu   sync.Mutex
	paceNext time.Time
}

// startServer runs sealpostd on a free loopback port with its data in a
// temporary directory and waits for its address and fingerprint.
func startServer(t *testing.T) *server {
	t.Helper()
	return startServerWith(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", nil, nil)
}

// startServerWith runs sealpostd with its data in dataDir, listening on
// listen, with more flags and environment variables.
func startServerWith(t *testing.T, dataDir, listen string, args, env []string) *server {
	t.Helper()
	_, bin := binaries(t)
	s := &server{stderr: new(testbin.SyncBuffer), exited: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"--data-dir", dataDir, "--listen", listen, "--log-level", "warn"}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("sealpostd stderr:\n%s", s.stderr.String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.cmd.Wait()
		close(s.exited)
	}()
	timeout := time.After(30 * time.Second)
	for s.url == "" || s.pin == "" || s.logKey == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("sealpostd exited before it was ready:\n%s", s.stderr.String())
			}
			if a, ok := strings.CutPrefix(line, "sealpostd: key server listening on "); ok {
				s.url = a
			}
			if k, ok := strings.CutPrefix(line, "sealpostd: transparency log verifier key: "); ok {
				s.logKey = k
			}
			if f, ok := strings.CutPrefix(line, "sealpostd: TLS certificate SHA-256 fingerprint: "); ok {
				fp, err := tlsconfig.ParseFingerprint(f)
				if err != nil {
					t.Fatalf("fingerprint line %q: %v", line, err)
				}
				s.pin = fp.String()
			}
		case <-timeout:
			t.Fatalf("sealpostd not ready after 30s:\n%s", s.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return s
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("sealpostd still running 20s after SIGTERM")
	}
}

// user is one device directory of one account, driven through the CLI.
type user struct {
	t        *testing.T
	srv      *server // nil: none
	dir      string
	passFile string
	env      []string
}

// startPair starts a server of the test's own (skipped with -short; run in
// parallel) and registers alice and bob on it.
func startPair(t *testing.T) (alice, bob *user) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs sealpostd and sealpost")
	}
	t.Parallel()
	srv := startServer(t)
	alice, bob = newUser(t, srv, "alice"), newUser(t, srv, "bob")
	alice.init("alice")
	bob.init("bob")
	return alice, bob
}

func newUser(t *testing.T, srv *server, name string) *user {
	t.Helper()
	root := t.TempDir()
	u := &user{t: t, srv: srv, dir: filepath.Join(root, name), passFile: filepath.Join(root, name+".pass")}
	if err := os.WriteFile(u.passFile, []byte("passphrase of "+name+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u.env = append(os.Environ(), "SEALPOST_TEST_WORKFACTOR=10", "HOME="+root, "SEALPOST_PASSPHRASE=", "SEALPOST_DIR=")
	return u
}

// result is one finished run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// on returns u reporting to t, for use in a subtest.
func (u *user) on(t *testing.T) *user {
	c := *u
	c.t = t
	return &c
}

// pace keeps the runs against one server under the key server's limit on
// challenge and token requests per address (20/s, burst 40:
// keyserver.DefaultLimits); every run of sealpost asks for tokens.
// sealpostd has no flag for the limit and the client does not wait out a
// 429 (rate_limited).
func (s *server) pace() {
	if s == nil {
		return
	}
	s.paceMu.Lock()
	defer s.paceMu.Unlock()
	if d := time.Until(s.paceNext); d > 0 {
		time.Sleep(d)
	}
	s.paceNext = time.Now().Add(100 * time.Millisecond)
}

// command prepares sealpost with the user's directory and passphrase.
func (u *user) command(ctx context.Context, stdin string, args ...string) *exec.Cmd {
	u.srv.pace()
	cli, _ := binaries(u.t)
	cmd := exec.CommandContext(ctx, cli, append([]string{"--dir", u.dir, "--passphrase-file", u.passFile}, args...)...)
	cmd.Env = u.env
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// run runs sealpost to completion.
func (u *user) run(stdin string, args ...string) result {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := u.command(ctx, stdin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		u.t.Fatalf("sealpost %q: %v", args, err)
	}
	return r
}

// ok runs sealpost and fails the test unless it exits 0.
func (u *user) ok(stdin string, args ...string) result {
	u.t.Helper()
	r := u.run(stdin, args...)
	if r.code != 0 {
		u.t.Fatalf("sealpost %q: %v", args, r)
	}
	return r
}

func (u *user) init(handle string) {
	u.t.Helper()
	r := u.ok("", "init", "--server", u.srv.url, "--pin", u.srv.pin, "--log-key", u.srv.logKey, handle)
	if !strings.Contains(r.stdout, "Registered "+handle+", device 1") {
		u.t.Fatalf("init %s: %v", handle, r)
	}
}

var messageID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// send sends text and returns the message id.
func (u *user) send(to, text string) string {
	u.t.Helper()
	r := u.ok("", "send", to, text)
	id := strings.TrimSpace(r.stdout)
	if !messageID.MatchString(id) {
		u.t.Fatalf("send printed %q, want a message id", r.stdout)
	}
	return id
}

// receive runs listen --json --count n and returns the messages and the
// events it printed.
func (u *user) receive(n int) ([]jsonMessage, []jsonEvent) {
	u.t.Helper()
	r := u.ok("", "listen", "--json", "--count", fmt.Sprint(n), "--timeout", "30s")
	var msgs []jsonMessage
	var events []jsonEvent
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &probe); err != nil {
			u.t.Fatalf("listen printed %q: %v", line, err)
		}
		if _, ok := probe["event"]; ok {
			var e jsonEvent
			json.Unmarshal([]byte(line), &e)
			events = append(events, e)
			continue
		}
		var m jsonMessage
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			u.t.Fatalf("listen printed %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != n {
		u.t.Fatalf("listen --count %d printed %d messages:\n%s", n, len(msgs), r.stdout)
	}
	return msgs, events
}

// withoutReceipts is out without the lines of receipt events.
func withoutReceipts(out string) string {
	var keep []string
	for _, line := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(line, `{"event":"receipt"`) && !strings.HasPrefix(line, "sealpost: ✓✓ ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

func checkMessage(t *testing.T, m jsonMessage, id, from, to, text string, sent bool) {
	t.Helper()
	if (id != "" && m.ID != id) || m.From != from || m.To != to || m.Text != text || m.Sent != sent {
		t.Errorf("got message %+v, want id %s from %s to %s sent %v text %q", m, id, from, to, sent, text)
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Time); err != nil {
		t.Errorf("message time %q: %v", m.Time, err)
	}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpostd and sealpost")
	}
	t.Parallel()
	srv := startServer(t)
	alice, bob := newUser(t, srv, "alice"), newUser(t, srv, "bob")
	alice.init("alice")
	r := bob.ok("", "--json", "init", "--server", srv.url, "--pin", srv.pin, "--log-key", srv.logKey, "bob")
	var ir initResult
	if err := json.Unmarshal([]byte(r.stdout), &ir); err != nil || ir.Handle != "bob" || ir.Device != 1 || ir.Dir != bob.dir {
		t.Fatalf("init --json printed %q (%v)", r.stdout, err)
	}

	t.Run("config", func(t *testing.T) {
		alice := alice.on(t)
		path := filepath.Join(alice.dir, configFile)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("config.json mode %v", st.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte("passphrase")) || !bytes.Contains(b, []byte(srv.pin)) {
			t.Errorf("config.json: %s", b)
		}
		// A second init on the same directory is refused.
		if r := alice.run("", "init", "--server", srv.url, "--pin", srv.pin, "--log-key", srv.logKey, "alice2"); r.code != exitLocal {
			t.Errorf("second init: %v", r)
		}
	})

	t.Run("both ways", func(t *testing.T) {
		alice, bob := alice.on(t), bob.on(t)
		id := alice.send("bob", "hello bob")
		msgs, _ := bob.receive(1)
		checkMessage(t, msgs[0], id, "alice", "bob", "hello bob", false)
		if msgs[0].FromDevice != 1 {
			t.Errorf("from_device %d", msgs[0].FromDevice)
		}

		// From standard input, with "-" and without; one newline trimmed.
		r := bob.ok("hi alice\n", "send", "alice", "-")
		id1 := strings.TrimSpace(r.stdout)
		r = bob.ok("second\nline\n", "--json", "send", "alice")
		var sent jsonSent
		if err := json.Unmarshal([]byte(r.stdout), &sent); err != nil || !messageID.MatchString(sent.ID) || sent.To != "alice" {
			t.Fatalf("send --json printed %q (%v)", r.stdout, err)
		}
		msgs, _ = alice.receive(2)
		checkMessage(t, msgs[0], id1, "bob", "alice", "hi alice", false)
		checkMessage(t, msgs[1], sent.ID, "bob", "alice", "second\nline", false)

		// With --json, events are lines on stdout too; without, stderr.
		// (Alice's receipts of bob's messages may come too.)
		r = bob.ok("", "--json", "listen", "--timeout", "1s")
		if withoutReceipts(r.stdout) != `{"event":"connected"}`+"\n" || r.stderr != "" {
			t.Errorf("listen --json with nothing to receive: %v", r)
		}
		r = bob.ok("", "listen", "--timeout", "1s")
		if r.stdout != "" || withoutReceipts(r.stderr) != "sealpost: connected to the relay\n" {
			t.Errorf("listen with nothing to receive: %v", r)
		}
	})

	t.Run("in order", func(t *testing.T) {
		alice, bob := alice.on(t), bob.on(t)
		const n = 5
		var ids []string
		for i := range n {
			ids = append(ids, alice.send("bob", fmt.Sprintf("message %d", i)))
		}
		msgs, _ := bob.receive(n)
		for i, m := range msgs {
			checkMessage(t, m, ids[i], "alice", "bob", fmt.Sprintf("message %d", i), false)
		}
	})

	t.Run("escaping", func(t *testing.T) {
		alice, bob := alice.on(t), bob.on(t)
		alice.send("bob", "\x1b]0;owned\x07\x1b[2Jred\u202eevil\nbob (device 1): fake")
		r := bob.ok("", "listen", "--count", "1", "--timeout", "30s")
		if strings.ContainsAny(r.stdout, "\x1b\x07\u202e") {
			t.Errorf("listen printed raw control characters: %q", r.stdout)
		}
		want := `alice (device 1): \x1b]0;owned\x07\x1b[2Jred\u202eevil` + "\n    bob (device 1): fake\n"
		if !strings.HasSuffix(r.stdout, want) || !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  `).MatchString(r.stdout) {
			t.Errorf("listen printed %q, want a time and %q", r.stdout, want)
		}
	})

	var compact string
	t.Run("verify", func(t *testing.T) {
		alice, bob := alice.on(t), bob.on(t)
		r := alice.ok("", "verify", "--yes", "bob")
		rows := regexp.MustCompile(`(?m)^    \d{5} \d{5} \d{5} \d{5}$`).FindAllString(r.stdout, -1)
		if len(rows) != 3 || !strings.Contains(r.stdout, "bob is verified") {
			t.Errorf("verify --yes printed:\n%s", r.stdout)
		}
		// Bob sees the same number; without --yes and with "n" on
		// standard input nothing is marked.
		r = bob.ok("n\n", "verify", "alice")
		if !strings.Contains(r.stdout, "alice is not marked verified") || !strings.Contains(r.stderr, "Mark alice as verified? [y/N]") {
			t.Errorf("verify, answered no:\n%v", r)
		}
		for _, row := range rows {
			if !strings.Contains(r.stdout, row) {
				t.Errorf("bob's safety number lacks alice's row %q:\n%s", row, r.stdout)
			}
		}
		r = bob.ok("", "--json", "verify", "alice")
		var vr verifyResult
		if err := json.Unmarshal([]byte(r.stdout), &vr); err != nil || len(vr.SafetyNumber) != 12 || vr.Verified {
			t.Fatalf("verify --json printed %q (%v)", r.stdout, err)
		}
		compact = vr.Compact

		// Alice scans bob's code: a match.
		if r := alice.run("", "verify", "--scan", compact, "bob"); r.code != 0 || !strings.Contains(r.stdout, "matches") {
			t.Errorf("scan of the right code: %v", r)
		}
		// A different well-formed code: exit 4, and bob stays unverified
		// on bob's side.
		forged := []byte(compact)
		i := len("sealpost-sn1:") + 5
		if forged[i] == 'A' {
			forged[i] = 'B'
		} else {
			forged[i] = 'A'
		}
		r = bob.run("", "verify", "--scan", string(forged), "alice")
		if r.code != exitSecurity || !strings.Contains(r.stderr, "does not match") {
			t.Errorf("scan of a wrong code: %v", r)
		}
		if r := bob.run("", "verify", "--scan", "not a code", "alice"); r.code != exitUsage {
			t.Errorf("scan of garbage: %v", r)
		}
		r = bob.ok("", "--json", "contacts")
		if !strings.Contains(r.stdout, `"handle":"alice","verified":false`) {
			t.Errorf("bob's contacts after a failed scan: %s", r.stdout)
		}
		r = alice.ok("", "--json", "contacts")
		if !strings.Contains(r.stdout, `"handle":"bob","verified":true`) {
			t.Errorf("alice's contacts: %s", r.stdout)
		}
	})

	t.Run("local errors", func(t *testing.T) {
		alice := alice.on(t)
		wrong := filepath.Join(t.TempDir(), "wrong")
		os.WriteFile(wrong, []byte("not the passphrase\n"), 0o600)
		r := alice.run("", "--passphrase-file", wrong, "contacts")
		if r.code != exitLocal || !strings.Contains(r.stderr, "sealpost: contacts: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("wrong passphrase: %v", r)
		}
		// No passphrase source and standard input not a terminal.
		cmd := alice.command(context.Background(), "", "contacts")
		cmd.Args = []string{cmd.Args[0], "--dir", alice.dir, "contacts"}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !bytes.Contains(out, []byte("--passphrase-file")) {
			t.Errorf("no passphrase: %v %s", err, out)
		}
	})

	t.Run("listen and lock", func(t *testing.T) {
		alice, bob := alice.on(t), bob.on(t)
		// A running listen holds the store: another command on the same
		// directory is refused with exit 3. SIGINT ends listen cleanly.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := alice.command(ctx, "", "listen")
		stdout, stderr := new(testbin.SyncBuffer), new(testbin.SyncBuffer)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stderr.String(), "connected to the relay") {
			if time.Now().After(deadline) {
				t.Fatalf("listen never connected: %s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r := alice.run("", "send", "bob", "x"); r.code != exitLocal || !strings.Contains(r.stderr, "another sealpost process") {
			t.Errorf("send while listen runs: %v", r)
		}
		id := bob.send("alice", "while listening")
		for !strings.Contains(stdout.String(), "while listening") {
			if time.Now().After(deadline) {
				t.Fatalf("listen did not print the message: %q", stdout.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("listen after SIGINT: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("listen still running 20s after SIGINT")
		}
		if !strings.Contains(stdout.String(), "bob (device 1): while listening\n") {
			t.Errorf("listen printed %q", stdout.String())
		}
		// It was shown once: the next listen does not see it again.
		bob.send("alice", "after")
		msgs, _ := alice.receive(1)
		if msgs[0].ID == id || msgs[0].Text != "after" {
			t.Errorf("after a clean listen, got %+v", msgs[0])
		}
	})

	t.Run("chat", func(t *testing.T) {
		alice, bob := alice.on(t), bob.on(t)
		r := alice.ok("first line\n\nsecond line\n", "--json", "chat", "bob")
		var sent []jsonMessage
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var m jsonMessage
			if json.Unmarshal([]byte(line), &m) == nil && m.Sent {
				sent = append(sent, m)
			}
		}
		if len(sent) != 2 || sent[0].Text != "first line" || sent[1].Text != "second line" {
			t.Fatalf("chat printed %q", r.stdout)
		}
		msgs, _ := bob.receive(2)
		checkMessage(t, msgs[0], sent[0].ID, "alice", "bob", "first line", false)
		checkMessage(t, msgs[1], sent[1].ID, "alice", "bob", "second line", false)
	})

	t.Run("chat with others", func(t *testing.T) {
		// Interactive: messages from bob are shown plainly, carol's are
		// marked; a line typed is sent to bob; end of input ends it.
		alice, bob := alice.on(t), bob.on(t)
		carol := newUser(t, srv, "carol")
		carol.init("carol")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := alice.command(ctx, "", "chat", "bob")
		cmd.Stdin = nil
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr := new(testbin.SyncBuffer), new(testbin.SyncBuffer)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		carol.send("alice", "psst from carol")
		bob.send("alice", "hi from bob")
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stdout.String(), "hi from bob") || !strings.Contains(stdout.String(), "psst from carol") {
			if time.Now().After(deadline) {
				t.Fatalf("chat printed %q; stderr %q", stdout.String(), stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		io.WriteString(stdin, "typed to bob\n")
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("chat: %v\n%s", err, stderr.String())
		}
		out := stdout.String()
		if !strings.Contains(out, "  * carol (device 1): psst from carol\n") || !strings.Contains(out, "  bob (device 1): hi from bob\n") {
			t.Errorf("chat printed %q", out)
		}
		msgs, _ := bob.receive(1)
		checkMessage(t, msgs[0], "", "alice", "bob", "typed to bob", false)
	})

	t.Run("devices and audit", func(t *testing.T) {
		alice, bob := alice.on(t), bob.on(t)
		r := alice.ok("", "--json", "devices")
		var d jsonDevice
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.ID != 1 || !d.Current || d.Revoked {
			t.Errorf("devices --json printed %q (%v)", r.stdout, err)
		}
		r = alice.ok("", "devices")
		if !regexp.MustCompile(`(?m)^1 +- +\d{4}-\d\d-\d\d \d\d:\d\d +- +active +this device`).MatchString(r.stdout) {
			t.Errorf("devices printed:\n%s", r.stdout)
		}
		r = alice.ok("", "audit")
		if !strings.Contains(r.stdout, "The key directory checks out") || !strings.Contains(r.stdout, "known accounts looked up again") {
			t.Errorf("audit printed:\n%v", r)
		}
		r = bob.ok("", "--json", "audit")
		var ar jsonAudit
		if err := json.Unmarshal([]byte(r.stdout), &ar); err != nil || ar.Epochs < 1 || ar.Checked != ar.Epochs || ar.Updates < 3 || ar.Known < 2 || ar.Checkpoint == "" {
			t.Errorf("audit --json printed %q (%v)", r.stdout, err)
		}
	})

	t.Run("auditor", func(t *testing.T) {
		// No account and no store: only the server flags and a state file.
		alice := alice.on(t)
		state := filepath.Join(t.TempDir(), "audit.state")
		args := []string{"--json", "auditor", "--state", state, "--server", srv.url, "--pin", srv.pin, "--log-key", srv.logKey}
		var first, again jsonAudit
		r := alice.ok("", args...)
		if err := json.Unmarshal([]byte(r.stdout), &first); err != nil || first.Epochs < 2 || first.Checked != first.Epochs || first.Updates < 2 || first.Known != 0 {
			t.Fatalf("first audit printed %q (%v)", r.stdout, err)
		}
		st, err := os.ReadFile(state)
		if err != nil || len(st) < 114 {
			t.Fatalf("state file: %d bytes, %v", len(st), err)
		}
		r = alice.ok("", args...)
		if err := json.Unmarshal([]byte(r.stdout), &again); err != nil || again.Epochs < first.Epochs || again.Checked != again.Epochs-first.Epochs {
			t.Fatalf("second audit printed %q after %+v (%v)", r.stdout, first, err)
		}
		// A damaged state is refused as local state, and left as it is.
		bad := append(bytes.Clone(st), 0)
		if err := os.WriteFile(state, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if r = alice.run("", args...); r.code != exitLocal {
			t.Fatalf("damaged state: %v, want exit %d", r, exitLocal)
		}
		if got, _ := os.ReadFile(state); !bytes.Equal(got, bad) {
			t.Fatal("a refused audit changed the state file")
		}
		// Without a log key there is nothing to audit against.
		if r = alice.run("", "auditor", "--state", state, "--server", srv.url, "--pin", srv.pin, "--trust-on-first-use"); r.code != exitUsage {
			t.Fatalf("auditor without --log-key: %v", r)
		}
	})

	t.Run("server down", func(t *testing.T) {
		alice := alice.on(t)
		srv.stop(t)
		r := alice.run("", "send", "--timeout", "2s", "bob", "nobody home")
		if r.code != exitNetwork {
			t.Errorf("send with the server down: %v", r)
		}
	})
}

// TestBackupRestore runs beside TestEndToEnd with its own server (and so
// its own rate limit).
func TestBackupRestore(t *testing.T) {
	alice, bob := startPair(t)
	srv := alice.srv
	alice.send("bob", "hello")
	bob.receive(1)

	tmp := t.TempDir()
	backup := filepath.Join(tmp, "alice.backup")
	bpass := filepath.Join(tmp, "bpass")
	os.WriteFile(bpass, []byte("backup passphrase\n"), 0o600)
	alice.ok("", "backup", "--backup-passphrase-file", bpass, backup)
	st, err := os.Stat(backup)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	before, _ := os.ReadFile(backup)
	if r := alice.run("", "backup", "--backup-passphrase-file", bpass, backup); r.code != exitFailure || !strings.Contains(r.stderr, "--force") {
		t.Errorf("backup over an existing file: %v", r)
	}
	if after, _ := os.ReadFile(backup); !bytes.Equal(before, after) {
		t.Error("refused backup changed the file")
	}

	// A wrong backup passphrase: exit 3, and the directory can be
	// used again.
	alice2 := newUser(t, srv, "alice2")
	wrong := filepath.Join(tmp, "wrong")
	os.WriteFile(wrong, []byte("nope\n"), 0o600)
	r := alice2.run("", "restore", "--server", srv.url, "--pin", srv.pin, "--log-key", srv.logKey, "--backup-passphrase-file", wrong, backup)
	if r.code != exitLocal {
		t.Errorf("restore with a wrong passphrase: %v", r)
	}
	if _, err := os.Stat(filepath.Join(alice2.dir, configFile)); err == nil {
		t.Errorf("a failed restore left config.json behind")
	}

	r = alice2.ok("", "restore", "--server", srv.url, "--pin", srv.pin, "--log-key", srv.logKey, "--backup-passphrase-file", bpass, backup)
	if !strings.Contains(r.stdout, "Restored alice as new device 2") {
		t.Fatalf("restore printed %v", r)
	}

	// The first device did not approve the restored one: a send warns,
	// with the command that revokes it, and carries no copy to it.
	r = alice.ok("", "send", "bob", "before approval")
	if !strings.Contains(r.stderr, "!!! WARNING: a device you did not approve") || !strings.Contains(r.stderr, "sealpost devices revoke 2") {
		t.Errorf("send with an unapproved own device warned:\n%s", r.stderr)
	}
	bob.receive(1)
	r = alice.ok("", "devices")
	if !strings.Contains(r.stdout, "NOT APPROVED") {
		t.Errorf("devices with an unapproved device:\n%s", r.stdout)
	}
	if r = alice.ok("", "devices", "approve", "2"); !strings.Contains(r.stdout, "Approved device 2") {
		t.Errorf("devices approve printed %v", r)
	}
	// A message to alice reaches both devices; what alice's first
	// device sends reaches bob and, as a sent copy, the second.
	id := bob.send("alice", "to both devices")
	for _, u := range []*user{alice, alice2} {
		msgs, _ := u.receive(1)
		checkMessage(t, msgs[0], id, "bob", "alice", "to both devices", false)
	}
	id = alice.send("bob", "from device 1")
	msgs, _ := bob.receive(1)
	checkMessage(t, msgs[0], id, "alice", "bob", "from device 1", false)
	msgs, _ = alice2.receive(1)
	checkMessage(t, msgs[0], id, "alice", "bob", "from device 1", true)

	r = alice.ok("", "--json", "devices")
	if strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, `"id":2,`) {
		t.Errorf("devices after restore: %s", r.stdout)
	}
	alice.ok("", "devices", "revoke", "2")
	r = alice.ok("", "--json", "devices")
	if !regexp.MustCompile(`"id":2,[^}]*"revoked":true`).MatchString(r.stdout) {
		t.Errorf("devices after revoke: %s", r.stdout)
	}
}

func TestInitServerUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpost")
	}
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u := newUser(t, nil, "carol")
	r := u.run("", "init", "--server", "https://"+addr, "--pin", strings.Repeat("ab", 32), "--trust-on-first-use", "carol")
	if r.code != exitNetwork || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("init against a closed port: %v", r)
	}
	if _, err := os.Stat(filepath.Join(u.dir, "state.db")); err == nil && !strings.Contains(r.stderr, "remove "+u.dir) {
		t.Errorf("the store was left without saying so: %v", r)
	}
}
