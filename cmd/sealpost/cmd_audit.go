package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/sealpost/sealpost/client"
)

var auditCommand = &command{
	name:    "audit",
	usage:   "audit",
	summary: "check the key directory's log as an auditor does",
	help: `
Checks the key server's directory as any auditor can, over public data
that names nobody: the latest checkpoint, consistent with the one this
device pinned (and cosigned by the configured witnesses), and every epoch
since the last audit on this device — its log leaf, and the proof that the
directory changed only by that epoch's published updates, versions only
increasing. Then looks up again every account this device knows and checks
this account's whole history. Shows a progress bar on a terminal. A
directory that fails a check exits with status 4.`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				var rep *client.AuditReport
				err := a.withProgress("audit", func(progress func(done, total int64)) (err error) {
					rep, err = c.Audit(ctx, progress)
					return err
				})
				if err != nil {
					return err
				}
				a.printAudit(rep)
				return nil
			})
		}
	},
}

type jsonAudit struct {
	Epochs     uint64 `json:"epochs"`
	Checked    uint64 `json:"checked"`
	Updates    uint64 `json:"updates"`
	Known      int    `json:"known"`
	Checkpoint string `json:"checkpoint"`
}

func (a *app) printAudit(rep *client.AuditReport) {
	if a.json {
		a.emit(jsonAudit{rep.Epochs, rep.Checked, rep.Updates, rep.Known, rep.Checkpoint})
		return
	}
	cp := strings.TrimRight(rep.Checkpoint, "\n")
	var b strings.Builder
	for _, line := range strings.Split(cp, "\n") {
		if line != "" {
			b.WriteString("    " + escapeText([]byte(line), false))
		}
		b.WriteString("\n")
	}
	known := ""
	if rep.Known > 0 {
		known = fmt.Sprintf(", %d known accounts looked up again", rep.Known)
	}
	a.printf("The key directory checks out: %d epochs (%d checked now, %d key-set updates)%s.\nCheckpoint:\n%s", rep.Epochs, rep.Checked, rep.Updates, known, b.String())
}

// withProgress runs f with a progress callback that draws a bar named
// label on standard error (a line every few seconds without a terminal),
// and ends the bar when f returns.
func (a *app) withProgress(label string, f func(progress func(done, total int64)) error) error {
	p := newProgress(a.stderr, a.stderrTTY, label)
	err := f(func(done, total int64) {
		a.outMu.Lock()
		defer a.outMu.Unlock()
		p.update(done, total)
	})
	a.outMu.Lock()
	p.finish()
	a.outMu.Unlock()
	return err
}
