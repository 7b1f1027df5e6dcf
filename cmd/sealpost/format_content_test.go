package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// target is the id the test contents refer to: 9f00aa11 0000…
var target = func() client.MessageID {
	var id client.MessageID
	copy(id[:], []byte{0x9f, 0x00, 0xaa, 0x11})
	id[15] = 0x22
	return id
}()

const targetHex = "9f00aa11000000000000000000000022"

// hostile is what a peer might put in a string to drive the terminal.
const hostile = "\x1b[2J\u202e\n"

func contentOf(k *contentpb.Content) *content.Content { return &content.Content{Content: k} }

func textContent(body string, reply *contentpb.ReplyTo) *content.Content {
	return contentOf(&contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: body}}, ReplyTo: reply})
}

func reaction(emoji string, remove bool) *content.Content {
	return contentOf(&contentpb.Content{Kind: &contentpb.Content_Reaction{Reaction: &contentpb.Reaction{TargetId: target[:], Emoji: emoji, Remove: remove}}})
}

func timerContent(secs uint32) *content.Content {
	return contentOf(&contentpb.Content{Kind: &contentpb.Content_Timer{Timer: &contentpb.Timer{Seconds: secs}}})
}

func appContent(typeURL string, value []byte) *content.Content {
	return contentOf(&contentpb.Content{Kind: &contentpb.Content_App{App: &contentpb.AppDefined{TypeUrl: typeURL, Value: value}}})
}

// unknownContent is a Content of a kind of a newer version: field 11.
func unknownContent() *content.Content {
	c := &contentpb.Content{}
	c.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 11, protowire.BytesType), []byte("new")))
	return contentOf(c)
}

func withContent(c *content.Content, sent bool) *client.Message {
	m := testMessage("", sent)
	m.Content = c
	if c.Kind() == content.KindText {
		m.Plaintext = []byte(c.GetText().GetBody())
	}
	return m
}

func TestFormatContent(t *testing.T) {
	const at = "2026-11-27 07:01:02  ab000000  "
	for _, tc := range []struct {
		name string
		m    *client.Message
		want string
	}{
		{"text", withContent(textContent("hi", nil), false), "bob (device 2): hi"},
		{"reply", withContent(textContent("yes", &contentpb.ReplyTo{MessageId: target[:], Sender: "alice"}), false),
			"bob (device 2) ↪ reply to 9f00aa11: yes"},
		{"sent copy", withContent(textContent("hi", nil), true), "→ bob: hi"},
		{"reaction", withContent(reaction("👍", false), false), "bob (device 2) reacted 👍 to 9f00aa11"},
		{"reaction removed", withContent(reaction("👍", true), false), "bob (device 2) removed the reaction 👍 from 9f00aa11"},
		{"sent reaction", withContent(reaction("👍", false), true), "→ bob reacted 👍 to 9f00aa11"},
		{"edit", withContent(contentOf(&contentpb.Content{Kind: &contentpb.Content_Edit{Edit: &contentpb.Edit{TargetId: target[:], Body: "fixed"}}}), false),
			"bob (device 2) edited 9f00aa11: fixed"},
		{"delete", withContent(contentOf(&contentpb.Content{Kind: &contentpb.Content_Delete{Delete: &contentpb.Delete{TargetId: target[:]}}}), false),
			"bob (device 2) deleted 9f00aa11"},
		{"timer", withContent(timerContent(3600), false), "bob (device 2) set the disappearing-message timer to 1h"},
		{"timer off", withContent(timerContent(0), false), "bob (device 2) turned the disappearing-message timer off"},
		{"app", withContent(appContent("example.org/poll", []byte{1, 2, 3}), false), "bob (device 2): [app example.org/poll, 3 bytes]"},
		{"unknown", withContent(unknownContent(), false), "bob (device 2): [content of a newer version]"},
		{"v1", testMessage("old", false), "bob (device 2): old"},
		// What a peer chose is escaped wherever it appears.
		{"hostile text", withContent(textContent("a"+hostile+"b", nil), false), `bob (device 2): a\x1b[2J\u202e` + "\n    b"},
		{"hostile emoji", withContent(reaction(hostile, false), false), `bob (device 2) reacted \x1b[2J\u202e\n to 9f00aa11`},
		{"hostile type URL", withContent(appContent("x/"+hostile, nil), false), `bob (device 2): [app x/\x1b[2J\u202e\n, 0 bytes]`},
		{"hostile edit", withContent(contentOf(&contentpb.Content{Kind: &contentpb.Content_Edit{Edit: &contentpb.Edit{TargetId: target[:], Body: hostile}}}), false),
			`bob (device 2) edited 9f00aa11: \x1b[2J\u202e` + "\n    "},
	} {
		got := formatMessage(tc.m, time.UTC, "")
		if got != at+tc.want+"\n" {
			t.Errorf("%s: formatMessage = %q, want %q", tc.name, got, at+tc.want+"\n")
		}
		if strings.ContainsAny(got, "\x1b\u202e") {
			t.Errorf("%s: raw control characters in %q", tc.name, got)
		}
	}
	m := withContent(textContent("soon gone", nil), false)
	m.Timer = 90 * time.Minute
	if got := formatMessage(m, time.UTC, ""); !strings.HasSuffix(got, ": soon gone  (disappears 1h30m after reading)\n") {
		t.Errorf("disappearing message: %q", got)
	}
}

