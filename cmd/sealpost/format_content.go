package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
)

// This file presents conversation content (spec/content.md, spec/client.md
// §12): what each kind of message looks like to a person and in --json.
// Everything a peer chose (texts, emoji, type URLs, handles in replies)
// goes through escapeText.

// jsonTime is the layout of every time in --json output: RFC 3339 in UTC
// with milliseconds.
const jsonTime = "2006-01-02T15:04:05.000Z07:00"

// fmtJSONTime is t in jsonTime, or "" for the zero time (left out).
func fmtJSONTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(jsonTime)
}

// shortIDLen is how many hex digits of a message id human output shows;
// commands take any unique prefix of at least minIDPrefix digits.
const (
	shortIDLen  = 8
	minIDPrefix = 4
)

func shortID(id client.MessageID) string { return id.String()[:shortIDLen] }

// shortIDBytes is shortID of an id carried in content, which Parse checked
// to be 16 bytes; anything else is shown in full, escaped.
func shortIDBytes(b []byte) string {
	if len(b) != content.MessageIDSize {
		return hex.EncodeToString(b)
	}
	return hex.EncodeToString(b[:shortIDLen/2])
}

// fmtTimer is a disappearing-message timer for people: "off", "30s",
// "1h", "7d", "1d12h".
func fmtTimer(d time.Duration) string {
	if d <= 0 {
		return "off"
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return d.String()
	}
	return b.String()
}

// isAction reports kinds that act on an earlier message or the
// conversation rather than say something: shown as "bob reacted ...".
func isAction(k content.Kind) bool {
	switch k {
	case content.KindReaction, content.KindEdit, content.KindDelete, content.KindTimer:
		return true
	}
	return false
}

// describeAction is the human text of a reaction, edit, delete or timer,
// after the sender: "reacted 👍 to ab12cd34".
func describeAction(c *content.Content) string {
	switch c.Kind() {
	case content.KindReaction:
		r := c.GetReaction()
		if r.GetRemove() {
			return fmt.Sprintf("removed the reaction %s from %s", escapeText([]byte(r.GetEmoji()), false), shortIDBytes(r.GetTargetId()))
		}
		return fmt.Sprintf("reacted %s to %s", escapeText([]byte(r.GetEmoji()), false), shortIDBytes(r.GetTargetId()))
	case content.KindEdit:
		e := c.GetEdit()
		return fmt.Sprintf("edited %s: %s", shortIDBytes(e.GetTargetId()), escapeText([]byte(e.GetBody()), true))
	case content.KindDelete:
		return "deleted " + shortIDBytes(c.GetDelete().GetTargetId())
	case content.KindTimer:
		return timerText(time.Duration(c.GetTimer().GetSeconds()) * time.Second)
	}
	return "[" + c.Kind().String() + "]"
}

func timerText(d time.Duration) string {
	if d <= 0 {
		return "turned the disappearing-message timer off"
	}
	return "set the disappearing-message timer to " + fmtTimer(d)
}

// describeBody is the human text of a message that says something: a
// version 1 body, a text, an application-defined or an unknown kind.
func describeBody(c *content.Content, plaintext []byte) string {
	if c == nil || c.Content == nil {
		return escapeText(plaintext, true)
	}
	switch c.Kind() {
	case content.KindText:
		return escapeText([]byte(c.GetText().GetBody()), true)
	case content.KindApp:
		app := c.GetApp()
		return fmt.Sprintf("[app %s, %d bytes]", escapeText([]byte(app.GetTypeUrl()), false), len(app.GetValue()))
	case content.KindUnknown:
		return "[content of a newer version]"
	case content.KindAttachment:
		return fileDescription(client.AttachmentOf(c))
	}
	return "[" + c.Kind().String() + "]"
}

// replyText is " ↪ reply to ab12cd34", or "".
func replyText(c *content.Content) string {
	if c == nil || c.Content == nil || c.GetReplyTo() == nil {
		return ""
	}
	return " ↪ reply to " + shortIDBytes(c.GetReplyTo().GetMessageId())
}

