package main

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sealpost/sealpost/client"
)

// escapeText makes text chosen by someone else safe to print on a
// terminal: invalid UTF-8 and control characters become \xNN or \uNNNN
// escapes (ESC, so ANSI sequences, included; C1 controls such as the
// 8-bit CSI too), as do the bidirectional overrides and line separators
// that reorder or fake what is shown; a backslash is doubled so escapes
// cannot be faked either. With multiline, a newline is kept and the next
// line indented, so a message cannot start a line that looks like another
// message.
func escapeText(b []byte, multiline bool) string {
	var s strings.Builder
	s.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			fmt.Fprintf(&s, `\x%02x`, b[0])
			b = b[1:]
			continue
		}
		b = b[size:]
		switch {
		case r == '\\':
			s.WriteString(`\\`)
		case r == '\n' && multiline:
			s.WriteString("\n" + continuation)
		case r == '\n':
			s.WriteString(`\n`)
		case r == '\t':
			s.WriteString(`\t`)
		case r == '\r':
			s.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&s, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&s, `\u%04x`, r)
		default:
			s.WriteRune(r)
		}
	}
	return s.String()
}

// continuation indents the second and later lines of a message.
const continuation = "    "

// unsafeRune reports whether r is a C1 control, a bidirectional control
// or a line or paragraph separator.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls, 8-bit CSI among them
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // ALM, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e: // LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r == 0xfeff: // zero width no-break space (BOM)
		return true
	}
	return false
}

// timeLayout is the time of a message in human output.
const timeLayout = "2006-01-02 15:04:05"

// jsonEvent is a client event in --json output.
type jsonEvent struct {
	Event   string `json:"event"`
	Handle  string `json:"handle,omitempty"`
	Device  uint32 `json:"device,omitempty"`
	Time    string `json:"time,omitempty"`
	Revoked bool   `json:"revoked,omitempty"`
	// For key-changed: the safety numbers with the old and the new key,
	// and whether the old one was verified.
	OldSafetyNumber []string `json:"old_safety_number,omitempty"`
	NewSafetyNumber []string `json:"new_safety_number,omitempty"`
	Verified        bool     `json:"verified,omitempty"`
	Error           string   `json:"error,omitempty"`
	// Messages are the ids a receipt or message-expired event concerns;
	// Read is set on receipts (true: read, false: delivered), Typing on
	// typing events (true: started, false: stopped).
	Messages []string `json:"messages,omitempty"`
	Read     *bool    `json:"read,omitempty"`
	Typing   *bool    `json:"typing,omitempty"`
	// Group is the group of a group event, GroupChange the kind of a
	// group-changed event's change.
	Group       string `json:"group,omitempty"`
	GroupChange string `json:"group_change,omitempty"`
}

// eventName is the --json name of an event kind, such as "key-changed".
func eventName(k client.EventKind) string { return k.String() }

func newJSONEvent(e client.Event) jsonEvent {
	j := jsonEvent{Event: eventName(e.Kind), Handle: e.Handle, Device: e.Device, Revoked: e.Revoked,
		Group: groupIDText(e.Group), GroupChange: e.GroupChange}
	j.Time = fmtJSONTime(e.Time)
	for _, id := range e.Messages {
		j.Messages = append(j.Messages, id.String())
	}
	switch e.Kind {
	case client.EventReceipt:
		j.Read = &e.Read
	case client.EventTyping:
		j.Typing = &e.Typing
	}
	if kc := e.KeyChange; kc != nil {
		j.OldSafetyNumber, j.NewSafetyNumber, j.Verified = kc.Old.Groups(), kc.New.Groups(), kc.Verified
	}
	if e.Err != nil {
		j.Error = describe(e.Err)
	}
	return j
}

// onTime is " on YYYY-MM-DD HH:MM UTC", or "" for no time.
func onTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " on " + t.UTC().Format("2006-01-02 15:04 UTC")
}

// deviceAddedText tells a person that a contact has a new device, and
// what to do about it. Devices have no names (a device certificate holds
// the handle, the account key, the device id, its keys and the time it
// was certified: spec/keys.md §6), so the id and that time are what there
// is to show. The safety number is made from the account keys only and
// does not change; what the user can act on is asking the contact.
func deviceAddedText(h string, device uint32, t time.Time) string {
	return fmt.Sprintf("sealpost: %s added a new device, device %d%s; what you send to %s now reaches it too.\n"+
		"sealpost:   Not expected? Ask %s, over a channel you trust, to run 'sealpost devices': a device %s did not add means someone else holds %s's account key.\n",
		h, device, onTime(t), h, h, h, h)
}

