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
	// stderrTTY reports whether standard error is a terminal (progress
	// bar); stdoutTTY the same of standard output (chat's line editor).
	stderrTTY, stdoutTTY bool
	getenv               func(string) string
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
		stdoutTTY: isTerminal(int(os.Stdout.Fd())),
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
	// saveDir: listen --save-dir.
	saveDir string
	// offline: the command does not talk to the servers (no probe).
	offline bool
	// noReceipts: the client sends no delivery or read receipts (listen
	// and chat --no-receipts).
	noReceipts bool

	cmd   string     // the command being run, for error messages
	outMu sync.Mutex // serialises writes to stdout and stderr
	// live is the line being typed in chat on a terminal (lineedit.go),
	// kept below everything else written; guarded by outMu.
	live *liveLine

	noteMu   sync.Mutex
	lastNote error // the client's last warning's error (logger)
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

// reportError prints err as one line on stderr, free of the libraries'
// package prefixes, with a hint where one helps; with --json, as one JSON
// object (jsonError) on stderr instead, so that standard output holds only
// results.
func (a *app) reportError(err error) {
	msg := describe(err)
	h := hint(err)
	if a.cmd == "init" || a.cmd == "restore" {
		h = strings.Replace(h, " in DIR/config.json", "", 1)
	} else if a.dir != "" {
		h = strings.Replace(h, "DIR/config.json", filepath.Join(a.dir, configFile), 1)
		h = strings.Replace(h, " in DIR ", " in "+a.dir+" ", 1)
	}
	var u *usageError
	if errors.As(err, &u) {
		if a.cmd != "" && a.cmd != "help" {
			h = fmt.Sprintf("run 'sealpost help %s' for usage", a.cmd)
		} else {
			h = "run 'sealpost help' for usage"
		}
	}
	if a.json {
		a.emitError(jsonError{Error: errorCode(err), Message: msg, Hint: h, Command: a.cmd, Exit: exitCode(err)})
		return
	}
	prefix := "sealpost: "
	if a.cmd != "" {
		prefix += a.cmd + ": "
	}
	switch {
	case h == "":
	case errors.As(err, &u):
		msg += "; " + h
	default:
		msg += " (" + h + ")"
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	a.writeLocked(a.stderr, prefix+msg+"\n")
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
	a.offline = cmd.offline
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
// --verbose. It also keeps the last warning's "err" (such as why the
// relay link could not connect), so that a command that gives up can say
// why.
func (a *app) logger() *slog.Logger {
	level := slog.LevelError
	if a.verbose {
		level = slog.LevelDebug
	}
	h := slog.NewTextHandler(lockedWriter{a}, &slog.HandlerOptions{Level: level})
	return slog.New(&noteHandler{Handler: h, a: a})
}

// noteHandler passes records at or above its handler's level on, and
// notes the "err" of every warning.
type noteHandler struct {
	slog.Handler
	a *app
}

func (h *noteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.Handler.Enabled(ctx, l)
}

func (h *noteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		r.Attrs(func(at slog.Attr) bool {
			if at.Key == "err" {
				if err, ok := at.Value.Any().(error); ok {
					h.a.noteMu.Lock()
					h.a.lastNote = err
					h.a.noteMu.Unlock()
				}
				return false
			}
			return true
		})
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *noteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &noteHandler{Handler: h.Handler.WithAttrs(as), a: h.a}
}

func (h *noteHandler) WithGroup(name string) slog.Handler {
	return &noteHandler{Handler: h.Handler.WithGroup(name), a: h.a}
}

// lastClientError is the "err" of the client's last warning, or nil.
func (a *app) lastClientError() error {
	a.noteMu.Lock()
	defer a.noteMu.Unlock()
	return a.lastNote
}

// lockedWriter writes to stderr under the output lock.
type lockedWriter struct{ a *app }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.a.outMu.Lock()
	defer w.a.outMu.Unlock()
	w.a.writeLocked(w.a.stderr, string(p))
	return len(p), nil
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
	a.writeLocked(a.stdout, b.String())
}

// emitError writes a failure as one JSON line on stderr.
func (a *app) emitError(e jsonError) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(e)
	a.outMu.Lock()
	defer a.outMu.Unlock()
	a.writeLocked(a.stderr, b.String())
}

// printf writes human output to stdout.
func (a *app) printf(format string, args ...any) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	a.writeLocked(a.stdout, fmt.Sprintf(format, args...))
}

// notef writes a note for people to stderr.
func (a *app) notef(format string, args ...any) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	a.writeLocked(a.stderr, fmt.Sprintf(format, args...))
}

// writeLocked writes s to w, with outMu held; in chat on a terminal, above
// the line being typed, which it then shows again.
func (a *app) writeLocked(w io.Writer, s string) {
	if a.live == nil {
		io.WriteString(w, s)
		return
	}
	a.live.clear()
	io.WriteString(w, s)
	a.live.redraw()
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "; ")
	s = strings.ReplaceAll(s, "\n", "; ")
	return escapeText([]byte(s), false)
}
