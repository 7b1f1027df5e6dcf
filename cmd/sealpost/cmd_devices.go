package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sealpost/sealpost/client"
)

var devicesCommand = &command{
	name:    "devices",
	usage:   "devices [add URI | revoke ID | approve ID | name NAME]",
	summary: "list, add (link), approve, revoke or name this account's devices",
	help: `
Lists this account's devices as the transparency log shows them: id,
when it was added, whether it is revoked, which one is this device, and
which this device has not approved; with the name each was given and
when this device last heard from it (when, by that device's clock, it
sent the newest message or change this device got from it).

"devices add [--history-days N] [--no-account-key] [--code CODE] URI"
links a new device that shows URI (see 'sealpost help link'): it shows
the new device's name and a six-digit code, and asks you to type the code
the new device shows (or "yes" if it is the same; --code gives it
instead). Only then does it certify the new device with the account key
and send it the account, contacts, blocked accounts, device names, your
groups and, with --history-days N, the conversations of the last N days.
--no-account-key links a device that cannot add, revoke or back up
(SECURITY.md, "Linked devices"). Prints the new device's id. Needs the
account key.

"devices name NAME" names this device (1 to 64 bytes of UTF-8, no
control characters) and tells your other devices. Names are end to end
encrypted among your own devices: no server sees them.

"devices revoke ID" revokes (unlinks) device ID: it stops receiving
messages and its keys are no longer trusted by anyone. It needs the
account key (the first device, or one linked or restored with it).

"devices approve ID" tells this device that device ID is yours (a device
you restored from your backup): it then gets copies of what you send
from here. A device you did not add means someone has your account key:
revoke it instead, and make a new backup with a new passphrase. Every
device warns about devices it did not approve (see 'sealpost help
listen').`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			switch {
			case len(args) == 0:
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					ds, err := c.Devices(ctx)
					if err != nil {
						return err
					}
					a.printDevices(ds)
					return nil
				})
			case args[0] == "add":
				return a.devicesAdd(ctx, args[1:])
			case args[0] == "revoke":
				return a.deviceAction(ctx, args[1:], "revoked", (*client.Client).RevokeDevice, "Revoked device %d.\n")
			case args[0] == "approve":
				return a.deviceAction(ctx, args[1:], "approved", (*client.Client).ApproveDevice, "Approved device %d: it gets copies of what you send from this device, and your groups.\n")
			case args[0] == "name":
				return a.nameDevice(ctx, args[1:])
			}
			return usagef("unknown devices subcommand %q (want: revoke ID, approve ID or name NAME)", args[0])
		}
	},
}

// parseDeviceID parses a device id: a decimal number from 1 to 2^32-1.
func parseDeviceID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, usagef("device ID %q: want a number from 1 to %d", s, uint32(1<<32-1))
	}
	return uint32(n), nil
}

type jsonDevice struct {
	ID       uint32 `json:"id"`
	Created  string `json:"created"`
	Revoked  bool   `json:"revoked"`
	Current  bool   `json:"current"`
	Approved bool   `json:"approved"`
	Name     string `json:"name,omitempty"`
	LastSeen string `json:"last_seen,omitempty"`
}

func (a *app) printDevices(ds []client.Device) {
	if a.json {
		for _, d := range ds {
			j := jsonDevice{ID: d.ID, Created: d.Created.UTC().Format(time.RFC3339), Revoked: d.Revoked, Current: d.Current, Approved: d.Approved, Name: d.Name}
			if !d.LastSeen.IsZero() {
				j.LastSeen = d.LastSeen.UTC().Format(time.RFC3339)
			}
			a.emit(j)
		}
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tADDED\tLAST SEEN\tSTATUS\t")
	for _, d := range ds {
		status := "active"
		if d.Revoked {
			status = "revoked"
		}
		this := ""
		switch {
		case d.Current:
			this = "this device"
		case !d.Revoked && !d.Approved:
			this = fmt.Sprintf("NOT APPROVED: not yours? sealpost devices revoke %d", d.ID)
		}
		created, seen, name := "-", "-", "-"
		if !d.Created.IsZero() {
			created = d.Created.In(a.loc).Format("2006-01-02 15:04")
		}
		if !d.LastSeen.IsZero() {
			seen = d.LastSeen.In(a.loc).Format("2006-01-02 15:04")
		}
		if d.Name != "" {
			// Another device's name is what that device chose: quoted,
			// so that it cannot pass for more columns or a warning.
			name = strconv.Quote(d.Name)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, name, created, seen, status, this)
	}
	tw.Flush()
	a.printf("%s", trimLines(b.String()))
}

// trimLines removes the padding tabwriter leaves at the ends of lines.
func trimLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l[:len(l)-1], " ") + "\n"
		}
	}
	return strings.Join(lines, "")
}

// nameDevice names this device (devices name NAME).
func (a *app) nameDevice(ctx context.Context, args []string) error {
	if err := wantArgs(args, 1, "NAME"); err != nil {
		return err
	}
	name := args[0]
	return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
		if err := c.SetDeviceName(ctx, name); err != nil {
			return err
		}
		if a.json {
			a.emit(map[string]any{"device": c.DeviceID(), "name": name})
			return nil
		}
		a.printf("This device (%d) is now named %s.\n", c.DeviceID(), strconv.Quote(name))
		return nil
	})
}

// deviceAction runs a devices subcommand that takes one device ID: act on
// it, then report (as {"<key>": ID} with --json, else done's line).
func (a *app) deviceAction(ctx context.Context, args []string, key string, act func(*client.Client, context.Context, uint32) error, done string) error {
	if err := wantArgs(args, 1, "device ID"); err != nil {
		return err
	}
	id, err := parseDeviceID(args[0])
	if err != nil {
		return err
	}
	return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
		if err := act(c, ctx, id); err != nil {
			return err
		}
		if a.json {
			a.emit(map[string]uint32{key: id})
			return nil
		}
		a.printf(done, id)
		return nil
	})
}
