package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// stdio is what a run of sealpost talks to: its streams, its environment
// and the terminal behind standard input, replaceable in tests.
type stdio struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// term is the terminal on standard input, for passphrase prompts.
	term terminal
	// stderrTTY reports whether standard error is a terminal (progress bar).
	stderrTTY bool
	getenv    func(string) string
	// loc is the time zone of human output.
	loc *time.Location
}

func newStdio() stdio {
	return stdio{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		term:      fdTerminal{fd: int(os.Stdin.Fd()), out: os.Stderr},
		stderrTTY: isTerminal(int(os.Stderr.Fd())),
		getenv:    os.Getenv,
		loc:       time.Local,
	}
}

// app is one run of sealpost: the global options and the streams.
type app struct {
	stdio
	in *bufio.Reader // all reads of standard input go through it

	dir      string
	json     bool
	passFile string
	verbose  bool

	cmd   string     // the command being run, for error messages
	outMu sync.Mutex // serialises writes to stdout and stderr
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is sealpost with its arguments; it returns the exit status.
func run(ctx context.Context, args []string, s stdio) int {
	a := &app{stdio: s, in: bufio.NewReader(s.stdin)}
	err := a.dispatch(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		a.reportError(err)
	}
	return exitCode(err)
}

// reportError prints err as one line on stderr, with a hint where one
// helps.
func (a *app) reportError(err error) {
	prefix := "sealpost: "
	if a.cmd != "" {
		prefix += a.cmd + ": "
	}
	msg := oneLine(err.Error())
	if h := hint(err); h != "" {
		msg += " (" + h + ")"
	}
	var u *usageError
	if errors.As(err, &u) {
		if a.cmd != "" && a.cmd != "help" {
			msg += fmt.Sprintf("; run 'sealpost help %s' for usage", a.cmd)
		} else {
			msg += "; run 'sealpost help' for usage"
		}
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	fmt.Fprintln(a.stderr, prefix+msg)
}

// dispatch parses the global flags and the command name and runs the
// command.
func (a *app) dispatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sealpost", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printOverview(a.stdout)
			return flag.ErrHelp
		}
		return usagef("%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		a.printOverview(a.stderr)
		return &usageError{msg: "no command given"}
	}
	name := rest[0]
	cmd := lookup(name)
	if cmd == nil {
		return usagef("unknown command %q", name)
	}
	a.cmd = name
	cfs := flag.NewFlagSet("sealpost "+name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	a.globalFlags(cfs)
	runCmd := cmd.setup(cfs)
	pos, err := parseInterspersed(cfs, rest[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printCommandHelp(a.stdout, cmd)
			return flag.ErrHelp
		}
		return usagef("%v", err)
	}
	if err := a.resolveDir(); err != nil {
		return err
	}
	return runCmd(ctx, a, pos)
}

// globalFlags binds the global flags to a; every command's flag set has
// them too, so they may come before or after the command name.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.dir, "dir", a.dir, "store `directory` (default $SEALPOST_DIR, else ~/.sealpost)")
	fs.BoolVar(&a.json, "json", a.json, "machine output: one JSON object per line")
	fs.StringVar(&a.passFile, "passphrase-file", a.passFile, "read the passphrase from the first line of `file`")
	fs.BoolVar(&a.verbose, "verbose", a.verbose, "log the client's diagnostics to standard error")
	fs.BoolVar(&a.verbose, "v", a.verbose, "short for --verbose")
}

// isGlobalFlag reports whether name is one of the global flags, which
// command help lists apart.
func isGlobalFlag(name string) bool {
	switch name {
	case "dir", "json", "passphrase-file", "verbose", "v":
		return true
	}
	return false
}

// parseInterspersed parses fs over args, letting flags and positional
// arguments mix; "--" ends the flags. It returns the positional
// arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// resolveDir fills in the default store directory.
func (a *app) resolveDir() error {
	if a.dir == "" {
		a.dir = a.getenv("SEALPOST_DIR")
	}
	if a.dir == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return usagef("no --dir given, SEALPOST_DIR unset and no home directory")
		}
		a.dir = filepath.Join(home, ".sealpost")
	}
	abs, err := filepath.Abs(a.dir)
	if err != nil {
		return fmt.Errorf("--dir %q: %w", a.dir, err)
	}
	a.dir = abs
	return nil
}

// logger is the client's logger: errors only, or everything with
// --verbose.
func (a *app) logger() *slog.Logger {
	level := slog.LevelError
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(lockedWriter{a}, &slog.HandlerOptions{Level: level}))
}

// lockedWriter writes to stderr under the output lock.
type lockedWriter struct{ a *app }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.a.outMu.Lock()
	defer w.a.outMu.Unlock()
	return w.a.stderr.Write(p)
}

// emit writes v as one JSON line on stdout.
func (a *app) emit(v any) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own types are encoded; they always marshal.
		return
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	io.WriteString(a.stdout, b.String())
}

// printf writes human output to stdout.
func (a *app) printf(format string, args ...any) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	fmt.Fprintf(a.stdout, format, args...)
}

// notef writes a note for people to stderr.
func (a *app) notef(format string, args ...any) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	fmt.Fprintf(a.stderr, format, args...)
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "; ")
	s = strings.ReplaceAll(s, "\n", "; ")
	return escapeText([]byte(s), false)
}
