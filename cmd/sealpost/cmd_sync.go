package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client"
)

// defaultSyncTimeout bounds sync: about what a mobile OS gives an app it
// woke with a push (spec/client.md §16.2).
const defaultSyncTimeout = 25 * time.Second

var syncCommand = &command{
	name:    "sync",
	usage:   "sync [--timeout D]",
	summary: "receive everything queued at the relay, print it and exit",
	help: `
Receives everything the relay holds for this device, prints each message
as 'sealpost listen' does (one a line, or with --json one JSON object a
line), and exits: what an app does when a push wakes it. Messages an
earlier run received but did not print come first.

Each message is acknowledged once printed and then marked read, as with
listen (--no-read, --no-receipts). --timeout bounds the whole run
(default 25s); when it passes first, sync fails with exit status 5 and
nothing is lost: what was not received is received by the next sync or
listen.`,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", defaultSyncTimeout, "give up after `D` (such as 25s)")
		rf := receiptFlags(fs)
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			if *timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			rf.apply(a)
			return a.withClient(ctx, *timeout, func(ctx context.Context, c *client.Client) error {
				return a.sync(ctx, c, !rf.noRead)
			})
		}
	},
}

// sync runs Sync, then prints the messages it left in the inbox and the
// events that come meanwhile.
func (a *app) sync(ctx context.Context, c *client.Client, read bool) error {
	events := c.Events()
	done := make(chan struct{})
	var (
		n   int
		err error
	)
	go func() {
		defer close(done)
		n, err = c.Sync(ctx)
	}()
	security := false
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			security = security || isSecurityEvent(e)
			a.printEvent(e)
		}
	}
	if err != nil {
		return err
	}
	msgs := c.Messages()
	for got := 0; got < n; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("printed %d of %d messages: %w", got, n, ctx.Err())
		case m, ok := <-msgs:
			if !ok {
				return errors.New("the client stopped delivering messages")
			}
			a.printMessage(m, "")
			m.Ack()
			if read {
				a.markRead(ctx, c, m)
			}
			got++
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			security = security || isSecurityEvent(e)
			a.printEvent(e)
		}
	}
	if n > 0 {
		security = a.lingerForReceipts(ctx, c, events) || security
	}
	if security {
		return errSecurityEvents
	}
	return nil
}
