package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testbin"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair, or skips the test where there is
// none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pseudo-terminal number: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestPassphrasePrompt runs init on a real (pseudo-)terminal: the prompts
// appear, what is typed is not echoed, and a second answer that differs
// is refused with exit status 2 before anything is written.
func TestPassphrasePrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpost")
	}
	master, slave := openPTY(t)
	cli, _ := binaries(t)
	dir := filepath.Join(t.TempDir(), "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "--dir", dir, "init", "--pin", strings.Repeat("ab", 32), "--trust-on-first-use", "alice")
	cmd.Env = append(os.Environ(), "SEALPOST_PASSPHRASE=", "SEALPOST_DIR=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := new(testbin.SyncBuffer)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q on the terminal; it shows %q", s, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("Passphrase for " + dir + ": ")
	master.WriteString("xyzzy-first\n")
	waitFor("Repeat passphrase for " + dir + ": ")
	master.WriteString("plugh-second\n")
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Errorf("init with different answers: %v; terminal shows %q", err, out.String())
	}
	waitFor("do not match")
	if s := out.String(); strings.Contains(s, "xyzzy") || strings.Contains(s, "plugh") {
		t.Errorf("the passphrase was echoed: %q", s)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("refused init created %s", dir)
	}
	// Echo is back on after the prompt.
	var tio *unix.Termios
	if tio, err = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ECHO == 0 {
		t.Error("the terminal was left without echo")
	}
}
