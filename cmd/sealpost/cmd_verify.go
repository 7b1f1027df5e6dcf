package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
)

var verifyCommand = &command{
	name:    "verify",
	usage:   "verify HANDLE",
	summary: "show the safety number with HANDLE, mark verified",
	help: `
Shows the safety number of this account and HANDLE (twelve groups of five
digits; the same on both sides) and its compact form for a QR code, then
asks whether to mark HANDLE as verified. Compare the number with HANDLE in
person or over a channel you trust before you answer yes.

With --scan, the compact string scanned from HANDLE's screen is compared
with ours: a match marks HANDLE verified, a mismatch exits with status 4.
A failed comparison never leaves an earlier verified mark: a mismatching
--scan, or "no" to "Do the numbers still match?" for a verified HANDLE,
removes it and says so.
With --json nothing is asked: only --yes or a matching --scan marks HANDLE,
and only a mismatching --scan unmarks it ("cleared": true).`,
	setup: func(fs *flag.FlagSet) runner {
		yes := fs.Bool("yes", false, "mark verified without asking")
		scan := fs.String("scan", "", "compare with this scanned `compact` string; mark verified on a match")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "HANDLE"); err != nil {
				return err
			}
			if err := keys.CheckHandle(args[0]); err != nil {
				return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", args[0])
			}
			if *yes && *scan != "" {
				return usagef("--yes and --scan exclude each other")
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				return a.verify(ctx, c, args[0], *yes, *scan)
			})
		}
	},
}

type verifyResult struct {
	Handle       string   `json:"handle"`
	SafetyNumber []string `json:"safety_number"`
	Compact      string   `json:"compact"`
	Verified     bool     `json:"verified"`
	// Cleared: an earlier verified flag was removed (a failed comparison).
	Cleared bool `json:"cleared,omitempty"`
}

// safetyRows lays out the twelve groups as three rows of four.
func safetyRows(groups []string) string {
	var b strings.Builder
	for i, g := range groups {
		switch {
		case i%4 == 0:
			b.WriteString("    ")
		default:
			b.WriteString(" ")
		}
		b.WriteString(g)
		if i%4 == 3 || i == len(groups)-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (a *app) verify(ctx context.Context, c *client.Client, handle string, yes bool, scan string) error {
	sn, err := c.SafetyNumber(ctx, handle)
	if err != nil {
		return checkAccount(handle, err)
	}
	was, err := isVerified(ctx, c, handle)
	if err != nil {
		return err
	}
	res := verifyResult{Handle: handle, SafetyNumber: sn.Groups(), Compact: sn.Compact()}
	if !a.json {
		a.printf("Safety number of %s and %s:\n\n%s\nCompact form (for a QR code):\n    %s\n\n",
			c.Handle(), handle, safetyRows(res.SafetyNumber), res.Compact)
	}
	// unverify clears a verified flag that a failed comparison leaves
	// behind (spec/client.md §6.2) and says so.
	unverify := func() (string, error) {
		cleared, err := c.ClearVerified(ctx, handle)
		if err != nil {
			return "", err
		}
		res.Cleared = cleared
		if cleared {
			return fmt.Sprintf("; %s was marked verified before, and no longer is", handle), nil
		}
		return fmt.Sprintf("; %s is not verified", handle), nil
	}
	mark := yes
	switch {
	case scan != "":
		err := sn.MatchCompact(strings.TrimSpace(scan))
		switch {
		case errors.Is(err, keys.ErrSafetyNumberMismatch):
			note, cerr := unverify()
			if cerr != nil {
				return cerr
			}
			if a.json {
				a.emit(res)
			}
			return fmt.Errorf("the scanned safety number does not match %s's: %w%s", handle, err, note)
		case err != nil:
			return usagef("--scan: not a safety number string: %v", err)
		}
		mark = true
		if !a.json {
			a.printf("The scanned safety number matches.\n")
		}
	case !yes && !a.json:
		q := fmt.Sprintf("Mark %s as verified? [y/N] ", handle)
		if was {
			q = fmt.Sprintf("%s is marked verified. Do the numbers still match? [y/N] ", handle)
		}
		ok, err := a.confirm(q)
		if err != nil {
			return err
		}
		mark = ok
		if !ok && was {
			// The user no longer vouches for the number.
			if _, err := unverify(); err != nil {
				return err
			}
		}
	}
	if mark {
		if err := c.MarkVerified(ctx, handle, sn); err != nil {
			// The key changed while the user compared: whatever was
			// verified before is not what was compared now.
			if _, cerr := unverify(); cerr != nil {
				return errors.Join(err, cerr)
			}
			return err
		}
		res.Verified = true
	}
	if a.json {
		if !mark && was && !res.Cleared {
			res.Verified = true // --json without --yes or --scan changes nothing
		}
		a.emit(res)
		return nil
	}
	switch {
	case mark:
		a.printf("%s is verified.\n", handle)
	case res.Cleared:
		a.printf("%s is no longer marked verified.\n", handle)
	default:
		a.printf("%s is not marked verified.\n", handle)
	}
	return nil
}

// isVerified reports whether handle is a verified contact.
func isVerified(ctx context.Context, c *client.Client, handle string) (bool, error) {
	cs, err := c.Contacts(ctx)
	if err != nil {
		return false, err
	}
	for _, ct := range cs {
		if ct.Handle == handle {
			return ct.Verified, nil
		}
	}
	return false, nil
}

// confirm asks a yes/no question on stderr and reads the answer from
// standard input; anything but y or yes (or end of input) is no.
func (a *app) confirm(question string) (bool, error) {
	a.notef("%s", question)
	line, err := a.in.ReadString('\n')
	if err != nil && line == "" {
		a.notef("\n")
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

var acceptCommand = &command{
	name:    "accept",
	usage:   "accept HANDLE",
	summary: "accept HANDLE's changed account key",
	help: `
Shows the safety numbers with HANDLE's old and new account key, then
accepts the new key, so that messages can be sent to HANDLE again and
HANDLE's held messages are shown (marked). HANDLE is then not verified.
A changed key may be HANDLE's new phone, or someone reading your messages:
ask HANDLE, over a channel you trust, before you accept; to accept and
verify at once, compare the new number with 'sealpost verify HANDLE'.`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "HANDLE"); err != nil {
				return err
			}
			if err := keys.CheckHandle(args[0]); err != nil {
				return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", args[0])
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				return a.accept(ctx, c, args[0])
			})
		}
	},
}

