package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLinkCLI: alice links a second device with 'sealpost link' and
// 'sealpost devices add'. The typed code is compared; the new device gets
// bob as verified, receives a message to alice, sends one bob gets as
// alice's, and both list the device by name. A wrong code declines: both
// commands fail, nothing is added, and the new directory can link again.
func TestLinkCLI(t *testing.T) {
	alice, bob := startPair(t)
	srv := alice.srv
	alice.send("bob", "hello")
	bob.receive(1)
	alice.ok("", "verify", "--yes", "bob")

	laptop := newUser(t, srv, "laptop")

	// A wrong code first.
	linkOut, linkDone := laptop.startLink(t)
	uri := readLinkJSON(t, linkOut, "uri")
	add, addIn, addOut := alice.startDevicesAdd(t, uri)
	code := readLinkJSON(t, linkOut, "code")
	if len(code) != 7 {
		t.Fatalf("code %q", code)
	}
	io.WriteString(addIn, "000 000\n")
	addIn.Close()
	if err := waitCmd(t, add); exitOf(err) != exitFailure || !strings.Contains(addOut.String(), "link_declined") {
		t.Fatalf("devices add with a wrong code: %v\n%s", err, addOut.String())
	}
	if r := waitResult(t, linkDone); r.code != exitFailure || !strings.Contains(r.stderr, "link_declined") {
		t.Fatalf("link after a declined code: %v", r)
	}
	for _, f := range []string{"state.db", "key.age", configFile} {
		if _, err := os.Stat(filepath.Join(laptop.dir, f)); err == nil {
			t.Errorf("a declined link left %s behind", f)
		}
	}
	if r := alice.ok("", "--json", "devices"); strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("devices after a declined link: %s", r.stdout)
	}

	// The right code.
	linkOut, linkDone = laptop.startLink(t)
	uri = readLinkJSON(t, linkOut, "uri")
	add, addIn, addOut = alice.startDevicesAdd(t, uri)
	code = readLinkJSON(t, linkOut, "code")
	io.WriteString(addIn, code+"\n")
	addIn.Close()
	if err := waitCmd(t, add); err != nil {
		t.Fatalf("devices add: %v\n%s", err, addOut.String())
	}
	if !strings.Contains(addOut.String(), `"device":2`) {
		t.Errorf("devices add printed %s", addOut.String())
	}
	r := waitResult(t, linkDone)
	if r.code != 0 || !strings.Contains(r.stdout, `"device":2`) {
		t.Fatalf("link: %v", r)
	}

	if r := laptop.ok("", "contacts"); !regexp.MustCompile(`(?m)^bob\s+yes\s`).MatchString(r.stdout) {
		t.Errorf("contacts on the linked device:\n%s", r.stdout)
	}
	id := bob.send("alice", "to both of alice's devices")
	for _, u := range []*user{alice, laptop} {
		msgs, _ := u.receive(1)
		checkMessage(t, msgs[0], id, "bob", "alice", "to both of alice's devices", false)
	}
	id = laptop.send("bob", "from the laptop")
	msgs, _ := bob.receive(1)
	checkMessage(t, msgs[0], id, "alice", "bob", "from the laptop", false)
	for _, u := range []*user{alice, laptop} {
		r := u.ok("", "devices")
		if !strings.Contains(r.stdout, "laptop") || strings.Contains(r.stdout, "NOT APPROVED") {
			t.Errorf("devices on device %s:\n%s", u.dir, r.stdout)
		}
	}
	// The URI was used: a second add finds nothing.
	if r := alice.run("yes\n", "devices", "add", uri); r.code != exitFailure || !strings.Contains(r.stderr, "no such link") {
		t.Errorf("devices add with a used URI: %v", r)
	}
	if r := alice.run("", "devices", "add", "sealpost://link?v=1&r=x"); r.code != exitUsage {
		t.Errorf("devices add with a malformed URI: %v", r)
	}
}

// startLink runs 'sealpost --json link --account alice' in u's directory
// and returns its standard output, line by line as printed, and its
// result.
func (u *user) startLink(t *testing.T) (<-chan string, <-chan result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := u.command(ctx, "", "--json", "link", "--account", "alice", "--name", "laptop",
		"--server", u.srv.url, "--pin", u.srv.pin, "--log-key", u.srv.logKey)
	pr, pw := io.Pipe()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(pw, &stdout)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		// Read to the end, whoever listens: the command must never
		// block on its output.
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	done := make(chan result, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		done <- result{code: exitOf(err), stdout: stdout.String(), stderr: stderr.String()}
	}()
	return lines, done
}

// startDevicesAdd runs 'sealpost --json devices add URI' with standard
// input to write the code to.
func (u *user) startDevicesAdd(t *testing.T, uri string) (interface{ Wait() error }, io.WriteCloser, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := u.command(ctx, "", "--json", "devices", "add", uri)
	cmd.Stdin = nil
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, in, &out
}

// readLinkJSON reads link's --json lines until one has field, and returns
// its value.
func readLinkJSON(t *testing.T, lines <-chan string, field string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("link ended before printing %s", field)
			}
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			if v, ok := m[field].(string); ok {
				return v
			}
		case <-timeout:
			t.Fatalf("link printed no %s within 60 s", field)
		}
	}
}

// waitCmd waits for a command started in the background.
func waitCmd(t *testing.T, c interface{ Wait() error }) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(90 * time.Second):
		t.Fatal("the command did not end within 90 s")
	}
	return nil
}

// waitResult waits for a command started in the background.
func waitResult(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(90 * time.Second):
		t.Fatal("the command did not end within 90 s")
	}
	return result{}
}

// exitOf is the exit status of a finished command.
func exitOf(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		return ee.ExitCode()
	}
	return -1
}