// decodeStrict decodes line into v, refusing fields v does not have.
func decodeStrict(t *testing.T, line string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
}

func TestJSONContent(t *testing.T) {
	emit := func(v any) string {
		var out bytes.Buffer
		a := &app{stdio: stdio{stdout: &out}}
		a.emit(v)
		return strings.TrimSuffix(out.String(), "\n")
	}
	m := withContent(textContent("yes "+hostile, &contentpb.ReplyTo{MessageId: target[:], Sender: "alice"}), false)
	m.Received = time.Date(2026, 11, 27, 7, 1, 3, 5e6, time.UTC)
	m.Timer = time.Hour
	line := emit(newJSONMessage(m))
	want := `{"id":"ab000000000000000000000000000001","from":"bob","from_device":2,"to":"alice","sent":false,` +
		`"time":"2026-11-27T07:01:02.000Z","received":"2026-11-27T07:01:03.005Z","disappears_after_seconds":3600,` +
		`"kind":"text","text":"yes \u001b[2J` + "\u202e" + `\n","reply_to":{"id":"` + targetHex + `","sender":"alice"}}`
	if line != want {
		t.Errorf("text:\n got %s\nwant %s", line, want)
	}
	var j jsonMessage
	decodeStrict(t, line, &j)
	if j.Text != "yes "+hostile {
		t.Errorf("the text did not survive JSON: %q", j.Text)
	}

	for _, tc := range []struct {
		c    *content.Content
		want string // the fields after "time"
	}{
		{reaction("👍", true), `"kind":"reaction","text":"","reaction":{"target":"` + targetHex + `","emoji":"👍","remove":true}`},
		{contentOf(&contentpb.Content{Kind: &contentpb.Content_Edit{Edit: &contentpb.Edit{TargetId: target[:], Body: "new"}}}),
			`"kind":"edit","text":"new","target":"` + targetHex + `"`},
		{contentOf(&contentpb.Content{Kind: &contentpb.Content_Delete{Delete: &contentpb.Delete{TargetId: target[:]}}}),
			`"kind":"delete","text":"","target":"` + targetHex + `"`},
		{timerContent(0), `"kind":"timer","text":"","timer_seconds":0`},
		{timerContent(30), `"kind":"timer","text":"","timer_seconds":30`},
		{appContent("example.org/poll", []byte{0xff, 0}), `"kind":"app","text":"","app":{"type_url":"example.org/poll","value_base64":"/wA=","size":2}`},
		{unknownContent(), `"kind":"unknown","text":"","unknown_base64":"WgNuZXc="`},
	} {
		line := emit(newJSONMessage(withContent(tc.c, false)))
		_, rest, _ := strings.Cut(line, `"time":"2026-11-27T07:01:02.000Z",`)
		if rest != tc.want+"}" {
			t.Errorf("%v:\n got %s\nwant %s}", tc.c.Kind(), rest, tc.want)
		}
		decodeStrict(t, line, new(jsonMessage))
	}
}

