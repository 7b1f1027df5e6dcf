package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
)

// statusSettle is how long status takes the receipts waiting at the relay.
const statusSettle = time.Second

var statusCommand = &command{
	name:    "status",
	usage:   "status [HANDLE] ID",
	summary: "show whether a message was delivered and read",
	help: `
Shows how far message ID, which this account sent, has got:
  … queued                   on the sending device; the relay has not
                             stored it for every device of the recipient
  ✓ stored                   the relay stored it for every device
  ✓✓ delivered (N of M)      N of the recipient's M devices received it
  ✓✓ read (N of M)           N of them reported it read
With -v (or --json), one line per recipient device too. ID is the full
32-digit id that send printed or, with HANDLE (the recipient), a unique
prefix of at least 4 digits as history shows it. On this account's other
devices, the state is what their copy of the message and the receipts
they got say.

The receipts come through the relay: status connects first and takes what
is waiting for up to a second (receipts queued behind a message that
'sealpost listen' has not shown yet wait for it). --wait delivered (or
read) waits up to --timeout for that state and fails (exit status 1)
without it. Exit status 3 (unknown_message) for an id this account did
not send, or that this device has no copy of.`,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", 30*time.Second, "how long --wait waits, or the relay connection is awaited, `D`")
		wait := fs.String("wait", "", "wait until the message is `STATE`: stored, delivered or read")
		return func(ctx context.Context, a *app, args []string) error {
			var handle, idArg string
			switch len(args) {
			case 1:
				idArg = args[0]
				if _, err := client.ParseMessageID(strings.ToLower(idArg)); err != nil {
					return usagef("message id %q: want the 32 hex digits send printed, or HANDLE and a prefix", idArg)
				}
			case 2:
				if err := wantConversationArgs(args, 2, "HANDLE and ID", *timeout); err != nil {
					return err
				}
				handle, idArg = args[0], args[1]
				if err := checkIDArg(idArg); err != nil {
					return err
				}
			default:
				return wantArgs(args, 1, "ID")
			}
			want, err := parseState(*wait)
			if err != nil {
				return err
			}
			if *timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				w := a.watchEvents(c.Events())
				defer w.stop()
				id, err := client.ParseMessageID(strings.ToLower(idArg))
				if handle != "" {
					id, _, err = resolveID(ctx, c, handle, idArg)
				}
				if err != nil {
					return err
				}
				// Unknown ids fail at once, before any waiting.
				if _, err := c.MessageStatus(ctx, id); err != nil {
					return err
				}
				start := time.Now()
				wctx, cancel := context.WithTimeout(ctx, *timeout)
				err = w.waitConnected(wctx)
				cancel()
				if err != nil {
					return err
				}
				var st *client.MessageStatus
				if want != 0 {
					st, err = waitStatus(ctx, c, id, want, *timeout-time.Since(start))
				} else {
					// What was waiting at the relay comes in first.
					st, err = waitStatus(ctx, c, id, client.StateRead, statusSettle)
					if errors.Is(err, errNotYet) {
						err = nil
					}
				}
				if st == nil {
					return err
				}
				a.printStatus(id, st)
				return err
			})
		}
	},
}

// jsonStatus is a MessageStatus in --json output.
type jsonStatus struct {
	ID           string             `json:"id,omitempty"`
	State        string             `json:"state"`
	Devices      int                `json:"devices"`
	Stored       int                `json:"stored"`
	Refused      int                `json:"refused"`
	Delivered    int                `json:"delivered"`
	Read         int                `json:"read"`
	DeviceStates []jsonDeviceStatus `json:"device_states"`
}

type jsonDeviceStatus struct {
	Device    uint32 `json:"device"`
	State     string `json:"state"`
	Refused   bool   `json:"refused"`
	Delivered string `json:"delivered,omitempty"`
	Read      string `json:"read,omitempty"`
}