// formatMessage is the human line of a message:
//
//	2026-11-27 07:01:02  ab12cd34  bob (device 1): text
//	2026-11-27 07:01:02  ab12cd34  bob (device 1) ↪ reply to 9f00aa11: text
//	2026-11-27 07:01:02  ab12cd34  bob (device 1) reacted 👍 to 9f00aa11
//	2026-11-27 07:01:02  ab12cd34  → bob: text   (sent by this account)
//
// mark, if not "", goes before the sender (chat marks other senders). A
// text always follows ": ", an action never does (handles have no
// spaces), so a text cannot pass for an action.
func formatMessage(m *client.Message, loc *time.Location, mark string) string {
	var b strings.Builder
	b.WriteString(m.Time.In(loc).Format(timeLayout))
	b.WriteString("  " + shortID(m.ID) + "  ")
	if mark != "" {
		b.WriteString(mark + " ")
	}
	if m.Group != (client.GroupID{}) {
		// A group message: the group's id, as group list shows it.
		b.WriteString("[group " + m.Group.String()[:8] + "] ")
	}
	if m.Sent {
		fmt.Fprintf(&b, "→ %s", escapeText([]byte(m.To), false))
	} else {
		fmt.Fprintf(&b, "%s (device %d)", escapeText([]byte(m.From), false), m.FromDevice)
	}
	if m.KeyChanged {
		b.WriteString(" [KEY CHANGED, not verified]")
	}
	if m.Content != nil && isAction(m.Content.Kind()) {
		b.WriteString(" " + describeAction(m.Content))
	} else {
		b.WriteString(replyText(m.Content) + ": " + describeBody(m.Content, m.Plaintext))
	}
	if m.Timer > 0 {
		b.WriteString("  (disappears " + fmtTimer(m.Timer) + " after reading)")
	}
	b.WriteString("\n")
	return b.String()
}

// jsonContent holds the kind-specific fields of a message or history
// entry in --json output.
type jsonContent struct {
	// Kind is content.Kind's String ("text", "reaction", ..., "app",
	// "unknown"), or "v1" for a version 1 message.
	Kind string `json:"kind"`
	// Text is a version 1 body, a text, or an edit's new text;
	// TextBase64 the exact bytes of a version 1 body that is not UTF-8.
	Text       string        `json:"text"`
	TextBase64 string        `json:"text_base64,omitempty"`
	ReplyTo    *jsonReplyTo  `json:"reply_to,omitempty"`
	Reaction   *jsonReaction `json:"reaction,omitempty"`
	Target     string        `json:"target,omitempty"` // edit, delete
	// TimerSeconds is a timer message's new timer (0: off).
	TimerSeconds *uint32  `json:"timer_seconds,omitempty"`
	App          *jsonApp `json:"app,omitempty"`
	// File is an attachment's pointer, without its key.
	File *jsonFile `json:"file,omitempty"`
	// Unknown is the encoding of the fields this version does not know
	// (spec/content.md §5), base64.
	Unknown string `json:"unknown_base64,omitempty"`
}

type jsonReplyTo struct {
	ID     string `json:"id"`
	Sender string `json:"sender,omitempty"`
}

type jsonReaction struct {
	Target string `json:"target"`
	Emoji  string `json:"emoji"`
	Remove bool   `json:"remove"`
}

type jsonFile struct {
	BlobID      string `json:"blob_id"` // hex
	Digest      string `json:"digest"`  // hex, SHA-256 of the ciphertext
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	FileName    string `json:"file_name"`
	Caption     string `json:"caption,omitempty"`
}

type jsonApp struct {
	TypeURL string `json:"type_url"`
	Value   string `json:"value_base64"`
	Size    int    `json:"size"`
}