func TestHistoryEntry(t *testing.T) {
	when := time.Date(2026, 12, 4, 21, 0, 1, 0, time.UTC)
	reply := target
	e := &client.HistoryEntry{
		ID: target, From: "alice", FromDevice: 1, Outgoing: true, Time: when, Received: when,
		Content: textContent("hello "+hostile, &contentpb.ReplyTo{MessageId: target[:], Sender: "bob"}),
		ReplyTo: &reply, Edited: when.Add(time.Minute),
		Reactions: []client.Reaction{{From: "bob", Emoji: "👍", Time: when}, {From: "carol", Emoji: hostile, Time: when}},
		Read:      when, Expires: when.Add(time.Hour),
	}
	st := &client.MessageStatus{State: client.StateDelivered, Devices: 2, Stored: 2, Delivered: 1, DeviceStates: []client.DeviceStatus{
		{Device: 1, State: client.StateDelivered, Delivered: when}, {Device: 2, State: client.StateStored},
	}}
	got := formatHistoryEntry(e, st, time.UTC)
	want := `2026-12-04 21:00:01  9f00aa11  alice ↪ reply to 9f00aa11: hello \x1b[2J\u202e` + "\n    " +
		` (edited)  [👍 bob, \x1b[2J\u202e\n carol]  ✓✓  (disappears 2026-12-04 22:00:01)` + "\n"
	if got != want {
		t.Errorf("formatHistoryEntry:\n got %q\nwant %q", got, want)
	}
	var j jsonHistoryEntry
	b, _ := json.Marshal(newJSONHistoryEntry(e, st))
	decodeStrict(t, string(b), &j)
	if j.ID != targetHex || j.Kind != "text" || j.Text != "hello "+hostile || !j.Outgoing || j.Edited != "2026-12-04T21:01:01.000Z" ||
		j.Expires != "2026-12-04T22:00:01.000Z" || j.Read != "2026-12-04T21:00:01.000Z" || len(j.Reactions) != 2 ||
		j.Reactions[1].Emoji != hostile || j.ReplyTo.Sender != "bob" || j.Status == nil || j.Status.State != "delivered" ||
		j.Status.Devices != 2 || len(j.Status.DeviceStates) != 2 || j.Status.DeviceStates[0].Delivered != "2026-12-04T21:00:01.000Z" ||
		j.Status.DeviceStates[1].Delivered != "" {
		t.Errorf("history JSON: %s", b)
	}

	// Deleted, a version 1 message, a timer change, an app message.
	for _, tc := range []struct {
		e    client.HistoryEntry
		want string
		kind string
	}{
		{client.HistoryEntry{ID: target, From: "bob", Time: when, Deleted: true, Edited: when}, "bob: [deleted]", "deleted"},
		{client.HistoryEntry{ID: target, From: "bob", Time: when, Plaintext: []byte("old\xff")}, `bob: old\xff`, "v1"},
		{client.HistoryEntry{ID: target, From: "bob", Time: when, Content: timerContent(86400 * 7)}, "bob set the disappearing-message timer to 7d", "timer"},
		{client.HistoryEntry{ID: target, From: "bob", Time: when, Content: appContent("t", nil)}, "bob: [app t, 0 bytes]", "app"},
		{client.HistoryEntry{ID: target, From: "bob", Time: when, Content: unknownContent()}, "bob: [content of a newer version]", "unknown"},
	} {
		if got := formatHistoryEntry(&tc.e, nil, time.UTC); got != "2026-12-04 21:00:01  9f00aa11  "+tc.want+"\n" {
			t.Errorf("formatHistoryEntry = %q, want %q", got, tc.want)
		}
		if j := newJSONHistoryEntry(&tc.e, nil); j.Kind != tc.kind || j.Deleted != tc.e.Deleted || j.Status != nil || j.Reactions == nil {
			t.Errorf("%s: %+v", tc.kind, j)
		}
	}
}

