package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/sealpost/sealpost/client"
)

var auditorCommand = &command{
	name:    "auditor",
	usage:   "auditor --state FILE --log-key KEY [--server URL] [--pin FP | --ca FILE] [--witness KEY]... [--every DURATION]",
	summary: "audit a key server's directory with no account, once or continuously",
	help: `
Audits the key server's key directory as any auditor can, with no account
and no store: over public data that names nobody, it checks that every
epoch changed the directory by exactly its published updates, versions
only increasing, under one VRF key, and that the log only grew and is
consistent with the tree audited before (spec/transparency-v2.md §8).

The audit state — what was checked up to where, 114 bytes plus 32 per
bit set in the number of epochs — is kept in the --state file: the first
run checks every epoch, later runs only the new ones. With --every, it
audits again after each interval until interrupted, printing one line per
audit. A directory that fails a check exits with status 4 (the state file
is left as it was: the evidence is the server's signed checkpoint); a stale
checkpoint or one without the witnesses' quorum exits with status 5.`,
	offline: true, // it reaches the server itself; there is no store
	setup: func(fs *flag.FlagSet) runner {
		var (
			flags serverFlags
			state string
			every time.Duration
		)
		flags.bind(fs, false)
		fs.StringVar(&state, "state", "", "the audit state `file` (created by the first audit)")
		fs.DurationVar(&every, "every", 0, "audit again after each `interval` (e.g. 1m) until interrupted; 0: once")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			if state == "" {
				return usagef("--state is required: the file that keeps what was audited")
			}
			if flags.tofu {
				return usagef("--trust-on-first-use: an auditor needs --log-key")
			}
			if every < 0 {
				return usagef("--every %v is negative", every)
			}
			cfg, err := flags.config()
			if err != nil {
				return err
			}
			aud, err := client.NewDirectoryAuditor(client.AuditorConfig{
				KeyServer: cfg.Server, CAFile: cfg.CAFile, Pin: cfg.Pin, LogKey: cfg.LogKey,
				Witnesses: cfg.Witnesses, WitnessQuorum: cfg.WitnessQuorum,
			})
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			for {
				if err := a.auditOnce(ctx, aud, state); err != nil {
					return err
				}
				if every == 0 {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(every):
				}
			}
		}
	},
}

// auditOnce runs one audit from the state in path and, if it passes,
// replaces the file with the new state.
func (a *app) auditOnce(ctx context.Context, aud *client.DirectoryAuditor, path string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		old = nil
	} else if err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	var (
		state []byte
		rep   *client.AuditReport
	)
	err = a.withProgress("audit", func(progress func(done, total int64)) (err error) {
		state, rep, err = aud.Audit(ctx, old, progress)
		return err
	})
	if err != nil {
		return err
	}
	// Whole or not at all: a crash leaves the old state or the new one.
	err = writePrivateFile(path, true, func(f *os.File) error { _, err := f.Write(state); return err })
	if err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	a.printAudit(rep)
	return nil
}