// newJSONContent fills the kind-specific fields from c, or from
// plaintext for a version 1 message (c nil).
func newJSONContent(c *content.Content, plaintext []byte) jsonContent {
	if c == nil || c.Content == nil {
		j := jsonContent{Kind: "v1", Text: strings.ToValidUTF8(string(plaintext), "\uFFFD")}
		if !utf8.Valid(plaintext) {
			j.TextBase64 = base64.StdEncoding.EncodeToString(plaintext)
		}
		return j
	}
	j := jsonContent{Kind: c.Kind().String()}
	if r := c.GetReplyTo(); r != nil {
		j.ReplyTo = &jsonReplyTo{ID: hex.EncodeToString(r.GetMessageId()), Sender: r.GetSender()}
	}
	switch c.Kind() {
	case content.KindText:
		j.Text = c.GetText().GetBody()
	case content.KindReaction:
		r := c.GetReaction()
		j.Reaction = &jsonReaction{Target: hex.EncodeToString(r.GetTargetId()), Emoji: r.GetEmoji(), Remove: r.GetRemove()}
	case content.KindEdit:
		j.Target, j.Text = hex.EncodeToString(c.GetEdit().GetTargetId()), c.GetEdit().GetBody()
	case content.KindDelete:
		j.Target = hex.EncodeToString(c.GetDelete().GetTargetId())
	case content.KindTimer:
		s := c.GetTimer().GetSeconds()
		j.TimerSeconds = &s
	case content.KindAttachment:
		a := client.AttachmentOf(c)
		j.File = &jsonFile{BlobID: hex.EncodeToString(a.BlobID[:]), Digest: hex.EncodeToString(a.Digest[:]), Size: a.Size,
			ContentType: a.ContentType, FileName: a.FileName, Caption: a.Caption}
	case content.KindApp:
		a := c.GetApp()
		j.App = &jsonApp{TypeURL: a.GetTypeUrl(), Value: base64.StdEncoding.EncodeToString(a.GetValue()), Size: len(a.GetValue())}
	}
	if u := c.Unknown(); len(u) > 0 {
		j.Unknown = base64.StdEncoding.EncodeToString(u)
	}
	return j
}

// jsonMessage is a message in --json output.
type jsonMessage struct {
	ID         string `json:"id"`
	From       string `json:"from"`
	FromDevice uint32 `json:"from_device"`
	To         string `json:"to"`
	Group      string `json:"group,omitempty"` // a group message's group id
	Sent       bool   `json:"sent"`
	KeyChanged bool   `json:"key_changed,omitempty"`
	Time       string `json:"time"`
	Received   string `json:"received,omitempty"`
	// DisappearsAfter is the disappearing-message timer the message falls
	// under (Message.Timer), in seconds; 0 (left out): none.
	DisappearsAfter int64 `json:"disappears_after_seconds,omitempty"`
	jsonContent
}

func newJSONMessage(m *client.Message) jsonMessage {
	return jsonMessage{
		ID:              m.ID.String(),
		From:            m.From,
		FromDevice:      m.FromDevice,
		To:              m.To,
		Group:           groupIDText(m.Group),
		Sent:            m.Sent,
		KeyChanged:      m.KeyChanged,
		Time:            fmtJSONTime(m.Time),
		Received:        fmtJSONTime(m.Received),
		DisappearsAfter: int64(m.Timer / time.Second),
		jsonContent:     newJSONContent(m.Content, m.Plaintext),
	}
}

// stateMark is the short mark of a delivery state: "…" queued, "✓"
// stored, "✓✓" delivered, "✓✓ read" read.
func stateMark(s client.DeliveryState) string {
	switch s {
	case client.StateQueued:
		return "… queued"
	case client.StateStored:
		return "✓"
	case client.StateDelivered:
		return "✓✓"
	case client.StateRead:
		return "✓✓ read"
	}
	return "?"
}

// groupIDText is a group message's group id in hex, "" for none.
func groupIDText(g client.GroupID) string {
	if g == (client.GroupID{}) {
		return ""
	}
	return g.String()
}