func TestStatusText(t *testing.T) {
	for _, tc := range []struct {
		st   client.MessageStatus
		want string
	}{
		{client.MessageStatus{State: client.StateQueued, Devices: 2, Stored: 1}, "… queued (stored for 1 of 2 devices)"},
		{client.MessageStatus{State: client.StateStored, Devices: 2, Stored: 2}, "✓ stored (2 of 2 devices)"},
		{client.MessageStatus{State: client.StateDelivered, Devices: 3, Stored: 2, Refused: 1, Delivered: 2}, "✓✓ delivered (2 of 3 devices); refused for 1"},
		{client.MessageStatus{State: client.StateRead, Devices: 2, Delivered: 2, Read: 1}, "✓✓ read (1 of 2 devices)"},
	} {
		if got := statusText(&tc.st); got != tc.want {
			t.Errorf("statusText = %q, want %q", got, tc.want)
		}
	}
	var out bytes.Buffer
	a := &app{stdio: stdio{stdout: &out, loc: time.UTC}, verbose: true}
	when := time.Date(2026, 12, 4, 21, 0, 1, 0, time.UTC)
	a.printStatus(target, &client.MessageStatus{State: client.StateRead, Devices: 2, Delivered: 1, Read: 1, DeviceStates: []client.DeviceStatus{
		{Device: 1, State: client.StateRead, Delivered: when, Read: when}, {Device: 3, State: client.StateStored, Refused: true},
	}})
	want := targetHex + " ✓✓ read (1 of 2 devices)\n  device 1: read, delivered 2026-12-04 21:00:01, read 2026-12-04 21:00:01\n  device 3: stored, refused by the relay\n"
	if out.String() != want {
		t.Errorf("status -v:\n got %q\nwant %q", out.String(), want)
	}
}

func TestContentEvents(t *testing.T) {
	ids := []client.MessageID{target, {0xab}}
	for _, tc := range []struct {
		e    client.Event
		want string
		json string
	}{
		{client.Event{Kind: client.EventReceipt, Handle: "bob", Device: 2, Messages: ids},
			"sealpost: ✓✓ 9f00aa11 delivered to bob device 2\nsealpost: ✓✓ ab000000 delivered to bob device 2\n",
			`{"event":"receipt","handle":"bob","device":2,"messages":["` + targetHex + `","ab000000000000000000000000000000"],"read":false}`},
		{client.Event{Kind: client.EventReceipt, Handle: "bob", Device: 2, Messages: ids[:1], Read: true},
			"sealpost: ✓✓ 9f00aa11 read by bob device 2\n",
			`{"event":"receipt","handle":"bob","device":2,"messages":["` + targetHex + `"],"read":true}`},
		{client.Event{Kind: client.EventTyping, Handle: "bob", Device: 2, Typing: true}, "sealpost: bob is typing… (device 2)\n",
			`{"event":"typing","handle":"bob","device":2,"typing":true}`},
		{client.Event{Kind: client.EventTyping, Handle: "bob", Device: 2}, "sealpost: bob stopped typing (device 2)\n",
			`{"event":"typing","handle":"bob","device":2,"typing":false}`},
		{client.Event{Kind: client.EventPresence, Handle: "bob", Device: 1}, "sealpost: bob is online (device 1)\n",
			`{"event":"presence","handle":"bob","device":1}`},
		{client.Event{Kind: client.EventContentDropped, Handle: "bob", Device: 1, Err: errors.New("client: edit of another's message\x1b[2J")},
			`sealpost: dropped a message from bob (device 1) that the conversation rules refuse: edit of another's message\x1b[2J` + "\n",
			`{"event":"content-dropped","handle":"bob","device":1,"error":"edit of another's message\\x1b[2J"}`},
		{client.Event{Kind: client.EventMessageExpired, Handle: "bob", Messages: ids},
			"sealpost: 2 message(s) with bob disappeared (timer): 9f00aa11 ab000000\n",
			`{"event":"message-expired","handle":"bob","messages":["` + targetHex + `","ab000000000000000000000000000000"]}`},
	} {
		if got := formatEvent(tc.e); got != tc.want {
			t.Errorf("formatEvent(%v) = %q, want %q", tc.e.Kind, got, tc.want)
		}
		b, _ := json.Marshal(newJSONEvent(tc.e))
		if string(b) != tc.json {
			t.Errorf("JSON of %v:\n got %s\nwant %s", tc.e.Kind, b, tc.json)
		}
	}
}