// ownAccountWarning is the loud warning of an EventOwnAccountChanged, with
// the command that revokes the device (spec/client.md §6.3).
func ownAccountWarning(e client.Event) string {
	h := escapeText([]byte(e.Handle), false)
	when := ""
	if !e.Time.IsZero() {
		when = " on " + e.Time.UTC().Format("2006-01-02 15:04 UTC")
	}
	var lines []string
	if e.Revoked {
		lines = []string{
			fmt.Sprintf("WARNING: another device revoked device %d of your account %s%s.", e.Device, h, when),
			"If you did not do this, someone else holds your account key: see 'sealpost devices'.",
		}
	} else {
		lines = []string{
			fmt.Sprintf("WARNING: a device you did not approve was added to your account %s%s: device %d.", h, when, e.Device),
			"It gets no copies of what you send from here until you approve it.",
			"If you did not add it, someone has your account key (a stolen backup?). Revoke it now:",
			fmt.Sprintf("    sealpost devices revoke %d", e.Device),
			"and make a new backup with a new passphrase. If it is your own new device:",
			fmt.Sprintf("    sealpost devices approve %d", e.Device),
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("sealpost: !!! " + l + "\n")
	}
	return b.String()
}

// receiptLines is one line per message of a receipt:
//
//	sealpost: ✓✓ ab12cd34 delivered to bob device 2
//	sealpost: ✓✓ ab12cd34 read by bob device 2
func receiptLines(e client.Event) string {
	h := escapeText([]byte(e.Handle), false)
	var b strings.Builder
	for _, id := range e.Messages {
		if e.Read {
			fmt.Fprintf(&b, "sealpost: ✓✓ %s read by %s device %d\n", shortID(id), h, e.Device)
		} else {
			fmt.Fprintf(&b, "sealpost: ✓✓ %s delivered to %s device %d\n", shortID(id), h, e.Device)
		}
	}
	return b.String()
}

// formatEvent is the human line of an event, for stderr.
func formatEvent(e client.Event) string {
	h := escapeText([]byte(e.Handle), false)
	var s string
	switch e.Kind {
	case client.EventKeyChanged:
		if e.KeyChange != nil && e.KeyChange.Verified {
			s = fmt.Sprintf("SECURITY WARNING: %s's account key is no longer the one you verified. Nothing is sent to %s, and %s's new messages are held, until you compare the new safety number with %s ('sealpost verify %s') or accept the change ('sealpost accept %s')", h, h, h, h, h, h)
		} else {
			s = fmt.Sprintf("WARNING: %s's account key changed. Nothing is sent to %s until you accept it: compare the new safety number with %s ('sealpost verify %s'), then 'sealpost accept %s'", h, h, h, h, h)
		}
	case client.EventDeviceAdded:
		return deviceAddedText(h, e.Device, e.Time)
	case client.EventDeviceRemoved:
		s = fmt.Sprintf("%s removed device %d%s: nothing you send reaches it any more", h, e.Device, onTime(e.Time))
	case client.EventOwnAccountChanged:
		return ownAccountWarning(e)
	case client.EventEnvelopeDropped:
		s = "dropped an envelope that failed to decrypt or verify"
		if h != "" {
			s += " (from " + h + ")"
		}
	case client.EventSecurity:
		s = "SECURITY: the client refused what a server sent"
		if h != "" {
			s += " about " + h
		}
	case client.EventRevoked:
		return "sealpost: !!! THIS DEVICE HAS BEEN REVOKED by another device of your account: it can no longer send or receive. If you did not do this, someone holding your account key did: see 'sealpost devices' on your other devices\n"
	case client.EventConnected:
		s = "connected to the relay"
	case client.EventDisconnected:
		s = "disconnected from the relay; reconnecting"
	case client.EventReceipt:
		return receiptLines(e)
	case client.EventTyping:
		if e.Typing {
			s = fmt.Sprintf("%s is typing… (device %d)", h, e.Device)
		} else {
			s = fmt.Sprintf("%s stopped typing (device %d)", h, e.Device)
		}
	case client.EventPresence:
		s = fmt.Sprintf("%s is online (device %d)", h, e.Device)
	case client.EventContentDropped:
		s = "dropped a message"
		if h != "" {
			s += fmt.Sprintf(" from %s (device %d)", h, e.Device)
		}
		s += " that the conversation rules refuse"
	case client.EventGroupChanged:
		s = fmt.Sprintf("group %s: %s's change applied (%s); 'sealpost group members %s' shows it", shortGroup(e.Group), h, e.GroupChange, shortGroup(e.Group))
	case client.EventGroupRefused:
		s = fmt.Sprintf("group %s: a change from %s was refused, the group is unchanged", shortGroup(e.Group), h)
	case client.EventGroupOutOfSync:
		s = fmt.Sprintf("group %s: %s's message shows a group state this device does not have; asking %s for the changes", shortGroup(e.Group), h, h)
	case client.EventPushRefused:
		s = "the relay no longer takes this device's push target: no wake-ups until 'sealpost push set' registers one it takes"
	case client.EventMessageExpired:
		ids := make([]string, len(e.Messages))
		for i, id := range e.Messages {
			ids[i] = shortID(id)
		}
		s = fmt.Sprintf("%d message(s) with %s disappeared (timer): %s", len(e.Messages), h, strings.Join(ids, " "))
	default:
		s = eventName(e.Kind)
		if h != "" {
			s += " " + h
		}
	}
	if e.Err != nil {
		s += ": " + describe(e.Err)
	}
	return "sealpost: " + s + "\n"
}
