package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client"
)

var listenCommand = &command{
	name:    "listen",
	usage:   "listen",
	summary: "print incoming messages as they arrive",
	help: `
Prints incoming messages as they arrive, until interrupted (Ctrl-C), one a
line, with the first 8 digits of the message id:
  2026-11-27 07:01:02  ab12cd34  bob (device 1): text
  2026-11-27 07:01:02  ab12cd34  bob (device 1) ↪ reply to 9f00aa11: text
  2026-11-27 07:01:02  ab12cd34  → bob: text      (sent by this account's other device)
  2026-11-27 07:01:02  ab12cd34  bob (device 1) reacted 👍 to 9f00aa11
  2026-11-27 07:01:02  ab12cd34  bob (device 1) edited 9f00aa11: new text
  2026-11-27 07:01:02  ab12cd34  bob (device 1) deleted 9f00aa11
  2026-11-27 07:01:02  ab12cd34  bob (device 1) set the disappearing-message timer to 1h
  2026-11-27 07:01:02  ab12cd34  bob (device 1): [app TYPE, N bytes]
  2026-11-27 07:01:02  ab12cd34  bob (device 1): [content of a newer version]
  2026-11-27 07:01:02  ab12cd34  bob (device 1): [file beach.jpg, 1.2 MiB, image/jpeg] caption
Later lines of a message are indented. A message marked
"[KEY CHANGED, not verified]" came under an account key of the sender that you have not accepted.

--save-dir DIR downloads the file of each message that carries one into
DIR, under the sender's file name made safe (no path, no control
characters) and never over an existing file ("name (1).ext"); the file
appears only once complete and verified. Otherwise 'sealpost get HANDLE ID'
fetches it later.

Each message is acknowledged once printed (the sender's device is told it
was delivered, unless --no-receipts) and then marked read (texts and other
messages history keeps; the sender is told, unless --no-receipts; the
disappearing timer starts); --no-read leaves messages unread.

Events go to standard error, such as
  sealpost: ✓✓ ab12cd34 delivered to bob device 2
  sealpost: ✓✓ ab12cd34 read by bob device 2
  sealpost: bob is typing… (device 2)
  sealpost: bob is online (device 2)
  sealpost: 2 message(s) with bob disappeared (timer): ab12cd34 9f00aa11
with --json they are {"event":...} lines on standard output beside the
messages. If the servers cannot be reached when listen starts, it fails at
once (exit status 5); a connection lost later is reported and
re-established by itself.
` + whatYouAreTold + `
The exit status is 4 if the client reported a security event (a server
caught misbehaving, a device on your account you did not approve, or a
verified contact's changed key).`,
	setup: func(fs *flag.FlagSet) runner {
		count := fs.Int("count", 0, "exit after `N` messages")
		once := fs.Bool("once", false, "exit after one message (--count 1)")
		timeout := fs.Duration("timeout", 0, "stop after `D` (such as 30s); with --count, getting fewer is an error")
		rf := receiptFlags(fs)
		saveDir := fs.String("save-dir", "", "save received files into `DIR` (names made safe, never replacing a file)")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			if *saveDir != "" {
				if err := checkSaveDir(*saveDir); err != nil {
					return err
				}
				a.saveDir = *saveDir
			}
			n := *count
			if *once {
				if n != 0 && n != 1 {
					return usagef("--once and --count %d", n)
				}
				n = 1
			}
			if n < 0 || *timeout < 0 {
				return usagef("--count and --timeout must not be negative")
			}
			rf.apply(a)
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				return a.listen(ctx, c, n, *timeout, !rf.noRead)
			})
		}
	},
}

// receiptOptions are the flags of listen and chat that govern receipts.
type receiptOptions struct {
	noRead, noReceipts bool
}

func receiptFlags(fs *flag.FlagSet) *receiptOptions {
	var o receiptOptions
	fs.BoolVar(&o.noRead, "no-read", false, "do not mark messages read (no read receipts; disappearing timers do not start)")
	fs.BoolVar(&o.noReceipts, "no-receipts", false, "send no delivery or read receipts (messages are still marked read here)")
	return &o
}

// apply sets the client configuration of o.
func (o *receiptOptions) apply(a *app) {
	a.noReceipts = o.noReceipts
}

// markRead marks a displayed message read (spec/client.md §12.2): its
// sender gets a read receipt, its timer starts. Failures are reported and
// do not end listen or chat; a message the history does not keep
// (ErrUnknownMessage: it expired, or was deleted meanwhile) is skipped.
func (a *app) markRead(ctx context.Context, c *client.Client, m *client.Message) {
	if !readable(m) {
		return
	}
	err := c.MarkRead(ctx, m.ID)
	if err != nil && !errors.Is(err, client.ErrUnknownMessage) && ctx.Err() == nil {
		a.notef("sealpost: could not mark %s read: %s\n", shortID(m.ID), describe(err))
	}
}

