package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sealpost/sealpost/internal/testbin"
	"github.com/sealpost/sealpost/tlsconfig"
)

// The command tests are testscript scripts (testdata/script/*.txtar), the
// Go ecosystem's convention for a command's tests: each runs the real
// sealpost (this test binary re-executed as its main, see TestMain)
// against a real sealpostd child process.

func TestMain(m *testing.M) {
	testscript.Main(cleanupM{m}, map[string]func(){
		"sealpost": main,
	})
}

// cleanupM removes the binaries testbin built once the tests ran.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	testbin.Cleanup()
	return code
}

func TestScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sealpostd and sealpost")
	}
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		Setup:               scriptSetup(t),
		Cmds:                scriptCmds(t),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

// scriptSetup gives each script a clean environment: no passphrase, no
// default directory, a fast scrypt (SEALPOST_TEST_WORKFACTOR) and HOME in
// the script's work directory.
func scriptSetup(t *testing.T) func(*testscript.Env) error {
	return func(e *testscript.Env) error {
		e.Setenv("HOME", e.WorkDir)
		e.Setenv("SEALPOST_DIR", "")
		e.Setenv("SEALPOST_PASSPHRASE", "")
		e.Setenv("SEALPOST_TEST_WORKFACTOR", "10")
		return nil
	}
}

// scriptCmds are the scripts' own commands:
//
//	sealpostd [stop|flags]  start sealpostd on a free port with its data
//	                        in $WORK/sealpost-data and set $SERVER, $ADDR,
//	                        $PIN and $LOGKEY, with flags added to its own;
//	                        "stop" stops it (SIGTERM)
//	status N prog args...   run prog like exec and require exit status N
//	silent                  set $SILENT to an address that accepts TCP
//	                        connections and never answers
//	closedport              set $CLOSED to an address nothing listens on
//	jsonenv VAR FIELD       set $VAR to FIELD of the JSON object on the
//	                        last command's standard output
//	longline FILE N TEXT    write a line of N x's, then the line TEXT
func scriptCmds(t *testing.T) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"sealpostd": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) == 1 && args[0] == "stop" {
				stopDaemon(ts)
				return
			}
			startDaemon(t, ts, args...)
		},
		"status": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) < 2 {
				ts.Fatalf("usage: status N prog args...")
			}
			want, err := strconv.Atoi(args[0])
			ts.Check(err)
			err = ts.Exec(args[1], args[2:]...)
			got := 0
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				got = ee.ExitCode()
			case err != nil:
				ts.Fatalf("%s: %v", args[1], err)
			}
			if got != want {
				ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
			}
		},
		"silent": func(ts *testscript.TestScript, neg bool, args []string) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			ts.Check(err)
			var conns []net.Conn
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					conns = append(conns, c) // held open, never answered
				}
			}()
			ts.Defer(func() {
				ln.Close()
				<-done
				for _, c := range conns {
					c.Close()
				}
			})
			ts.Setenv("SILENT", ln.Addr().String())
		},
		"closedport": func(ts *testscript.TestScript, neg bool, args []string) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			ts.Check(err)
			ts.Setenv("CLOSED", ln.Addr().String())
			ln.Close()
		},
		"longline": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 3 {
				ts.Fatalf("usage: longline FILE N TEXT")
			}
			n, err := strconv.Atoi(args[1])
			ts.Check(err)
			ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Repeat("x", n)+"\n"+args[2]+"\n"), 0o600))
		},
		"jsonenv": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: jsonenv VAR FIELD")
			}
			var obj map[string]any
			ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &obj))
			v, ok := obj[args[1]].(string)
			if !ok {
				ts.Fatalf("no string field %q in %v", args[1], obj)
			}
			ts.Setenv(args[0], v)
		},
	}
}

// daemon is a script's sealpostd.
type daemon struct {
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *testbin.SyncBuffer
}

var (
	scriptMu sync.Mutex
	daemons  = map[*testscript.TestScript]*daemon{}
)

// startDaemon runs sealpostd for a script and waits until it prints its
// addresses, fingerprint and log key.
func startDaemon(t *testing.T, ts *testscript.TestScript, flags ...string) {
	_, bin := binaries(t)
	d := &daemon{exited: make(chan struct{}), stderr: new(testbin.SyncBuffer)}
	d.cmd = exec.Command(bin, append([]string{"--data-dir", ts.MkAbs("sealpost-data"), "--listen", "127.0.0.1:0", "--log-level", "warn"}, flags...)...)
	d.cmd.Stderr = d.stderr
	stdout, err := d.cmd.StdoutPipe()
	ts.Check(err)
	ts.Check(d.cmd.Start())
	vars, err := readDaemonStart(stdout, d.exited, func() { d.cmd.Wait() })
	scriptMu.Lock()
	daemons[ts] = d
	scriptMu.Unlock()
	ts.Defer(func() {
		d.cmd.Process.Kill()
		<-d.exited
		scriptMu.Lock()
		delete(daemons, ts)
		scriptMu.Unlock()
	})
	if err != nil {
		ts.Fatalf("sealpostd: %v\n%s", err, d.stderr.String())
	}
	for k, v := range vars {
		ts.Setenv(k, v)
	}
}

// readDaemonStart reads sealpostd's start lines: $SERVER (the key server
// URL), $ADDR (its host:port), $PIN and $LOGKEY. It then keeps reading
// stdout until sealpostd exits, calls wait and closes exited.
func readDaemonStart(stdout io.Reader, exited chan struct{}, wait func()) (map[string]string, error) {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		wait()
		close(exited)
	}()
	// Whatever happens, keep reading, so that sealpostd's exit is seen.
	defer func() {
		go func() {
			for range lines {
			}
		}()
	}()
	vars := map[string]string{}
	timeout := time.After(60 * time.Second)
	for vars["SERVER"] == "" || vars["PIN"] == "" || vars["LOGKEY"] == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil, errors.New("exited before it was ready")
			}
			if a, ok := strings.CutPrefix(line, "sealpostd: key server listening on "); ok {
				vars["SERVER"] = a
				vars["ADDR"] = strings.TrimPrefix(a, "https://")
			}
			if k, ok := strings.CutPrefix(line, "sealpostd: transparency log verifier key: "); ok {
				vars["LOGKEY"] = k
			}
			if f, ok := strings.CutPrefix(line, "sealpostd: TLS certificate SHA-256 fingerprint: "); ok {
				fp, err := tlsconfig.ParseFingerprint(f)
				if err != nil {
					return nil, fmt.Errorf("fingerprint line %q: %v", line, err)
				}
				vars["PIN"] = fp.String()
			}
		case <-timeout:
			return nil, errors.New("not ready after 60s")
		}
	}
	return vars, nil
}

// stopDaemon stops a script's sealpostd with SIGTERM and waits for it.
func stopDaemon(ts *testscript.TestScript) {
	scriptMu.Lock()
	d := daemons[ts]
	delete(daemons, ts)
	scriptMu.Unlock()
	if d == nil {
		ts.Fatalf("no sealpostd running")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		ts.Fatalf("sealpostd still running 30s after SIGTERM")
	}
}
