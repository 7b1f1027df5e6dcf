// Package webbridge is the part of the web client's JavaScript API
// (cmd/sealpost-web, web/README.md) that does not need a browser: what the
// page is told of a failure (a stable code and a message), and the client
// package's values as plain objects (maps of strings, numbers, booleans,
// byte slices and lists) that cmd/sealpost-web hands to JavaScript. It
// builds and is tested natively.
package webbridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Object is a value for JavaScript: its values are string, float64,
// bool, nil, []byte (a Uint8Array), Object or []any.
type Object = map[string]any

// Error is a failure as the page sees it: the Error a Promise rejects
// with has these as its code and message.
type Error struct {
	// Code is a short stable word the page switches on: the sealpost
	// command's --json error codes where they apply (README.md, "The
	// command-line client"), and store_full and store_gone for the
	// browser's storage (web/README.md lists them all).
	Code string
	// Message says what failed, for people, without the libraries'
	// package prefixes.
	Message string
}

// errUsage marks a call the page made wrongly (a missing or malformed
// argument).
var errUsage = errors.New("usage")

// Usage returns an error of code usage with message msg.
func Usage(msg string) error { return &usageError{msg} }

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

// Describe returns what the page is told of err.
func Describe(err error) Error {
	return Error{Code: Code(err), Message: message(err)}
}

// Code is the stable code of err; "failure" when no other applies.
func Code(err error) string {
	var uerr *url.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errUsage):
		return "usage"
	}
	if code := client.ErrorCode(err); code != "" {
		return code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &uerr):
		// In a browser a failed fetch or WebSocket says no more than
		// that it failed: a server that is down and a certificate the
		// browser refused look the same to the page (by design).
		return "unreachable"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return "failure"
}

// packagePrefix matches a package name that begins an error message or
// one of its ": "-separated parts, as the sealpost command strips them.
var packagePrefix = regexp.MustCompile(`(^|: |\()(?:client|ksclient|localstore|relaylink|relayclient|keys|kt|seal|pqxdh|ratchet|token|api|wire|tlsconfig|keyserver|relay|secmem|webbridge): `)

// message is err's text for people: one line, without package prefixes.
func message(err error) string {
	msg := err.Error()
	for {
		s := packagePrefix.ReplaceAllString(msg, "$1")
		if s == msg {
			break
		}
		msg = s
	}
	return strings.Join(strings.Fields(msg), " ")
}

// Message returns m as the page's onMessage callback gets it.
func Message(m *client.Message) Object {
	o := Object{
		"id":           m.ID.String(),
		"sender":       m.From,
		"senderDevice": float64(m.FromDevice),
		"to":           m.To,
		"outgoing":     m.Sent,
		"keyChanged":   m.KeyChanged,
		"sent":         millis(m.Time),
		"received":     millis(m.Received),
		"kind":         kindOf(m.Content),
		"text":         textOf(m.Content, m.Plaintext),
		"timer":        m.Timer.Seconds(),
	}
	if m.Group != (client.GroupID{}) {
		o["group"] = m.Group.String()
	}
	return o
}

// HistoryEntry returns e as history() lists it.
func HistoryEntry(e client.HistoryEntry) Object {
	o := Object{
		"id":           e.ID.String(),
		"sender":       e.From,
		"senderDevice": float64(e.FromDevice),
		"outgoing":     e.Outgoing,
		"sent":         millis(e.Time),
		"received":     millis(e.Received),
		"read":         millis(e.Read),
		"edited":       millis(e.Edited),
		"expires":      millis(e.Expires),
		"deleted":      e.Deleted,
		"kind":         kindOf(e.Content),
		"text":         textOf(e.Content, e.Plaintext),
	}
	if e.Deleted {
		o["kind"], o["text"] = "deleted", ""
	}
	if e.ReplyTo != nil {
		o["replyTo"] = e.ReplyTo.String()
	}
	var rs []any
	for _, r := range e.Reactions {
		rs = append(rs, Object{"sender": r.From, "emoji": r.Emoji})
	}
	o["reactions"] = rs
	return o
}

