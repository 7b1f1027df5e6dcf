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

var contactsOnlyCommand = &command{
	name:    "contacts-only",
	usage:   "contacts-only on|off",
	summary: "take anonymous messages only from accounts you wrote to",
	help: `
With on, the relay takes anonymous messages to this device only when they
carry its access key, which this device hands to every account it writes
to; others get through only within a small allowance per hour (first
contact). With off (the default), anyone may write. The relay is told at
once and again on every connection until it confirms (spec/client.md
§13.6). Messages sent on the authenticated connection (senders without
--anonymous) are not checked: the relay knows who sent them, and 'sealpost
block' drops them.`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "on or off"); err != nil {
				return err
			}
			var on bool
			switch args[0] {
			case "on":
				on = true
			case "off":
			default:
				return usagef("want on or off, not %q", args[0])
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				if err := c.SetContactsOnly(ctx, on); err != nil {
					return err
				}
				if err := c.WaitAccessConfirmed(ctx); err != nil {
					return err
				}
				if a.json {
					a.emit(struct {
						ContactsOnly bool `json:"contacts_only"`
					}{on})
				} else {
					a.printf("Contacts only: %s (the relay confirmed it).\n", args[0])
				}
				return nil
			})
		}
	},
}
