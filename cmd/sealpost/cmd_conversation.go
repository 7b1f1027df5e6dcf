package main

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/crypto/keys"
)

// The commands that act on a conversation's messages (spec/client.md §12):
// react, edit, delete and timer send a message of their own and print its
// id as send does.

const idHelp = `ID is a message id: its 32 hex digits, or a prefix of at least 4 of them
that only one message of the conversation begins with (listen, chat and
history show the first 8).
`

var reactCommand = &command{
	name:    "react",
	usage:   "react HANDLE ID EMOJI",
	summary: "react to a message with an emoji",
	help: `
Adds the reaction EMOJI to message ID of the conversation with HANDLE (a
message HANDLE sent or this account sent); --remove takes this account's
reaction EMOJI away again. Every device of both accounts applies it
(history shows reactions with their message). Prints the id of the
reaction message once the relay has stored it.

` + idHelp + `
EMOJI is 1 to 64 bytes of UTF-8 (one emoji, possibly a sequence).
Exit status 3 if this device has no message ID (unknown_message).`,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up if the relay has not stored the reaction after `D`")
		remove := fs.Bool("remove", false, "remove the reaction instead of adding it")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantConversationArgs(args, 3, "HANDLE, ID and EMOJI", *timeout); err != nil {
				return err
			}
			emoji := args[2]
			if emoji == "" || len(emoji) > content.MaxEmojiBytes || !utf8.ValidString(emoji) {
				return usagef("EMOJI: want 1 to %d bytes of UTF-8", content.MaxEmojiBytes)
			}
			return a.sendAction(ctx, args[0], *timeout, func(ctx context.Context, c *client.Client) (client.MessageID, error) {
				target, _, err := resolveID(ctx, c, args[0], args[1])
				if err != nil {
					return client.MessageID{}, err
				}
				return c.React(ctx, args[0], target, emoji, *remove)
			})
		}
	},
}

var editCommand = &command{
	name:    "edit",
	usage:   "edit HANDLE ID TEXT|-",
	summary: "change the text of a message you sent",
	help: `
Replaces the text of message ID, a text this account sent to HANDLE, with
TEXT ("-": standard input, one trailing newline removed) on every device of
both accounts; history marks it "(edited)". Prints the id of the edit
message once the relay has stored it.

` + idHelp + `
Only the sender can edit a message: another account's message is refused
with exit status 3 (not_sender) and nothing is sent. TEXT is 1 to 16384
bytes of UTF-8.`,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up if the relay has not stored the edit after `D`")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantConversationArgs(args, 3, "HANDLE, ID and TEXT", *timeout); err != nil {
				return err
			}
			text := []byte(args[2])
			if args[2] == "-" {
				var err error
				if text, err = a.readMessage(); err != nil {
					return err
				}
			}
			if err := checkText(text); err != nil {
				return err
			}
			return a.sendAction(ctx, args[0], *timeout, func(ctx context.Context, c *client.Client) (client.MessageID, error) {
				target, _, err := resolveID(ctx, c, args[0], args[1])
				if err != nil {
					return client.MessageID{}, err
				}
				return c.Edit(ctx, args[0], target, string(text))
			})
		}
	},
}

var deleteCommand = &command{
	name:    "delete",
	usage:   "delete HANDLE ID",
	summary: "delete a message you sent, for everyone",
	help: `
Deletes message ID, which this account sent to HANDLE, for everyone: every
device of both accounts deletes its content (history shows "[deleted]").
Prints the id of the delete message once the relay has stored it.

` + idHelp + `
Only the sender can delete a message: another account's message is
refused with exit status 3 (not_sender) and nothing is sent.`,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up if the relay has not stored the delete after `D`")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantConversationArgs(args, 2, "HANDLE and ID", *timeout); err != nil {
				return err
			}
			return a.sendAction(ctx, args[0], *timeout, func(ctx context.Context, c *client.Client) (client.MessageID, error) {
				target, _, err := resolveID(ctx, c, args[0], args[1])
				if err != nil {
					return client.MessageID{}, err
				}
				return c.Delete(ctx, args[0], target)
			})
		}
	},
}

