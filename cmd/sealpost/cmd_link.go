package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
)

var linkCommand = &command{
	name:    "link",
	usage:   "link [--account HANDLE] [--name NAME] [--png FILE]",
	summary: "make this a new device of an account you use elsewhere",
	help: `
Links this computer to an account you already use on another device, as
a new device of that account. Creates a new store in DIR (which must not
hold one): asks (twice) for the new store's passphrase; --server, --relay,
--pin and --ca are as for init and must name the account's servers.

It then shows a QR code and a sealpost://link URI and waits (up to 10
minutes). On the other device, scan the code or run
'sealpost devices add URI'. Both devices then show the same six-digit
code: confirm on the other device only if they match. A different code
means someone replaced the URI on its way: refuse, and link again.

Before this device joins, it asks which account it is joining (or checks
it against --account): someone who saw the QR code could answer first and
offer their own account.

The other device sends this one the account, its contacts with their
verified state, blocked accounts, device names and, if it was asked to,
recent conversations. Prints the new device's id. If linking fails before
that, nothing was added to the account and the store is removed: run
'sealpost link' again.

--account HANDLE join only the account HANDLE (no question asked)
--name NAME      this device's name, shown on your other devices (default:
                 the host name)
--png FILE       also write the QR code as a PNG image to FILE`,
	setup: func(flags *flag.FlagSet) runner {
		var sf serverFlags
		sf.bind(flags, false)
		name := flags.String("name", "", "this device's `name`, shown on your other devices")
		account := flags.String("account", "", "join only the account `handle`")
		png := flags.String("png", "", "also write the QR code as a PNG image to `file`")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			if *account != "" {
				if err := keys.CheckHandle(*account); err != nil {
					return usagef("--account %q: want 3 to 32 of a-z 0-9 . _ -", *account)
				}
			}
			return a.runLink(ctx, &sf, *account, *name, *png)
		}
	},
}

// linkResult is link's --json output: the URI, the code, then the
// result, one object each.
type linkResult struct {
	URI    string `json:"uri,omitempty"`
	Code   string `json:"code,omitempty"`
	Handle string `json:"handle,omitempty"`
	Device uint32 `json:"device,omitempty"`
	Dir    string `json:"dir,omitempty"`
}

func (a *app) runLink(ctx context.Context, sf *serverFlags, account, name, pngFile string) error {
	if name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "sealpost"
		}
		name = deviceNameFrom(h)
	}
	cfg, err := a.newStoreConfig(ctx, sf)
	if err != nil {
		return err
	}
	defer clear(cfg.Passphrase)
	lctx, cancel := context.WithTimeout(ctx, client.LinkTTL+30*time.Second)
	defer cancel()
	var pngErr error
	c, err := client.Link(lctx, cfg, client.LinkOptions{
		Name:   name,
		Handle: account,
		Confirm: func(ctx context.Context, handle string) (bool, error) {
			return a.confirm(fmt.Sprintf("Join the account %s? Only if that is your account and your other device showed the same code [y/N]: ", handle))
		},
		OnURI: func(uri string) {
			if pngFile != "" {
				pngErr = writeLinkPNG(pngFile, uri)
			}
			if a.json {
				a.emit(linkResult{URI: uri})
				return
			}
			qr, err := client.LinkQRText(uri)
			if err == nil {
				a.printf("%s\n", qr)
			}
			a.printf("Scan this code with a device of your account, or on it run:\n\n  sealpost devices add '%s'\n\nWaiting (up to %v)...\n", uri, client.LinkTTL)
		},
		OnCode: func(code string) {
			if a.json {
				a.emit(linkResult{Code: code})
				return
			}
			a.printf("\nCode: %s\nConfirm on your other device only if it shows the same code.\n", code)
		},
	})
	if pngErr != nil {
		a.notef("sealpost: link: writing %s: %v\n", pngFile, pngErr)
	}
	if err != nil {
		if errors.Is(err, client.ErrLinkNotStored) {
			return &initIncomplete{dir: a.dir, err: err}
		}
		// Nothing was added to the account: take the new store back so
		// that link can run again.
		for _, f := range []string{"state.db", "state.db-wal", "state.db-shm", "key.age", configFile} {
			os.Remove(filepath.Join(a.dir, f))
		}
		return err
	}
	res := linkResult{Handle: c.Handle(), Device: c.DeviceID(), Dir: a.dir}
	if err := c.Close(); err != nil {
		return err
	}
	if a.json {
		a.emit(res)
		return nil
	}
	a.printf("Linked: this is device %d of %s; the store is in %s.\n", res.Device, res.Handle, res.Dir)
	return nil
}

