package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
)

// receiverLine is one line the receiver prints (client/e2e/receiver).
type receiverLine struct {
	ID   string `json:"id"`
	From string `json:"from"`
	Text string `json:"text"`
}

// receiverRun is one run of the receiver process.
type receiverRun struct {
	cmd    *exec.Cmd
	lines  chan receiverLine // closed when its stdout closes
	stderr string
	exited chan struct{}
}

// startReceiver runs the receiver on dir. Its stderr (the client's logs)
// goes to a file.
func startReceiver(t *testing.T, d *daemon, dir, stderrPath string, flags ...string) *receiverRun {
	t.Helper()
	_, bin := binaries(t)
	errFile, err := os.Create(stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	r := &receiverRun{lines: make(chan receiverLine, 1024), stderr: stderrPath, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"-dir", dir, "-keyserver", d.url(), "-pin", d.fp, "-log-key", d.logKey}, flags...)...)
	r.cmd.Env = append(os.Environ(), "SEALPOST_E2E_PASSPHRASE="+passphrase)
	r.cmd.Stderr = errFile
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.kill(t) })
	go func() {
		defer close(r.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l receiverLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("receiver printed %q: %v", sc.Text(), err)
				continue
			}
			r.lines <- l
		}
		close(r.lines)
		r.cmd.Wait()
	}()
	return r
}

// kill sends SIGKILL and waits for the process and its output to end.
func (r *receiverRun) kill(t *testing.T) {
	t.Helper()
	select {
	case <-r.exited:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// TestReceiverSIGKILL kills the receiving client's process with SIGKILL
// at random moments while alice's messages flow, and restarts it on the
// same store each time (spec/client.md §5.2, §5.3). Every message must be
// shown, in order, once — except in the one documented window: a message
// taken from Messages whose inbox entry was not yet deleted when the
// process died is offered again first after the restart. So the only
// duplicate allowed is the last line a killed run printed reappearing as
// the next run's first line.
func TestReceiverSIGKILL(t *testing.T) {
	t.Parallel()
	const total = 200
	setup := newSetup(t)
	d := setup.start(t)
	root := t.TempDir()
	alice := newPeer(t, d, root, "alice")
	bob := newPeer(t, d, root, "bob")
	bob.close() // the receiver process takes over bob's store

	// Alice sends in the background, one message after the other.
	var (
		mu   sync.Mutex
		ids  = map[int]client.MessageID{}
		sent = make(chan error, 1)
	)
	go func() {
		c := alice.client()
		for i := range total {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			id, err := c.Send(ctx, "bob", []byte(label("msg", i)))
			cancel()
			if err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
			mu.Lock()
			ids[i] = id
			mu.Unlock()
		}
		sent <- nil
	}()

	kills := 2 + rand.IntN(2)
	var runs [][]receiverLine
	seen := map[string]bool{}
	for run := 0; ; run++ {
		final := run == kills
		r := startReceiver(t, d, bob.cfg.Dir, filepath.Join(root, fmt.Sprintf("receiver-%d.stderr", run)))
		killAfter := 10 + rand.IntN(50) // lines of this run
		var lines []receiverLine
		timeout := time.After(60 * time.Second)
		for {
			if final && len(seen) == total {
				break
			}
			if !final && len(lines) == killAfter {
				// Right after a line, while the client
				// commits its hand-over (the window of
				// spec/client.md §5.3: hit about half the
				// time), or at a random moment soon after.
				if rand.IntN(2) == 0 {
					time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
				}
				break
			}
			select {
			case l, ok := <-r.lines:
				if !ok {
					t.Fatalf("receiver run %d exited after %d lines:\n%s", run, len(lines), tail(r.stderr, 30))
				}
				lines = append(lines, l)
				seen[l.ID] = true
			case <-timeout:
				t.Fatalf("receiver run %d: %d lines, %d distinct messages of %d after 60s:\n%s", run, len(lines), len(seen), total, tail(r.stderr, 30))
			}
		}
		if final {
			r.cmd.Process.Signal(syscall.SIGTERM)
		} else {
			r.cmd.Process.Signal(syscall.SIGKILL)
		}
		for l := range r.lines { // what it printed before it died
			lines = append(lines, l)
			seen[l.ID] = true
		}
		<-r.exited
		if final && r.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("receiver exited with %v after SIGTERM:\n%s", r.cmd.ProcessState, tail(r.stderr, 30))
		}
		runs = append(runs, lines)
		if final {
			break
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}

	// Every message in order; a repeat only as the documented window.
	next, dups := 0, 0
	var last *receiverLine
	for run, lines := range runs {
		for j, l := range lines {
			n, ok := strings.CutPrefix(l.Text, "msg-")
			seq, err := strconv.Atoi(n)
			if !ok || err != nil || l.From != "alice" {
				t.Fatalf("run %d line %d: %+v", run, j, l)
			}
			if want := ids[seq].String(); l.ID != want {
				t.Errorf("run %d line %d: %s has id %s, Send returned %s", run, j, l.Text, l.ID, want)
			}
			switch {
			case seq == next:
				next++
			case j == 0 && last != nil && l == *last:
				dups++
				t.Logf("run %d shows %s again first (killed after taking it, before its hand-over committed)", run, l.Text)
			default:
				t.Fatalf("run %d line %d: %s, want %s (runs printed %v)", run, j, l.Text, label("msg", next), runLengths(runs))
			}
		}
		if len(lines) > 0 {
			last = &lines[len(lines)-1]
		}
	}
	if next != total {
		t.Fatalf("shown %d of %d messages", next, total)
	}
	t.Logf("%d kills; runs printed %v lines; %d messages shown again after a kill", kills, runLengths(runs), dups)

	// The store has nothing left to show: reopened in this process, bob
	// gets no message.
	bob.open()
	time.Sleep(500 * time.Millisecond)
	if got := bob.messages(); len(got) != 0 {
		t.Errorf("after the receiver's clean exit bob is offered %d messages again, first %q", len(got), got[0].Plaintext)
	}
	bob.checkEvents()
}

func runLengths(runs [][]receiverLine) []int {
	n := make([]int, len(runs))
	for i, r := range runs {
		n[i] = len(r)
	}
	return n
}