var timerCommand = &command{
	name:    "timer",
	usage:   "timer HANDLE [D|off]",
	summary: "show or set the disappearing-message timer",
	help: `
Without D, shows the conversation's disappearing-message timer with
HANDLE. With a duration D, sets the timer for both sides: messages sent
and received after it are deleted from every device that long after they
were read (the receiver) or sent (the sender). D is a Go duration
("1h30m", "45s"), a number of seconds, a number of days ("7d"), or "off"
(or 0); 30 seconds to 365 days, in whole seconds. Prints the id of the
timer message once the relay has stored it.`,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up if the relay has not stored the change after `D`")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) == 1 {
				if err := wantConversationArgs(args, 1, "HANDLE", *timeout); err != nil {
					return err
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					d, err := c.Timer(ctx, args[0])
					if err != nil {
						return err
					}
					if a.json {
						a.emit(jsonTimer{Handle: args[0], Seconds: int64(d / time.Second)})
						return nil
					}
					a.printf("disappearing-message timer with %s: %s\n", args[0], fmtTimer(d))
					return nil
				})
			}
			if err := wantConversationArgs(args, 2, "HANDLE and D", *timeout); err != nil {
				return err
			}
			d, err := parseTimer(args[1])
			if err != nil {
				return err
			}
			return a.sendAction(ctx, args[0], *timeout, func(ctx context.Context, c *client.Client) (client.MessageID, error) {
				return c.SetTimer(ctx, args[0], d)
			})
		}
	},
}

type jsonTimer struct {
	Handle  string `json:"handle"`
	Seconds int64  `json:"timer_seconds"`
}

// parseTimer parses a timer argument: "off", seconds, "7d" or a Go
// duration, checked against spec/content.md §4.5.
func parseTimer(s string) (time.Duration, error) {
	var d time.Duration
	switch n, err := strconv.ParseUint(s, 10, 32); {
	case s == "off":
		return 0, nil
	case err == nil:
		d = time.Duration(n) * time.Second
	case strings.HasSuffix(s, "d"):
		days, err := strconv.ParseUint(strings.TrimSuffix(s, "d"), 10, 16)
		if err != nil {
			return 0, usagef("timer %q: want a duration such as 1h, 90s, 7d, or off", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	default:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, usagef("timer %q: want a duration such as 1h, 90s, 7d, or off", s)
		}
	}
	if d == 0 {
		return 0, nil
	}
	if d%time.Second != 0 || d < content.MinTimerSeconds*time.Second || d > content.MaxTimerSeconds*time.Second {
		return 0, usagef("timer %q: want whole seconds from 30s to 365d, or off", s)
	}
	return d, nil
}

// wantConversationArgs checks n positional arguments, the first a
// handle, the second (if any, and n > 1) a message id, and --timeout.
func wantConversationArgs(args []string, n int, what string, timeout time.Duration) error {
	if err := wantArgs(args, n, what); err != nil {
		return err
	}
	if err := keys.CheckHandle(args[0]); err != nil {
		return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", args[0])
	}
	if timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return nil
}

// checkText checks a text against spec/content.md §4.1.
func checkText(text []byte) error {
	switch {
	case len(text) == 0:
		return usagef("empty text")
	case !utf8.Valid(text):
		return usagef("the text is not UTF-8")
	case len(text) > content.MaxTextBytes:
		return usagef("the text is %d bytes, at most %d", len(text), content.MaxTextBytes)
	}
	return nil
}

// sendAction runs act as send sends a message: events are printed, the
// relay connection is awaited, and the id of what act sent is printed.
func (a *app) sendAction(ctx context.Context, handle string, timeout time.Duration, act func(ctx context.Context, c *client.Client) (client.MessageID, error)) error {
	return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
		w := a.watchEvents(c.Events())
		defer w.stop()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := w.waitConnected(ctx); err != nil {
			return err
		}
		id, err := act(ctx, c)
		return a.sendOutcome(handle, id, checkAccount(handle, err))
	})
}