func TestParseTimer(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"off": 0, "0": 0, "30": 30 * time.Second, "30s": 30 * time.Second, "1h30m": 90 * time.Minute,
		"7d": 7 * 24 * time.Hour, "365d": 365 * 24 * time.Hour, "31536000": 365 * 24 * time.Hour,
	} {
		if got, err := parseTimer(in); err != nil || got != want {
			t.Errorf("parseTimer(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"29s", "29", "366d", "1.5s", "-1h", "soon", "", "d", "1e3"} {
		if _, err := parseTimer(in); exitCode(err) != exitUsage {
			t.Errorf("parseTimer(%q): %v, want a usage error", in, err)
		}
	}
	for d, want := range map[time.Duration]string{0: "off", 30 * time.Second: "30s", time.Hour: "1h", 36 * time.Hour: "1d12h", 7 * 24 * time.Hour: "7d", 61 * time.Second: "1m1s"} {
		if got := fmtTimer(d); got != want {
			t.Errorf("fmtTimer(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCheckIDArg(t *testing.T) {
	for _, ok := range []string{"abcd", "9F00AA11", targetHex} {
		if err := checkIDArg(ok); err != nil {
			t.Errorf("checkIDArg(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "abc", "xyzw", targetHex + "0", "ab cd"} {
		if err := checkIDArg(bad); exitCode(err) != exitUsage {
			t.Errorf("checkIDArg(%q) = %v, want a usage error", bad, err)
		}
	}
}

// TestLineEditor feeds keys to chat's line editor: editing keys work,
// control characters and escape sequences never reach the line or the
// terminal, and each change reports whether the line is empty.
func TestLineEditor(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdio: stdio{stdout: &out}}
	l := &liveLine{out: &out, prompt: "> "}
	keys := "hx\x7fi\x1b[D\x07 there\x17you\r" + // "hi you"
		"ab\x15\x04" + // erased, then Ctrl-D on the empty line
		"z"
	in := bufio.NewReader(strings.NewReader(keys))
	var edits []bool
	edited := func(empty bool) { edits = append(edits, empty) }
	line, err := a.readEdited(in, l, edited)
	if err != nil || string(line) != "hi you" {
		t.Fatalf("first line: %q, %v", line, err)
	}
	// h x ⌫ i " there"(6) ^W y o u: one call per change, never empty.
	if len(edits) != 14 || edits[0] || edits[len(edits)-1] {
		t.Errorf("edits %v", edits)
	}
	edits = nil
	if _, err := a.readEdited(in, l, edited); !errors.Is(err, errEndOfInput) {
		t.Errorf("Ctrl-D on an empty line: %v", err)
	}
	if len(edits) != 3 || !edits[2] {
		t.Errorf("edits of the erased line: %v", edits)
	}
	if strings.ContainsAny(out.String(), "\x07\x04\x15\x17") || strings.Contains(out.String(), "\x1b[D") {
		t.Errorf("control characters echoed: %q", out.String())
	}
	// Output written meanwhile goes above the line being typed.
	l.buf = []rune("draft")
	a.live = l
	a.printf("incoming\n")
	if !strings.HasSuffix(out.String(), "\r\x1b[Kincoming\n\r\x1b[K> draft") {
		t.Errorf("output around the live line: %q", out.String())
	}
	if _, err := a.readEdited(in, l, nil); !errors.Is(err, errEndOfInput) {
		t.Errorf("end of keys: %v", err)
	}
}

// jsonKeys returns the JSON keys of struct type t, those of its embedded
// structs included.
func jsonKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for f := range t.Fields() {
		if f.Anonymous {
			for k := range jsonKeys(f.Type) {
				keys[k] = true
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		keys[name] = true
	}
	return keys
}

// TestJSONCarriesEveryField: every exported field of the client's
// message, history entry, receipt status and reaction has its place in
// the --json output (issue 14: "--json carries every field"). A field
// added to one of those types fails here until the JSON carries it and
// this table says where.
func TestJSONCarriesEveryField(t *testing.T) {
	contentKeys := []string{"kind", "text", "text_base64", "reply_to", "reaction", "target", "timer_seconds", "app", "file", "unknown_base64"}
	for _, tc := range []struct {
		goType, jsonType reflect.Type
		carried          map[string][]string // Go field: the JSON keys that carry it
	}{
		{reflect.TypeFor[client.Message](), reflect.TypeFor[jsonMessage](), map[string][]string{
			"ID": {"id"}, "From": {"from"}, "FromDevice": {"from_device"}, "To": {"to"}, "Group": {"group"},
			"Sent": {"sent"}, "KeyChanged": {"key_changed"}, "Time": {"time"}, "Received": {"received"},
			"Plaintext": {"text", "text_base64"}, "Content": contentKeys, "Timer": {"disappears_after_seconds"},
		}},
		{reflect.TypeFor[client.HistoryEntry](), reflect.TypeFor[jsonHistoryEntry](), map[string][]string{
			"ID": {"id"}, "From": {"from"}, "FromDevice": {"from_device"}, "Outgoing": {"outgoing"}, "Time": {"time"},
			"Received": {"received"}, "Content": contentKeys, "Plaintext": {"text", "text_base64"}, "ReplyTo": {"reply_to"},
			"Edited": {"edited"}, "Deleted": {"deleted"}, "Reactions": {"reactions"}, "Read": {"read"}, "Expires": {"expires"},
		}},
		{reflect.TypeFor[client.Reaction](), reflect.TypeFor[jsonReactionEntry](), map[string][]string{
			"From": {"from"}, "Emoji": {"emoji"}, "Time": {"time"},
		}},
		{reflect.TypeFor[client.MessageStatus](), reflect.TypeFor[jsonStatus](), map[string][]string{
			"State": {"state"}, "Devices": {"devices"}, "Stored": {"stored"}, "Refused": {"refused"},
			"Delivered": {"delivered"}, "Read": {"read"}, "DeviceStates": {"device_states"},
		}},
		{reflect.TypeFor[client.DeviceStatus](), reflect.TypeFor[jsonDeviceStatus](), map[string][]string{
			"Device": {"device"}, "State": {"state"}, "Refused": {"refused"}, "Delivered": {"delivered"}, "Read": {"read"},
		}},
	} {
		keys := jsonKeys(tc.jsonType)
		for f := range tc.goType.Fields() {
			if !f.IsExported() {
				continue
			}
			carried, ok := tc.carried[f.Name]
			if !ok {
				t.Errorf("%v.%s: not in %v (--json must carry every field)", tc.goType, f.Name, tc.jsonType)
			}
			for _, k := range carried {
				if !keys[k] {
					t.Errorf("%v.%s: %v has no key %q", tc.goType, f.Name, tc.jsonType, k)
				}
			}
		}
	}
}
