package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testbin"
	"golang.org/x/sys/unix"
)

// ptyRun is sealpost running on a pseudo-terminal.
type ptyRun struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	out    *testbin.SyncBuffer // what the terminal shows
	done   chan error
	other  *ptyRun // the other side, shown when a wait fails
}

func (u *user) onPTY(ctx context.Context, args ...string) *ptyRun {
	u.t.Helper()
	master, slave := openPTY(u.t)
	cmd := u.command(ctx, "", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	p := &ptyRun{t: u.t, master: master, slave: slave, out: new(testbin.SyncBuffer), done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	return p
}

// waitFor waits until the terminal shows s after what it showed at from
// (a length of out), and returns where s ends.
func (p *ptyRun) waitFor(from int, s string) int {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := p.out.String()
		if i := strings.Index(out[min(from, len(out)):], s); i >= 0 {
			return from + i + len(s)
		}
		other := ""
		if p.other != nil {
			other = p.other.out.String()
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal does not show %q; it shows %q\n(the other terminal shows %q)", s, out[min(from, len(out)):], other)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *ptyRun) wait() {
	p.t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("exit: %v; the terminal shows %q", err, p.out.String())
		}
	case <-time.After(20 * time.Second):
		p.t.Fatalf("still running; the terminal shows %q", p.out.String())
	}
	tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		p.t.Fatal(err)
	}
	if tio.Lflag&unix.ECHO == 0 || tio.Lflag&unix.ICANON == 0 {
		p.t.Error("the terminal was left without echo or line editing")
	}
}

// TestChatTerminal runs two chats on pseudo-terminals: what alice types
// shows as typing in bob's chat, the line sent appears there, and alice's
// chat shows the line with its id and its state as bob's chat marks it
// read.
func TestChatTerminal(t *testing.T) {
	alice, bob := startPair(t)
	// Sessions both ways: typing goes only to devices with one.
	alice.send("bob", "first")
	bob.receive(1)
	bob.send("alice", "second")
	alice.receive(1)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bc := bob.onPTY(ctx, "chat", "alice")
	ac := alice.onPTY(ctx, "chat", "--presence", "bob")
	ac.other, bc.other = bc, ac
	// Each chat redraws its (empty) line once connected.
	bc.waitFor(bc.waitFor(0, "Chat with alice as bob."), "\r\x1b[K")
	ac.waitFor(ac.waitFor(0, "Chat with bob as alice."), "\r\x1b[K")

	bc.waitFor(0, "sealpost: alice is online (device 1)\r\n")
	ac.master.WriteString("hel")
	at := 0
	for deadline := time.Now().Add(30 * time.Second); at == 0; time.Sleep(20 * time.Millisecond) {
		if i := strings.Index(bc.out.String(), "(alice typing…) "); i >= 0 {
			at = i
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's chat does not show alice typing: %q\n(alice's shows %q)", bc.out.String(), ac.out.String())
		}
	}
	ac.master.WriteString("lo\x7fo bob\r")
	got := bc.waitFor(at, "alice (device 1): hello bob\r\n")
	// The message (and alice's stop) clears the typing before bob's line.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := bc.out.String()[got:]
		if i := strings.LastIndex(out, "\r\x1b[K"); i >= 0 && out[i:] == "\r\x1b[K" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's line after the message: %q", out)
		}
	}
	// Shown and marked read by bob's chat: alice's shows the line, then
	// its state.
	line := ac.waitFor(0, "→ bob: hello bob  ✓\r\n")
	shown := ac.out.String()[:line]
	i := strings.LastIndex(shown, "  → bob: hello bob")
	id := shown[i-8 : i]
	ac.waitFor(line, "→ "+id+" ✓✓ read\r\n")
	if strings.Contains(ac.out.String(), "hel\x1b") {
		t.Errorf("the typed line was not redrawn cleanly: %q", ac.out.String())
	}

	// Ctrl-D on an empty line ends both, restoring the terminals.
	ac.master.WriteString("\x04")
	bc.master.WriteString("\x04")
	ac.wait()
	bc.wait()
}
