package main

import (
	"context"
	"flag"

	"github.com/sealpost/sealpost/client"
)

// block, unblock and blocked (spec/client.md §13.7).

var blockCommand = &command{
	name:    "block",
	usage:   "block HANDLE",
	summary: "drop an account's messages and stop writing to it",
	help: `
Blocks HANDLE on this device: what it sends is dropped from now on, and
sends to it are refused (exit status 3, blocked). This device's access key
changes at once, so HANDLE can no longer present it to the relay; every
other account this device has looked up gets the new key in an access
update, queued now and sent as the relay allows. Blocking is per device.`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "HANDLE"); err != nil {
				return err
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				if err := c.Block(ctx, args[0]); err != nil {
					return err
				}
				a.blockResult(args[0], true)
				return nil
			})
		}
	},
}

var unblockCommand = &command{
	name:    "unblock",
	usage:   "unblock HANDLE",
	summary: "take an account's messages again",
	offline: true,
	help: `
Lifts a block: HANDLE's messages are taken again and sends to it allowed.
It gets this device's access key again when this device next writes to it.
Exit status 6 if HANDLE is not blocked.`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "HANDLE"); err != nil {
				return err
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				if err := c.Unblock(ctx, args[0]); err != nil {
					return err
				}
				a.blockResult(args[0], false)
				return nil
			})
		}
	},
}

var blockedCommand = &command{
	name:    "blocked",
	usage:   "blocked",
	summary: "list blocked accounts",
	offline: true,
	help: `
Lists the accounts this device blocked, one per line (--json: one object
per line, {"handle": ...}).`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				hs, err := c.Blocked(ctx)
				if err != nil {
					return err
				}
				for _, h := range hs {
					if a.json {
						a.emit(struct {
							Handle string `json:"handle"`
						}{h})
					} else {
						a.printf("%s\n", h)
					}
				}
				return nil
			})
		}
	},
}

// blockResult prints the outcome of block or unblock.
func (a *app) blockResult(handle string, blocked bool) {
	if a.json {
		a.emit(struct {
			Handle  string `json:"handle"`
			Blocked bool   `json:"blocked"`
		}{handle, blocked})
		return
	}
	if blocked {
		a.printf("Blocked %s.\n", handle)
	} else {
		a.printf("Unblocked %s.\n", handle)
	}
}