func newJSONStatus(id string, st *client.MessageStatus) *jsonStatus {
	j := &jsonStatus{ID: id, State: st.State.String(), Devices: st.Devices, Stored: st.Stored, Refused: st.Refused,
		Delivered: st.Delivered, Read: st.Read, DeviceStates: []jsonDeviceStatus{}}
	for _, d := range st.DeviceStates {
		j.DeviceStates = append(j.DeviceStates, jsonDeviceStatus{Device: d.Device, State: d.State.String(), Refused: d.Refused,
			Delivered: fmtJSONTime(d.Delivered), Read: fmtJSONTime(d.Read)})
	}
	return j
}

// statusText is the human summary of a MessageStatus: "✓✓ delivered (1 of
// 2 devices)".
func statusText(st *client.MessageStatus) string {
	var s string
	switch st.State {
	case client.StateQueued:
		s = fmt.Sprintf("… queued (stored for %d of %d devices)", st.Stored, st.Devices)
	case client.StateStored:
		s = fmt.Sprintf("✓ stored (%d of %d devices)", st.Stored, st.Devices)
	case client.StateDelivered:
		s = fmt.Sprintf("✓✓ delivered (%d of %d devices)", st.Delivered, st.Devices)
	case client.StateRead:
		s = fmt.Sprintf("✓✓ read (%d of %d devices)", st.Read, st.Devices)
	default:
		s = st.State.String()
	}
	if st.Refused > 0 {
		s += fmt.Sprintf("; refused for %d", st.Refused)
	}
	return s
}

func (a *app) printStatus(id client.MessageID, st *client.MessageStatus) {
	if a.json {
		a.emit(newJSONStatus(id.String(), st))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", id, statusText(st))
	if a.verbose {
		for _, d := range st.DeviceStates {
			fmt.Fprintf(&b, "  device %d: %s", d.Device, d.State)
			if d.Refused {
				b.WriteString(", refused by the relay")
			}
			if !d.Delivered.IsZero() {
				b.WriteString(", delivered " + d.Delivered.In(a.loc).Format(timeLayout))
			}
			if !d.Read.IsZero() {
				b.WriteString(", read " + d.Read.In(a.loc).Format(timeLayout))
			}
			b.WriteString("\n")
		}
	}
	a.printf("%s", b.String())
}

var historyCommand = &command{
	name:    "history",
	usage:   "history HANDLE",
	summary: "show the conversation with HANDLE",
	offline: true,
	help: `
Shows the newest messages of the conversation with HANDLE that this device
keeps, oldest first, with edits, deletions and reactions applied:
  2026-12-04 21:00:01  ab12cd34  alice ↪ reply to 9f00aa11: text (edited)  [👍 bob]  ✓✓
Deleted messages show as "[deleted]", application-defined ones as
"[app TYPE, N bytes]", kinds of a newer version as "[content of a newer
version]", and timer changes as "alice set the disappearing-message timer
to 1h". This account's messages end with their state (✓ stored, ✓✓
delivered, ✓✓ read, … queued), and a disappearing
message with when it disappears. It shows what this device has received:
run 'sealpost listen' first for what is waiting at the relay.`,
	setup: func(fs *flag.FlagSet) runner {
		n := fs.Int("n", 50, "show the newest `N` messages")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantConversationArgs(args, 1, "HANDLE", time.Second); err != nil {
				return err
			}
			if *n <= 0 {
				return usagef("-n must be positive")
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				hist, err := c.History(ctx, args[0], *n)
				if err != nil {
					return err
				}
				for i := range hist {
					e := &hist[i]
					var st *client.MessageStatus
					if e.Outgoing {
						st, err = c.MessageStatus(ctx, e.ID)
						if err != nil && !errors.Is(err, client.ErrUnknownMessage) {
							return err
						}
					}
					if a.json {
						a.emit(newJSONHistoryEntry(e, st))
					} else {
						a.printf("%s", formatHistoryEntry(e, st, a.loc))
					}
				}
				return nil
			})
		}
	},
}