// Status returns st as the page's status gets it.
func Status(st *client.MessageStatus) Object {
	return Object{
		"state":     st.State.String(),
		"devices":   float64(st.Devices),
		"stored":    float64(st.Stored),
		"refused":   float64(st.Refused),
		"delivered": float64(st.Delivered),
		"read":      float64(st.Read),
	}
}

// kindOf names a content's kind as the sealpost command does: "v1" for a
// version 1 message.
func kindOf(c *content.Content) string {
	if c == nil {
		return "v1"
	}
	return c.Kind().String()
}

// textOf is a message's text: a text content's body, a version 1
// message's bytes, else "".
func textOf(c *content.Content, plaintext []byte) string {
	if c == nil {
		return strings.ToValidUTF8(string(plaintext), "\uFFFD")
	}
	return c.GetText().GetBody()
}

// millis is t in milliseconds since 1970, as JavaScript's Date takes it;
// nil for the zero time.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixMilli())
}

// Event returns e as the page's onEvent callback gets it: kind is the
// client's name for it ("key-changed", "connected", ...).
func Event(e client.Event) Object {
	o := Object{
		"kind":    e.Kind.String(),
		"handle":  e.Handle,
		"device":  float64(e.Device),
		"time":    millis(e.Time),
		"revoked": e.Revoked,
	}
	if e.Err != nil {
		d := Describe(e.Err)
		o["code"], o["error"] = d.Code, d.Message
	}
	if kc := e.KeyChange; kc != nil {
		o["verified"] = kc.Verified
		if kc.Old != nil {
			o["oldDigits"] = kc.Old.Digits()
		}
		if kc.New != nil {
			o["newDigits"] = kc.New.Digits()
		}
	}
	if len(e.Messages) > 0 {
		ids := make([]any, len(e.Messages))
		for i, id := range e.Messages {
			ids[i] = id.String()
		}
		o["messages"] = ids
	}
	if e.Kind == client.EventReceipt {
		o["read"] = e.Read
	}
	if e.Kind == client.EventTyping {
		o["typing"] = e.Typing
	}
	return o
}

// Contact returns c as contacts() lists it.
func Contact(c client.Contact) Object {
	return Object{"handle": c.Handle, "verified": c.Verified, "keyChanged": c.KeyChanged}
}

// Device returns d as devices() lists it.
func Device(d client.Device) Object {
	return Object{
		"id": float64(d.ID), "name": d.Name, "created": millis(d.Created), "revoked": d.Revoked,
		"current": d.Current, "approved": d.Approved, "lastSeen": millis(d.LastSeen),
	}
}

// SafetyNumber returns sn as safetyNumber() gives it: the digits (and in
// groups of five), the compact form, and a QR code of the compact form as
// a PNG image.
func SafetyNumber(sn *keys.SafetyNumber) (Object, error) {
	code, err := qr.Encode(sn.Compact(), qr.M)
	if err != nil {
		return nil, err
	}
	groups := sn.Groups()
	gs := make([]any, len(groups))
	for i, g := range groups {
		gs[i] = g
	}
	return Object{"digits": sn.Digits(), "groups": gs, "compact": sn.Compact(), "qr": code.PNG()}, nil
}

// Verify marks handle verified if digits (spaces ignored) are the
// safety number of handle's key now, the one the user compared. A
// number that does not match (another key, or other digits) removes an
// earlier verified mark, as the sealpost command does, and is
// keys.ErrSafetyNumberMismatch.
func Verify(ctx context.Context, c *client.Client, handle, digits string) error {
	sn, err := c.SafetyNumber(ctx, handle)
	if err != nil {
		return err
	}
	typed := strings.Join(strings.Fields(digits), "")
	if subtle.ConstantTimeCompare([]byte(typed), []byte(sn.Digits())) != 1 {
		if _, err := c.ClearVerified(ctx, handle); err != nil {
			return err
		}
		return keys.ErrSafetyNumberMismatch
	}
	return c.MarkVerified(ctx, handle, sn)
}
