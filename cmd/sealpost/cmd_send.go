package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
)

var sendCommand = &command{
	name:    "send",
	usage:   "send HANDLE [MESSAGE|-]",
	summary: "send a message",
	help: `
Sends MESSAGE to every device of HANDLE and a copy to this account's other
devices. Without MESSAGE, or with "-", the message is standard input (one
trailing newline removed). Prints the message id once the relay has stored
the message; exit status 0 means it was stored. Warnings (see below) go to
standard error.
` + whatYouAreTold,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up if the relay has not stored the message after `D`")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) < 1 {
				return usagef("missing HANDLE")
			}
			if len(args) > 2 {
				return usagef("too many arguments: quote the message")
			}
			if err := keys.CheckHandle(args[0]); err != nil {
				return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", args[0])
			}
			if *timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			var text []byte
			if len(args) == 2 && args[1] != "-" {
				if args[1] == "" {
					return usagef("empty message")
				}
				text = []byte(args[1])
			}
			fromStdin := text == nil
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				// Everything the client learns while sending is printed,
				// as listen does (key changes, devices, warnings).
				w := a.watchEvents(c.Events())
				defer w.stop()
				if fromStdin {
					var err error
					if text, err = a.readMessage(); err != nil {
						return err
					}
				}
				ctx, cancel := context.WithTimeout(ctx, *timeout)
				defer cancel()
				if err := w.waitConnected(ctx); err != nil {
					return err
				}
				id, err := c.Send(ctx, args[0], text)
				return a.sendOutcome(args[0], id, checkAccount(args[0], err))
			})
		}
	},
}

// readMessage reads a message from standard input and removes one
// trailing newline.
func (a *app) readMessage() ([]byte, error) {
	if a.term != nil && a.term.IsTerminal() {
		a.notef("Type the message; end it with Ctrl-D on a line of its own.\n")
	}
	b, err := io.ReadAll(io.LimitReader(a.in, client.MaxPlaintext+1))
	if err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	if len(b) > client.MaxPlaintext {
		return nil, fmt.Errorf("message longer than %d bytes: %w", client.MaxPlaintext, client.ErrTooLarge)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, usagef("empty message")
	}
	return b, nil
}

type jsonSent struct {
	ID      string        `json:"id"`
	To      string        `json:"to"`
	Refused []jsonRefused `json:"refused,omitempty"`
}

type jsonRefused struct {
	Handle string `json:"handle"`
	Device uint32 `json:"device"`
	Reason string `json:"reason"`
}

// sendOutcome prints the id of a stored message, or explains a failed
// send. A message some devices refused (*client.SendError) reached the
// others: its id is printed, and the refusal is the error.
func (a *app) sendOutcome(to string, id client.MessageID, err error) error {
	var se *client.SendError
	switch {
	case errors.As(err, &se):
		out := jsonSent{ID: se.ID.String(), To: to}
		var which []string
		for _, r := range se.Refused {
			out.Refused = append(out.Refused, jsonRefused{r.Handle, r.Device, r.Reason})
			which = append(which, fmt.Sprintf("%s device %d: %s", r.Handle, r.Device, r.Reason))
		}
		if a.json {
			a.emit(out)
		} else {
			a.printf("%s\n", se.ID)
		}
		return fmt.Errorf("stored for all devices but %s", strings.Join(which, "; "))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("not confirmed by the relay in time (if it was queued, it goes out the next time sealpost opens %s): %w", a.dir, err)
	case err != nil:
		return err
	}
	if a.json {
		a.emit(jsonSent{ID: id.String(), To: to})
		return nil
	}
	a.printf("%s\n", id)
	return nil
}