// jsonHistoryEntry is a HistoryEntry in --json output. Kind is "deleted"
// for a deleted message, "v1" for a version 1 message.
type jsonHistoryEntry struct {
	ID         string `json:"id"`
	From       string `json:"from"`
	FromDevice uint32 `json:"from_device"`
	Outgoing   bool   `json:"outgoing"`
	Time       string `json:"time"`
	Received   string `json:"received,omitempty"`
	jsonContent
	Edited    string              `json:"edited,omitempty"`
	Deleted   bool                `json:"deleted"`
	Reactions []jsonReactionEntry `json:"reactions"`
	Read      string              `json:"read,omitempty"`
	Expires   string              `json:"expires,omitempty"`
	// Status is the receipt state of an outgoing message sent from this
	// device.
	Status *jsonStatus `json:"status,omitempty"`
}

type jsonReactionEntry struct {
	From  string `json:"from"`
	Emoji string `json:"emoji"`
	Time  string `json:"time"`
}

func newJSONHistoryEntry(e *client.HistoryEntry, st *client.MessageStatus) jsonHistoryEntry {
	j := jsonHistoryEntry{
		ID: e.ID.String(), From: e.From, FromDevice: e.FromDevice, Outgoing: e.Outgoing,
		Time: fmtJSONTime(e.Time), Received: fmtJSONTime(e.Received),
		jsonContent: newJSONContent(e.Content, e.Plaintext),
		Edited:      fmtJSONTime(e.Edited), Deleted: e.Deleted, Reactions: []jsonReactionEntry{},
		Read: fmtJSONTime(e.Read), Expires: fmtJSONTime(e.Expires),
	}
	if e.Deleted {
		j.jsonContent = jsonContent{Kind: "deleted"}
	}
	if j.ReplyTo == nil && e.ReplyTo != nil {
		j.ReplyTo = &jsonReplyTo{ID: e.ReplyTo.String()}
	}
	for _, r := range e.Reactions {
		j.Reactions = append(j.Reactions, jsonReactionEntry{From: r.From, Emoji: r.Emoji, Time: fmtJSONTime(r.Time)})
	}
	if st != nil {
		j.Status = newJSONStatus("", st)
	}
	return j
}

// formatHistoryEntry is the human line of a history entry.
func formatHistoryEntry(e *client.HistoryEntry, st *client.MessageStatus, loc *time.Location) string {
	var b strings.Builder
	b.WriteString(e.Time.In(loc).Format(timeLayout) + "  " + shortID(e.ID) + "  " + escapeText([]byte(e.From), false))
	reply := replyText(e.Content)
	if reply == "" && e.ReplyTo != nil {
		reply = " ↪ reply to " + shortID(*e.ReplyTo)
	}
	switch {
	case e.Deleted:
		b.WriteString(": [deleted]")
	case e.Content != nil && isAction(e.Content.Kind()):
		b.WriteString(" " + describeAction(e.Content))
	default:
		b.WriteString(reply + ": " + describeBody(e.Content, e.Plaintext))
	}
	if !e.Edited.IsZero() && !e.Deleted {
		b.WriteString(" (edited)")
	}
	if len(e.Reactions) > 0 {
		rs := make([]string, len(e.Reactions))
		for i, r := range e.Reactions {
			rs[i] = escapeText([]byte(r.Emoji), false) + " " + escapeText([]byte(r.From), false)
		}
		b.WriteString("  [" + strings.Join(rs, ", ") + "]")
	}
	if st != nil {
		b.WriteString("  " + stateMark(st.State))
	}
	if !e.Expires.IsZero() {
		b.WriteString("  (disappears " + e.Expires.In(loc).Format(timeLayout) + ")")
	}
	b.WriteString("\n")
	return b.String()
}

// Kinds History keeps (spec/client.md §12.6); used to decide what listen
// and chat mark read.
func readable(m *client.Message) bool {
	if m.Sent {
		return false
	}
	if m.Content == nil {
		return true
	}
	switch m.Content.Kind() {
	case content.KindText, content.KindApp, content.KindUnknown:
		return true
	}
	return false
}
