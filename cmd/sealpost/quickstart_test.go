package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestQuickstart runs README.md's Quickstart as written: the commands are
// read from the README when the test runs (so the two cannot drift),
// turned into a testscript script and run in a directory that mirrors the
// repository root (each top-level entry a symbolic link), so that
// "go run ./cmd/sealpostd" and "go build -o sealpost ./cmd/sealpost" work
// unchanged and what they create (sealpost-data, alice, bob, the sealpost
// binary) lands in the test's directory, not in the checkout.
//
// Substitutions, each unavoidable:
//   - sealpostd gets "--listen 127.0.0.1:PORT" on a free port, and each
//     "init" gets "--server https://127.0.0.1:PORT" to match: the README's
//     port 8443 may be taken — by a sealpostd started by following this
//     very README, or by another test — and a fixed port would make the
//     test fail for reasons that are not the README's.
//   - "go test ./..." is not run: it is the command that runs this test.
//   - The passphrases come from SEALPOST_PASSPHRASE, as the README says
//     scripts do (init and the others would otherwise ask on a terminal),
//     and SEALPOST_TEST_WORKFACTOR keeps scrypt fast.
//
// After each "listen --count 1" the script checks that the message sent to
// that user by the README's "send" before it was printed.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpostd and sealpost as README.md's Quickstart does")
	}
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := quickstartCommands(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	script, err := quickstartScript(cmds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("README.md's Quickstart as a script:\n%s", script)
	file := filepath.Join(t.TempDir(), "quickstart.txtar")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	goEnv := goEnvironment(t)
	testscript.Run(t, testscript.Params{
		Files: []string{file},
		Setup: func(e *testscript.Env) error {
			if err := mirrorRepo(root, e.WorkDir); err != nil {
				return err
			}
			for k, v := range goEnv {
				e.Setenv(k, v)
			}
			e.Setenv("SEALPOST_DIR", "")
			e.Setenv("SEALPOST_PASSPHRASE", "a passphrase for the quickstart")
			e.Setenv("SEALPOST_TEST_WORKFACTOR", "10")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"readme-server": readmeServer,
		},
		RequireExplicitExec: true,
	})
}

// quickstartCommands returns the commands of README.md's Quickstart
// section: its lines indented by four spaces, in order.
func quickstartCommands(readme string) ([]string, error) {
	_, section, ok := strings.Cut(readme, "\n## Quickstart\n")
	if !ok {
		return nil, fmt.Errorf("README.md has no Quickstart section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var cmds []string
	for _, line := range strings.Split(section, "\n") {
		if c, ok := strings.CutPrefix(line, "    "); ok && strings.TrimSpace(c) != "" {
			cmds = append(cmds, strings.TrimSpace(c))
		}
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("README.md's Quickstart has no commands")
	}
	return cmds, nil
}

// shellWords splits a command line as a POSIX shell would for the simple
// lines of the README: words, "double" and 'single' quotes. Anything
// fancier is refused, so that the README stays runnable as written.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '"' || c == '\'':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", line)
			}
			q := line[i+1 : i+1+j]
			if c == '"' && strings.ContainsAny(q, "$`\\") {
				return nil, fmt.Errorf("shell expansion in %q", line)
			}
			cur.WriteString(q)
			inWord = true
			i += j + 1
		case strings.IndexByte("$`\\|&;<>()*?[]{}~#", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q in %q: keep the Quickstart's commands plain", c, line)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// scriptQuote quotes a word for a testscript line.
func scriptQuote(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t'#$\"\\") {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", "''") + "'"
}

// quickstartScript turns the README's commands into a testscript script
// (see TestQuickstart for what is substituted and checked).
func quickstartScript(cmds []string) (string, error) {
	var b strings.Builder
	b.WriteString("# README.md's Quickstart, generated by quickstart_test.go.\n")
	handles := map[string]string{} // --dir → handle
	sent := map[string][]string{}  // handle → regexps of the "from (device 1): text" lines not yet listened for
	files := map[string][]string{} // handle → files sent to it, to be saved by its listen --save-dir
	server := false
	for _, line := range cmds {
		w, err := shellWords(line)
		if err != nil {
			return "", err
		}
		switch {
		case len(w) >= 2 && w[0] == "go" && w[1] == "test":
			fmt.Fprintf(&b, "\n# %s\n# (not run: it is the command that runs this test)\n", line)
			continue
		case len(w) >= 3 && w[0] == "go" && w[1] == "run" && w[2] == "./cmd/sealpostd":
			fmt.Fprintf(&b, "\n# %s\n# (on a free port: readme-server adds --listen 127.0.0.1:$PORT)\n", line)
			b.WriteString("readme-server")
			for _, x := range w {
				b.WriteString(" " + scriptQuote(x))
			}
			b.WriteString("\n")
			server = true
			continue
		case w[0] == "go":
			fmt.Fprintf(&b, "\n# %s\nexec", line)
			for _, x := range w {
				b.WriteString(" " + scriptQuote(x))
			}
			b.WriteString("\n")
			continue
		case w[0] != "./sealpost":
			return "", fmt.Errorf("Quickstart command %q: want go or ./sealpost", line)
		}
		if !server {
			return "", fmt.Errorf("Quickstart runs %q before the server", line)
		}
		// ./sealpost [--dir DIR] COMMAND args...
		dir, i := "", 1
		if len(w) > 2 && w[1] == "--dir" {
			dir, i = w[2], 3
		}
		if i >= len(w) {
			return "", fmt.Errorf("Quickstart command %q: no sealpost command", line)
		}
		args := append([]string(nil), w...)
		fmt.Fprintf(&b, "\n# %s\n", line)
		var checks []string
		switch w[i] {
		case "init":
			handles[dir] = w[len(w)-1]
			// The server's free port (see TestQuickstart).
			args = append(args[:i+1], append([]string{"--server", "https://127.0.0.1:$PORT"}, args[i+1:]...)...)
			checks = append(checks, "stdout "+scriptQuote("^Registered "+regexp.QuoteMeta(handles[dir])+", device 1; "))
		case "send":
			if path, ok := strings.CutPrefix(w[i+1], "--file="); ok && len(w) == i+3 {
				// send --file=PATH HANDLE: listen shows "[file NAME, SIZE,
				// TYPE]" and --save-dir saves the file as it is.
				to, name := w[i+2], filepath.Base(path)
				sent[to] = append(sent[to], regexp.QuoteMeta(handles[dir]+" (device 1): [file "+name+", ")+`.*\]$`)
				files[to] = append(files[to], path)
				checks = append(checks, "stdout '^[0-9a-f]{32}$'")
				break
			}
			if len(w) != i+3 {
				return "", fmt.Errorf("Quickstart send %q: want HANDLE MESSAGE, or --file=PATH HANDLE", line)
			}
			sent[w[i+1]] = append(sent[w[i+1]], regexp.QuoteMeta(handles[dir]+" (device 1): "+w[i+2])+"$")
			checks = append(checks, "stdout '^[0-9a-f]{32}$'")
		case "listen":
			h := handles[dir]
			for _, m := range sent[h] {
				checks = append(checks, "stdout "+scriptQuote("  "+m))
			}
			if len(sent[h]) == 0 {
				return "", fmt.Errorf("Quickstart listens as %s before anything was sent to it", h)
			}
			sent[h] = nil
			saveDir := ""
			for j := i + 1; j < len(w)-1; j++ {
				if w[j] == "--save-dir" {
					saveDir = w[j+1]
				}
			}
			for _, f := range files[h] {
				if saveDir == "" {
					return "", fmt.Errorf("Quickstart sends %s a file and listens without --save-dir", h)
				}
				checks = append(checks, "cmp "+scriptQuote(filepath.Join(saveDir, filepath.Base(f)))+" "+scriptQuote(f))
			}
			files[h] = nil
		}
		b.WriteString("exec")
		for _, x := range args {
			if x == "https://127.0.0.1:$PORT" {
				b.WriteString(" " + x)
				continue
			}
			b.WriteString(" " + scriptQuote(x))
		}
		b.WriteString("\n")
		for _, c := range checks {
			b.WriteString(c + "\n")
		}
	}
	if !server {
		return "", fmt.Errorf("the Quickstart does not start the server")
	}
	return b.String(), nil
}

// mirrorRepo links each top-level entry of the repository root into dir,
// leaving out dot files and what the Quickstart creates.
func mirrorRepo(root, dir string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch n := e.Name(); {
		case strings.HasPrefix(n, "."), n == "sealpost", n == "sealpost-data", n == "alice", n == "bob":
			continue
		default:
			if err := os.Symlink(filepath.Join(root, n), filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// goEnvironment is what the go command needs in a script's environment
// (testscript sets HOME to a directory that does not exist).
func goEnvironment(t *testing.T) map[string]string {
	keys := []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOSUMDB", "GOFLAGS", "GOTOOLCHAIN", "GONOSUMDB", "GOPRIVATE"}
	out, err := exec.Command("go", append([]string{"env"}, keys...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	vals := strings.Split(string(out), "\n")
	if len(vals) < len(keys) {
		t.Fatalf("go env printed %q", out)
	}
	env := map[string]string{}
	for i, k := range keys {
		if vals[i] != "" {
			env[k] = vals[i]
		}
	}
	return env
}

// readmeServer runs the README's server command ("go run
// ./cmd/sealpostd") in the script's directory with --listen on a free
// port, in a process group of its own (go run starts sealpostd as its
// child, and both must stop with the script), waits until it says it
// listens, and sets $PORT.
func readmeServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: readme-server COMMAND...")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(args[0], append(args[1:], "--listen", "127.0.0.1:"+port)...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = os.Environ()
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOSUMDB", "GOFLAGS", "GOTOOLCHAIN"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	ts.Check(err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	ts.Check(cmd.Start())
	exited := make(chan struct{})
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
	ts.Defer(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	// Whatever happens, keep reading, so that the exit is seen.
	defer func() {
		go func() {
			for range lines {
			}
		}()
	}()
	// go run compiles sealpostd first.
	timeout := time.After(5 * time.Minute)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				<-exited
				ts.Fatalf("%s exited before it was ready:\n%s", strings.Join(args, " "), stderr.String())
			}
			ts.Logf("%s", line)
			ready = strings.HasPrefix(line, "sealpostd: key server listening on https://127.0.0.1:"+port)
		case <-timeout:
			ts.Fatalf("%s not ready after 5 minutes", strings.Join(args, " "))
		}
	}
	ts.Setenv("PORT", port)
}