// deviceNameFrom makes a device name from a host name: printable
// characters only, at most 64 bytes.
func deviceNameFrom(h string) string {
	h = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, h)
	for len(h) > 64 {
		r := []rune(h)
		h = string(r[:len(r)-1])
	}
	if h == "" {
		return "sealpost"
	}
	return h
}

// writeLinkPNG writes uri's QR code as a PNG file readable only by its
// owner (the code lets whoever sees it start linking).
func writeLinkPNG(path, uri string) error {
	b, err := client.LinkQRPNG(uri)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// runDevicesAdd is 'devices add URI': this device links the new one.
func (a *app) runDevicesAdd(ctx context.Context, c *client.Client, uri string, historyDays int, noAccountKey bool, code string) (uint32, error) {
	return c.AddDevice(ctx, uri, client.AddDeviceOptions{
		HistoryDays:       historyDays,
		WithoutAccountKey: noAccountKey,
		Confirm: func(ctx context.Context, name, shown string) (bool, error) {
			if code != "" {
				return client.SameLinkCode(code, shown), nil
			}
			if a.json {
				a.emit(linkResult{Code: shown})
			}
			a.notef("The new device %q should show the code\n\n  %s\n\n", name, shown)
			return a.confirmCode(shown)
		},
	})
}

// confirmCode asks the user to type the code the new device shows (or
// yes when it matches) and compares it.
func (a *app) confirmCode(shown string) (bool, error) {
	a.notef("Type the code the new device shows (or \"yes\" if it is the same): ")
	line, err := a.in.ReadString('\n')
	if err != nil && line == "" {
		a.notef("\n")
		return false, nil
	}
	line = strings.TrimSpace(line)
	switch strings.ToLower(line) {
	case "y", "yes":
		return true, nil
	}
	return client.SameLinkCode(line, shown), nil
}

// devicesAdd is 'devices add [--history-days N] [--no-account-key]
// [--code CODE] URI', with its own flags after the subcommand.
func (a *app) devicesAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("devices add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	days := fs.Int("history-days", 0, "send the conversations of the last `n` days too")
	noKey := fs.Bool("no-account-key", false, "link a device that does not get the account key")
	code := fs.String("code", "", "the `code` the new device shows (instead of asking)")
	if err := fs.Parse(args); err != nil {
		return usagef("devices add: %v", err)
	}
	if fs.NArg() != 1 {
		return usagef("devices add: want one URI (sealpost://link?...)")
	}
	if *days < 0 || *days > client.MaxHistoryDays {
		return usagef("--history-days %d: want 0 to %d", *days, client.MaxHistoryDays)
	}
	uri := fs.Arg(0)
	// A link waits for the user on both devices: longer than one
	// operation.
	return a.withClient(ctx, client.LinkTTL, func(ctx context.Context, c *client.Client) error {
		dev, err := a.runDevicesAdd(ctx, c, uri, *days, *noKey, *code)
		if err != nil {
			return err
		}
		if a.json {
			a.emit(linkResult{Handle: c.Handle(), Device: dev})
			return nil
		}
		a.printf("Linked device %d to %s.\n", dev, c.Handle())
		return nil
	})
}
