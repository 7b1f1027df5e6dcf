package main

import (
	"context"
	"flag"
	"strings"

	"github.com/sealpost/sealpost/client"
)

var auditCommand = &command{
	name:    "audit",
	usage:   "audit",
	summary: "download and check the whole transparency log",
	help: `
Downloads the key server's whole transparency log and checks it: every
entry, the tree it makes against the signed checkpoint, and that the
checkpoint is consistent with the one this device pinned. Shows a progress
bar on a terminal. A log that fails a check exits with status 4.`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				p := newProgress(a.stderr, a.stderrTTY, "audit")
				rep, err := c.Audit(ctx, func(done, total int64) {
					a.outMu.Lock()
					defer a.outMu.Unlock()
					p.update(done, total)
				})
				a.outMu.Lock()
				p.finish()
				a.outMu.Unlock()
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
	Size       int64  `json:"size"`
	Accounts   int    `json:"accounts"`
	Checkpoint string `json:"checkpoint"`
}

func (a *app) printAudit(rep *client.AuditReport) {
	if a.json {
		a.emit(jsonAudit{rep.Size, rep.Accounts, rep.Checkpoint})
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
	a.printf("The transparency log checks out: %d entries, %d accounts.\nCheckpoint:\n%s", rep.Size, rep.Accounts, b.String())
}