// receiptWait bounds how long listen --count waits, after its last
// message, for the relay to take the receipts the client queued (they are
// batched; those not sent before Close go out the next time sealpost opens
// the store).
const receiptWait = 5 * time.Second

// lingerForReceipts sends the queued receipts before listen exits, unless
// the client sends no receipts, printing the events that come meanwhile.
// It reports whether a security event came.
func (a *app) lingerForReceipts(ctx context.Context, c *client.Client, events <-chan client.Event) (security bool) {
	if a.noReceipts {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, receiptWait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.SendReceipts(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				a.notef("sealpost: receipts not sent yet (they go with the next run): %s\n", describe(err))
			}
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			security = security || isSecurityEvent(e)
			a.printEvent(e)
		}
	}
}

// listen prints messages and events until ctx ends, count messages have
// come (count > 0) or timeout passes (timeout > 0). With read, each
// message shown is marked read.
func (a *app) listen(ctx context.Context, c *client.Client, count int, timeout time.Duration, read bool) error {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	msgs, events := c.Messages(), c.Events()
	n, security := 0, false
	end := func() error {
		if security {
			return errSecurityEvents
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return end()
		case <-deadline:
			if count > 0 {
				return fmt.Errorf("timed out after %v with %d of %d messages", timeout, n, count)
			}
			return end()
		case m, ok := <-msgs:
			if !ok {
				return errors.New("the client stopped delivering messages")
			}
			a.printMessage(m, "")
			// A file is saved before the ack: a crash meanwhile offers the
			// message again, and the download resumes.
			a.saveFrom(ctx, c, m, a.saveDir)
			// Shown: the client may forget it (spec/client.md §5.2).
			m.Ack()
			if read {
				a.markRead(ctx, c, m)
			}
			n++
			if count > 0 && n >= count {
				security = a.lingerForReceipts(ctx, c, events) || security
				return end()
			}
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			security = security || isSecurityEvent(e)
			a.printEvent(e)
		}
	}
}

// isSecurityEvent reports events that make listen and chat exit with
// status 4: a server caught misbehaving, a device on this account that
// this device did not approve (or a revocation it did not make), this
// device's own revocation, and a verified contact's changed key.
func isSecurityEvent(e client.Event) bool {
	switch e.Kind {
	case client.EventSecurity, client.EventOwnAccountChanged, client.EventRevoked:
		return true
	case client.EventKeyChanged:
		return e.KeyChange != nil && e.KeyChange.Verified
	}
	return false
}

func (a *app) printMessage(m *client.Message, mark string) {
	if a.json {
		a.emit(newJSONMessage(m))
		return
	}
	a.printf("%s", formatMessage(m, a.loc, mark))
}

// printEvent shows an event: on stderr, or with --json as a line on
// stdout.
func (a *app) printEvent(e client.Event) {
	if a.json {
		a.emit(newJSONEvent(e))
		return
	}
	a.notef("%s", formatEvent(e))
}

// whatYouAreTold is the part of the help of listen, chat and send that
// says what the user is told, and when (spec/client.md §6.2, §6.3).
const whatYouAreTold = `
What you are told, and when:
  - A contact's account key changed (checked on every send and every
    message received): a WARNING with both safety numbers available from
    'sealpost accept HANDLE'. Nothing is sent to HANDLE until you accept
    the change; for a contact you verified, HANDLE's new messages are held
    too, until you verify again ('sealpost verify HANDLE') or accept.
  - A contact added or removed a device, such as "bob added a new device,
    device 3 on 2026-12-04 15:02 UTC; what you send to bob now reaches it
    too", with what to do if bob did not expect it (devices have ids, not
    names).
  - A device you did not approve appeared on your own account (checked at
    each connection, every 15 minutes, on each send and when the log
    grows), or another device revoked one of yours: a loud warning with
    the command that revokes it ('sealpost devices revoke ID'); such a
    device gets no copies of what you send until 'sealpost devices
    approve ID'. It is repeated each time sealpost starts until resolved.
  - The key server denies a contact you know: a SECURITY line; the
    contact's messages wait at the relay and are retried.
  - This device was revoked by another of your devices: a loud warning
    within seconds; it can no longer send or receive.
  - The key server answers from an old view of its log (older than one
    this device has seen, or than 24 hours): the command fails with a
    "stale" error (exit status 5); try again later.
`
