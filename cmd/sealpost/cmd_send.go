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
	"unicode/utf8"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/crypto/keys"
)

var sendCommand = &command{
	name:    "send",
	usage:   "send HANDLE [MESSAGE|-] | send --file PATH [--caption TEXT] HANDLE",
	summary: "send a message",
	help: `
Sends MESSAGE to every device of HANDLE and a copy to this account's other
devices. Without MESSAGE, or with "-", the message is standard input (one
trailing newline removed). Prints the message id once the relay has stored
the message; exit status 0 means it was stored. Warnings (see below) go to
standard error.

MESSAGE is sent as a text (a version 2 message, spec/content.md) when it
is UTF-8 of at most 16384 bytes. Anything else (not UTF-8, or longer, up to
196608 bytes) is sent as before, as opaque bytes (a version 1 message),
which cannot be a reply.

--reply-to ID makes the text a reply quoting message ID (its 32 hex digits,
or a unique prefix of at least 4 as listen and history show it). The
quoted message's sender is taken from this device's history with HANDLE,
or from --reply-sender.

--file PATH sends the file at PATH instead (spec/attachments.md): it is
encrypted on this device into the store directory, uploaded to the blob
service (a progress bar on a terminal), and the message that points to it
is sent; --caption adds a text, --type sets the content type (default: by
the file's extension or first bytes). An upload that is interrupted
resumes where it stopped the next time sealpost opens the store.

--group GROUP sends the file (with --file) to a group instead of HANDLE,
which is then left out.

--wait delivered (or read) waits, after the relay stored the message, until
one of HANDLE's devices reports it delivered (or read), up to --timeout,
and fails (exit status 1) if none does; 'sealpost status ID' shows it later.
` + whatYouAreTold,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up if the relay has not stored the message (or --wait not met) after `D`")
		replyTo := fs.String("reply-to", "", "reply to message `ID`")
		replySender := fs.String("reply-sender", "", "the `HANDLE` who sent the message replied to (default: from the history)")
		wait := fs.String("wait", "", "also wait until the message is `STATE`: delivered or read")
		file := fs.String("file", "", "send the file at `PATH`")
		caption := fs.String("caption", "", "with --file: a caption `TEXT`")
		mimeType := fs.String("type", "", "with --file: the content `TYPE` (default: guessed)")
		groupArg := fs.String("group", "", "with --file: send to `GROUP` instead of a handle")
		return func(ctx context.Context, a *app, args []string) error {
			if *file != "" || *groupArg != "" {
				return a.sendFileCommand(ctx, args, *file, *caption, *mimeType, *groupArg, *timeout, *replyTo, *replySender)
			}
			if *caption != "" || *mimeType != "" {
				return usagef("--caption and --type go with --file")
			}
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
			if *replyTo != "" {
				if err := checkIDArg(*replyTo); err != nil {
					return err
				}
			}
			if *replySender != "" {
				if *replyTo == "" {
					return usagef("--reply-sender without --reply-to")
				}
				if err := keys.CheckHandle(*replySender); err != nil {
					return usagef("--reply-sender %q: want a handle", *replySender)
				}
			}
			want, err := parseState(*wait)
			if err != nil {
				return err
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
				asText := utf8.Valid(text) && len(text) <= content.MaxTextBytes
				deadline := time.Now().Add(*timeout)
				ctx, cancel := context.WithDeadline(ctx, deadline.Add(time.Second))
				defer cancel()
				var opts []client.SendOption
				if *replyTo != "" {
					if !asText {
						return usagef("a reply must be UTF-8 text of at most %d bytes", content.MaxTextBytes)
					}
					opt, err := replyOption(ctx, c, args[0], *replyTo, *replySender)
					if err != nil {
						return err
					}
					opts = append(opts, opt)
				}
				if err := w.waitConnected(ctx); err != nil {
					return err
				}
				var id client.MessageID
				if asText {
					id, err = c.SendText(ctx, args[0], string(text), opts...)
				} else {
					id, err = c.Send(ctx, args[0], text)
				}
				if err := a.sendOutcome(args[0], id, checkAccount(args[0], err)); err != nil || want == 0 {
					return err
				}
				_, err = waitStatus(ctx, c, id, want, time.Until(deadline))
				return err
			})
		}
	},
}

// replyOption is the WithReplyTo of --reply-to ID: the message's sender
// is sender if given, else the sender this device's history with handle
// records.
func replyOption(ctx context.Context, c *client.Client, handle, idArg, sender string) (client.SendOption, error) {
	id, entry, err := resolveID(ctx, c, handle, idArg)
	if err != nil {
		return nil, err
	}
	if sender == "" {
		if entry == nil {
			return nil, fmt.Errorf("message %s is not in this device's history with %s (give --reply-sender to quote it anyway): %w", id, handle, client.ErrUnknownMessage)
		}
		sender = entry.From
	}
	return client.WithReplyTo(id, sender), nil
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

// sendFileCommand is send --file.
func (a *app) sendFileCommand(ctx context.Context, args []string, file, caption, mimeType, groupArg string, timeout time.Duration, replyTo, replySender string) error {
	if file == "" {
		return usagef("--group goes with --file")
	}
	want := 1
	if groupArg != "" {
		want = 0
	}
	if len(args) != want {
		if want == 0 {
			return usagef("with --group, no HANDLE")
		}
		return usagef("send --file PATH HANDLE")
	}
	handle := ""
	if want == 1 {
		handle = args[0]
		if err := keys.CheckHandle(handle); err != nil {
			return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", handle)
		}
	}
	if replyTo != "" {
		if err := checkIDArg(replyTo); err != nil {
			return err
		}
		if groupArg != "" {
			return usagef("--reply-to does not go with --group")
		}
	}
	if timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
		w := a.watchEvents(c.Events())
		defer w.stop()
		var opts []client.SendOption
		if replyTo != "" {
			opt, err := replyOption(ctx, c, handle, replyTo, replySender)
			if err != nil {
				return err
			}
			opts = append(opts, opt)
		}
		var gid *client.GroupID
		if groupArg != "" {
			g, err := resolveGroup(ctx, c, groupArg)
			if err != nil {
				return err
			}
			gid = &g
		}
		if err := w.waitConnected(ctx); err != nil {
			return err
		}
		// The timeout bounds the wait for the relay after the upload, not
		// the upload: a large file takes as long as it takes.
		id, err := a.sendFile(ctx, c, handle, gid, file, caption, mimeType, opts)
		if errors.Is(err, client.ErrQueued) {
			err = fmt.Errorf("%w: %w", errFileQueued, err)
		}
		to := handle
		if gid != nil {
			to = "group " + gid.String()
		}
		return a.sendOutcome(to, id, checkAccount(handle, err))
	})
}
