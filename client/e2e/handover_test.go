package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/internal/localstore"
)

// TestSendDeadlineBeforeQueueing: when ctx ends during the key-server
// look-up every Send makes, nothing is queued, and Send says so — the zero
// id and an error that is not client.ErrQueued — so the application knows
// to send again (client.Send; spec/client.md §3.3). Here sealpostd is
// stopped (SIGSTOP) so that the look-up hangs until the deadline.
func TestSendDeadlineBeforeQueueing(t *testing.T) {
	t.Parallel()
	setup := newSetup(t)
	d := setup.start(t)
	root := t.TempDir()
	alice := newPeer(t, d, root, "alice")
	bob := newPeer(t, d, root, "bob")
	first := alice.send("bob", "hello bob")
	bob.waitFor(1, 10*time.Second)

	stopProcess(t, d.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	id, err := alice.client().Send(ctx, "bob", []byte("sent while the server hangs"))
	cancel()
	if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with the server stopped: %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if id != (client.MessageID{}) || errors.Is(err, client.ErrQueued) {
		t.Fatalf("Send returned id %s and %v: it must say that nothing was queued", id, err)
	}
	// The application sends again, as told.
	again := alice.send("bob", "sent while the server hangs")
	deadline := time.Now().Add(10 * time.Second)
	for len(bob.messages()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := bob.messages()
	if len(got) != 2 || got[0].ID != first || got[1].ID != again || string(got[1].Plaintext) != "sent while the server hangs" {
		t.Fatalf("bob got %d messages, want %s then %s", len(got), first, again)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(bob.messages()); n != 2 {
		t.Fatalf("bob got %d messages, want 2", n)
	}
	alice.close()
	var queued []localstore.Outgoing
	st, err := localstore.Open(context.Background(), alice.cfg.Dir, localstore.Passphrase([]byte(passphrase)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(context.Background(), func(tx localstore.Tx) error {
		queued, err = tx.OutgoingQueue(100)
		return err
	})
	if err != nil || len(queued) != 0 {
		t.Fatalf("alice's outgoing queue holds %d envelopes (%v), want none", len(queued), err)
	}
}

// stopProcess sends SIGSTOP to pid and waits until every one of its
// threads is stopped. kill(2) returns before the stop takes effect: a
// thread already running finishes its time slice, so without the wait the
// server can still answer a request or two (on a busy machine, the look-up
// of the very Send that is meant to hang).
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !processStopped(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped 5 s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// processStopped reports whether every thread of pid is in the stopped
// state (proc(5): the third field of /proc/PID/task/TID/stat is "T").
func processStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The command name, in parentheses, may hold spaces: the state
		// follows the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}

// TestCrashBeforeAckLosesNothing: the hand-over window of spec/client.md
// §5.2–5.3. The receiver takes a message from Messages, waits 300 ms (as
// an application writing to its own database would), prints it and only
// then acks it; killed during that wait, it gets the message again after a
// restart: nothing is lost, nothing shown twice.
func TestCrashBeforeAckLosesNothing(t *testing.T) {
	t.Parallel()
	const total = 5
	setup := newSetup(t)
	d := setup.start(t)
	root := t.TempDir()
	alice := newPeer(t, d, root, "alice")
	bob := newPeer(t, d, root, "bob")
	bob.close()
	for i := range total {
		alice.send("bob", label("msg", i))
	}

	r := startReceiver(t, d, bob.cfg.Dir, filepath.Join(root, "receiver-0.stderr"), "-hold", "300ms")
	var lines []receiverLine
	select {
	case l, ok := <-r.lines:
		if !ok {
			t.Fatalf("receiver exited:\n%s", tail(r.stderr, 30))
		}
		lines = append(lines, l)
	case <-time.After(30 * time.Second):
		t.Fatalf("no message after 30s:\n%s", tail(r.stderr, 30))
	}
	// The receiver has printed and acked msg-0000 and now holds
	// msg-0001, taken from the channel but not acked.
	time.Sleep(150 * time.Millisecond)
	r.kill(t)
	for l := range r.lines {
		lines = append(lines, l)
	}

	r = startReceiver(t, d, bob.cfg.Dir, filepath.Join(root, "receiver-1.stderr"))
	deadline := time.After(15 * time.Second)
	for len(lines) < total {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("receiver exited:\n%s", tail(r.stderr, 30))
			}
			lines = append(lines, l)
		case <-deadline:
			var texts []string
			for _, l := range lines {
				texts = append(texts, l.Text)
			}
			t.Fatalf("shown %q after a crash while the application held the next message; want all %d", texts, total)
		}
	}
	for i, l := range lines {
		if l.Text != label("msg", i) {
			t.Fatalf("line %d: %q, want %q", i, l.Text, label("msg", i))
		}
	}
}
