package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
)

var listenCommand = &command{
	name:    "listen",
	usage:   "listen",
	summary: "print incoming messages as they arrive",
	help: `
Prints incoming messages as they arrive, until interrupted (Ctrl-C), one a
line:
  2026-11-27 07:01:02  bob (device 1): text
  2026-11-27 07:01:02  → bob: text      (sent by this account's other device)
Later lines of a message are indented. A message marked "[KEY CHANGED, not verified]"
came under an account key of the sender that you have not accepted.
Events go to standard error; with --json they are {"event":...} lines on
standard output beside the messages. If the servers cannot be reached when
listen starts, it fails at once (exit status 5); a connection lost later
is reported and re-established by itself.
` + whatYouAreTold + `
The exit status is 4 if the client reported a security event (a server
caught misbehaving, a device on your account you did not approve, or a
verified contact's changed key).`,
	setup: func(fs *flag.FlagSet) runner {
		count := fs.Int("count", 0, "exit after `N` messages")
		once := fs.Bool("once", false, "exit after one message (--count 1)")
		timeout := fs.Duration("timeout", 0, "stop after `D` (such as 30s); with --count, getting fewer is an error")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
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
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				return a.listen(ctx, c, n, *timeout)
			})
		}
	},
}

// listen prints messages and events until ctx ends, count messages have
// come (count > 0) or timeout passes (timeout > 0).
func (a *app) listen(ctx context.Context, c *client.Client, count int, timeout time.Duration) error {
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
			// Shown: the client may forget it (spec/client.md §5.2).
			m.Ack()
			n++
			if count > 0 && n >= count {
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

var chatCommand = &command{
	name:    "chat",
	usage:   "chat HANDLE",
	summary: "send the lines typed, show the replies",
	help: `
An interactive conversation with HANDLE: each line typed is sent; messages
from HANDLE, and copies of what this account sent HANDLE from its other
devices, are printed as they come. Messages to and from anyone else are
shown too, marked with "*" before the sender. HANDLE is looked up first:
an account the key server does not know ends chat at once (exit status 6).
End of input (Ctrl-D), a line "/quit", or Ctrl-C ends the chat with exit
status 0 (4 if a security event was reported, as for listen); a line that
could not be sent is reported at once and the chat goes on. To send a
line that starts with "/", type it twice ("//quit" sends "/quit"). With
--json, each line sent is printed back once stored, as a message with
"sent":true. Events and warnings go to standard error, as for listen.
` + whatYouAreTold,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up on a line the relay has not stored after `D`")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "HANDLE"); err != nil {
				return err
			}
			if err := keys.CheckHandle(args[0]); err != nil {
				return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", args[0])
			}
			if *timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				if err := checkPeer(ctx, c, args[0], *timeout); err != nil {
					return err
				}
				return a.chat(ctx, c, args[0], *timeout)
			})
		}
	},
}

// checkPeer looks up peer before a chat begins: an account the key server
// does not know is an error now, not after the first line typed.
func checkPeer(ctx context.Context, c *client.Client, peer string, timeout time.Duration) error {
	if peer == c.Handle() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := c.SafetyNumber(ctx, peer)
	if errors.Is(err, client.ErrKeyChanged) {
		// Reported as an event; the chat shows it and each line's
		// refusal.
		return nil
	}
	return checkAccount(peer, err)
}

// sendResult is the outcome of sending one typed line.
type sendResult struct {
	text []byte
	id   client.MessageID
	err  error
}

// chat sends the lines of standard input to peer and prints what comes
// in, until end of input or ctx ends.
func (a *app) chat(ctx context.Context, c *client.Client, peer string, timeout time.Duration) error {
	if a.term != nil && a.term.IsTerminal() && !a.json {
		a.notef("Chat with %s as %s. Type a line and Enter to send; Ctrl-D ends.\n", peer, c.Handle())
	}
	results := make(chan sendResult)
	inputDone := make(chan struct{})
	var inputErr error // set before inputDone is closed
	// The first line waits for the relay connection (see waitConnected).
	connected := make(chan struct{})
	go func() {
		defer close(inputDone)
		select {
		case <-connected:
		case <-ctx.Done():
			return
		}
		for {
			line, err := a.in.ReadBytes('\n')
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if string(line) == "/quit" {
				return
			}
			if bytes.HasPrefix(line, []byte("//")) {
				line = line[1:]
			}
			if len(line) > 0 {
				sctx, cancel := context.WithTimeout(ctx, timeout)
				id, serr := c.Send(sctx, peer, line)
				cancel()
				select {
				case results <- sendResult{text: line, id: id, err: serr}:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					inputErr = fmt.Errorf("reading input: %w", err)
				}
				return
			}
		}
	}()

	msgs, events := c.Messages(), c.Events()
	notify := connected
	security := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-inputDone:
			// A normal end (end of input, /quit) is a success: lines
			// that could not be sent were reported as they failed.
			if inputErr != nil {
				return inputErr
			}
			if security {
				return errSecurityEvents
			}
			return nil
		case r := <-results:
			if r.err != nil {
				if a.json {
					a.emitError(jsonError{Error: errorCode(r.err), Message: "not sent: " + describe(r.err), Hint: hint(r.err), Command: "chat", Exit: exitCode(r.err)})
					continue
				}
				msg := describe(r.err)
				if h := hint(r.err); h != "" {
					msg += " (" + h + ")"
				}
				a.notef("sealpost: chat: not sent: %s\n", msg)
				continue
			}
			if a.json {
				a.printMessage(&client.Message{
					ID: r.id, From: c.Handle(), FromDevice: c.DeviceID(), To: peer,
					Sent: true, Time: time.Now(), Plaintext: r.text,
				}, "")
			}
		case m, ok := <-msgs:
			if !ok {
				return errors.New("the client stopped delivering messages")
			}
			mark := "*"
			if (m.Sent && m.To == peer) || (!m.Sent && m.From == peer) {
				mark = ""
			}
			a.printMessage(m, mark)
			m.Ack()
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			security = security || isSecurityEvent(e)
			if e.Kind == client.EventConnected && notify != nil {
				close(notify)
				notify = nil
			}
			a.printEvent(e)
		}
	}
}
