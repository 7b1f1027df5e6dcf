package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// runner runs a command with its positional arguments.
type runner func(ctx context.Context, a *app, args []string) error

// command is one sealpost command.
type command struct {
	name    string
	usage   string // after "sealpost "
	summary string
	help    string // the long description
	// offline: the command never talks to the servers, so they are not
	// probed first (probe.go).
	offline bool
	// setup binds the command's flags to fs and returns its runner.
	setup func(fs *flag.FlagSet) runner
}

// commandList returns every command in the order help lists them.
func commandList() []*command {
	return []*command{
		initCommand, sendCommand, listenCommand, syncCommand, getCommand, uploadsCommand, chatCommand, reactCommand,
		editCommand, deleteCommand, timerCommand, statusCommand, historyCommand, verifyCommand,
		acceptCommand, contactsCommand, blockCommand, unblockCommand, blockedCommand, contactsOnlyCommand, pushCommand, groupCommand, devicesCommand, auditCommand, auditorCommand,
		backupCommand, restoreCommand, linkCommand, helpCommand, versionCommand,
	}
}

func lookup(name string) *command {
	for _, c := range commandList() {
		if c.name == name {
			return c
		}
	}
	return nil
}

const exitStatusHelp = `Exit status:
  0  success (chat and listen: also an end by Ctrl-D, /quit or Ctrl-C)
  1  any other failure
  2  usage error (bad flag or argument, no passphrase source, content
     the format refuses)
  3  local state: wrong passphrase, store locked by another process,
     no store or not registered, corrupt store; a message id this
     device has no record of, an edit or delete of another's message,
     a send to a blocked account, a group this device is not in
  4  security failure: a key or the log refused, a contact's key changed,
     safety number mismatch, server certificate not the pinned one
     (TLS pin mismatch) or not trusted
  5  a server unreachable or not answering: connection refused, dial or
     TLS handshake timeout (servers are checked for 4s before a command
     talks to them), a stale key server; a message queued, not confirmed;
     not connected to the relay (typing, presence)
  6  no such account: the key server does not know the HANDLE given

Errors are one line on standard error, "sealpost: COMMAND: reason", naming
the server address and the cause when one cannot be reached.
` + errorCodesHelp
const globalHelp = `Global flags (before or after the command):
  --dir DIR               store directory (default $SEALPOST_DIR, else ~/.sealpost)
  --json                  machine output: one JSON object per line on stdout
  --passphrase-file FILE  read the passphrase from the first line of FILE
  -v, --verbose           log the client's diagnostics to stderr

The passphrase comes from --passphrase-file, else $SEALPOST_PASSPHRASE
(visible to other processes of the same user; prefer the file), else a
prompt on the terminal. Without a terminal on stdin and without either
source, sealpost exits with status 2.
`

func (a *app) printOverview(w io.Writer) {
	var b strings.Builder
	b.WriteString("sealpost is the Sealpost end-to-end encrypted messaging client.\n\n")
	b.WriteString("Usage:\n  sealpost [global flags] COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commandList() {
		fmt.Fprintf(&b, "  %-25s %s\n", c.usage, c.summary)
	}
	b.WriteString("\n" + globalHelp + "\n" + exitStatusHelp)
	b.WriteString("\nRun 'sealpost help COMMAND' for a command's flags.\n")
	io.WriteString(w, b.String())
}

func (a *app) printCommandHelp(w io.Writer, c *command) {
	var b strings.Builder
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(fs)
	usage, hasFlags := c.usage, false
	fs.VisitAll(func(f *flag.Flag) { hasFlags = hasFlags || !isGlobalFlag(f.Name) })
	if hasFlags {
		name, args, _ := strings.Cut(usage, " ")
		usage = strings.TrimSpace(name + " [flags] " + args)
	}
	fmt.Fprintf(&b, "Usage: sealpost %s\n\n%s\n", usage, strings.TrimSpace(c.help))
	var flags strings.Builder
	fs.SetOutput(&flags)
	fs.VisitAll(func(f *flag.Flag) {
		if isGlobalFlag(f.Name) {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := "  " + dash + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(&flags, "%-28s %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(&flags, " (default %s)", f.DefValue)
		}
		flags.WriteString("\n")
	})
	if flags.Len() > 0 {
		b.WriteString("\nFlags:\n" + flags.String())
	}
	b.WriteString("\n" + globalHelp + "\n" + exitStatusHelp)
	io.WriteString(w, b.String())
}

var helpCommand = &command{
	name:    "help",
	usage:   "help [COMMAND]",
	summary: "show help for sealpost or a command",
	help:    "Shows the list of commands, or one command's usage and flags.",
}

// The help command looks up commands, so its setup is set at init to
// keep the command table free of an initialization cycle.
func init() { helpCommand.setup = helpSetup }

func helpSetup(fs *flag.FlagSet) runner {
	return func(ctx context.Context, a *app, args []string) error {
		switch len(args) {
		case 0:
			a.printOverview(a.stdout)
			return nil
		case 1:
			c := lookup(args[0])
			if c == nil {
				return usagef("unknown command %q", args[0])
			}
			a.printCommandHelp(a.stdout, c)
			return nil
		}
		return usagef("want at most one command name")
	}
}

var versionCommand = &command{
	name:    "version",
	usage:   "version",
	summary: "print the version",
	help:    "Prints sealpost's version, the Go version and the platform.",
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) != 0 {
				return usagef("version takes no arguments")
			}
			v := "(devel)"
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				if bi.Main.Version != "" {
					v = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			if a.json {
				a.emit(struct {
					Version  string `json:"version"`
					Revision string `json:"revision,omitempty"`
					Go       string `json:"go"`
					Platform string `json:"platform"`
				}{v, rev, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH})
				return nil
			}
			if rev != "" {
				v += " " + rev
			}
			a.printf("sealpost %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		}
	},
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, n int, what string) error {
	switch {
	case len(args) < n:
		return usagef("missing %s", what)
	case len(args) > n:
		return usagef("unexpected arguments %q", args[n:])
	}
	return nil
}
