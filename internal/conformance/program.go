package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
)

// Program is an implementation under test, started as a process that
// speaks the protocol on its standard input and output; its standard error
// goes to ours.
type Program struct {
	cmd *exec.Cmd
	w   io.WriteCloser
	r   *bufio.Reader
}

// Start starts argv[0] with the rest of argv as its arguments. The process
// is killed when ctx ends.
func Start(ctx context.Context, argv []string) (*Program, error) {
	if len(argv) == 0 {
		return nil, errors.New("conformance: no program")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	return &Program{cmd: cmd, w: w, r: bufio.NewReader(r)}, nil
}

// Run asks the program every check of s (see the package function Run).
func (p *Program) Run(s *Suite) ([]Outcome, error) { return Run(p.w, p.r, s) }

// Close closes the program's standard input, which tells it to exit, and
// waits for it.
func (p *Program) Close() error {
	p.w.Close()
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("conformance: %s: %w", p.cmd.Path, err)
	}
	return nil
}

// Test runs s against h, the Go implementation's answers, through the
// protocol's JSON lines over in-memory pipes, and fails t for every check
// that does not pass: a package's TestConformance calls it so that the
// suite and the code it describes cannot drift apart. Skipping a check
// (unsupported) also fails.
func Test(t *testing.T, s *Suite, h Handler) {
	t.Helper()
	reqR, reqW := io.Pipe()
	ansR, ansW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Serve(reqR, ansW, h)
		ansW.CloseWithError(err)
		done <- err
	}()
	out, err := Run(reqW, bufio.NewReader(ansR), s)
	reqW.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no checks", s.File)
	}
	for _, o := range out {
		if o.Status != "pass" {
			t.Errorf("%s %s: %s %s", o.File, o.ID, o.Status, o.Detail)
		}
	}
}