// accept shows the safety numbers of a key change and accepts it.
func (a *app) accept(ctx context.Context, c *client.Client, handle string) error {
	kc, err := c.KeyChange(ctx, handle)
	if err != nil {
		return checkAccount(handle, err)
	}
	out := struct {
		Handle          string   `json:"handle"`
		Accepted        bool     `json:"accepted"`
		OldSafetyNumber []string `json:"old_safety_number,omitempty"`
		NewSafetyNumber []string `json:"new_safety_number,omitempty"`
	}{Handle: handle}
	if kc == nil {
		if a.json {
			a.emit(out)
			return nil
		}
		a.printf("%s's account key has not changed: nothing to accept.\n", handle)
		return nil
	}
	out.OldSafetyNumber, out.NewSafetyNumber = kc.Old.Groups(), kc.New.Groups()
	if !a.json {
		was := "you had not verified"
		if kc.Verified {
			was = "you had VERIFIED"
		}
		a.printf("%s's account key changed.\n\nSafety number with the old key (%s):\n\n%s\nSafety number with the new key:\n\n%s\n",
			handle, was, safetyRows(kc.Old.Groups()), safetyRows(kc.New.Groups()))
	}
	if err := c.AcceptKeyChange(ctx, handle); err != nil {
		return err
	}
	out.Accepted = true
	if a.json {
		a.emit(out)
		return nil
	}
	a.printf("Accepted %s's new key; %s is not verified. Verify it: sealpost verify %s\n", handle, handle, handle)
	return nil
}

var contactsCommand = &command{
	name:    "contacts",
	usage:   "contacts",
	summary: "list contacts",
	offline: true,
	help: `
Lists the accounts this device has looked up: whether each is verified
(safety numbers compared) and its account key.`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				cs, err := c.Contacts(ctx)
				if err != nil {
					return err
				}
				a.printContacts(cs)
				return nil
			})
		}
	},
}

type jsonContact struct {
	Handle     string `json:"handle"`
	Verified   bool   `json:"verified"`
	AccountKey string `json:"account_key"`
	// KeyChanged: the log holds another account key, not accepted yet.
	KeyChanged bool `json:"key_changed,omitempty"`
}

func (a *app) printContacts(cs []client.Contact) {
	if a.json {
		for _, c := range cs {
			a.emit(jsonContact{c.Handle, c.Verified, hex.EncodeToString(c.AccountKey[:]), c.KeyChanged})
		}
		return
	}
	if len(cs) == 0 {
		a.printf("No contacts yet.\n")
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDLE\tVERIFIED\tACCOUNT KEY")
	for _, c := range cs {
		verified := yesNo(c.Verified)
		if c.KeyChanged {
			verified += " (KEY CHANGED: sealpost accept " + c.Handle + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", escapeText([]byte(c.Handle), false), verified,
			hex.EncodeToString(c.AccountKey[:]))
	}
	tw.Flush()
	a.printf("%s", b.String())
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
