package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"google.golang.org/protobuf/encoding/protowire"
)

func init() { register("content.json", genContent) }

// The encodings are written out here with protowire (spec/content.md §3),
// not borrowed from the package under test; genContent checks that
// client/content agrees with every case.

// fb is a length-delimited field, fv a varint field.
func fb(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

func fv(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

// Field numbers of spec/content.proto.
const (
	cText, cReaction, cEdit, cDelete, cTimer, cReceipt, cTyping, cPresence, cApp = 1, 2, 3, 4, 5, 6, 7, 8, 9
	cAttachment, cReplyTo, cGroup                                                = 10, 16, 17
	cNewKind                                                                     = 12 // a kind of a "newer version"
	cAccess                                                                      = 18
	cGroupChange                                                                 = 11
	cSenderKey                                                                   = 13
	cGroupSync                                                                   = 14
	cGroupSnapshot                                                               = 15
	cSync                                                                        = 24
)

func genContent() ([]byte, error) {
	r := testrand.New("vectors/content")
	id := func() []byte { b := make([]byte, 16); r.Read(b); return b }
	t1, t2, t3 := id(), id(), id()
	text := func(s string) []byte { return fb(cText, fb(1, []byte(s))) }
	reply := func(mid []byte, sender string) []byte {
		b := fb(1, mid)
		if sender != "" {
			b = cat(b, fb(2, []byte(sender)))
		}
		return fb(cReplyTo, b)
	}
	receipt := func(typ uint64, ts uint64, ids ...[]byte) []byte {
		var b []byte
		if typ != 0 {
			b = fv(1, typ)
		}
		for _, x := range ids {
			b = cat(b, fb(2, x))
		}
		if ts != 0 {
			b = cat(b, fv(3, ts))
		}
		return fb(cReceipt, b)
	}
	app := func(url string, v []byte) []byte {
		b := fb(1, []byte(url))
		if len(v) > 0 {
			b = cat(b, fb(2, v))
		}
		return fb(cApp, b)
	}
	ids := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = id()
		}
		return out
	}
	const ts = 1767225600000 // 2026-01-01T00:00:00Z in milliseconds
	newKind := fb(cNewKind, cat(fb(1, []byte("poll: lunch?")), fv(2, 3)))

	var cases []vectors.ContentCase
	ok := func(id, comment, kind string, enc, canonical, unknown []byte) {
		if bytes.Equal(canonical, enc) {
			canonical = nil // omitted when the encoding is canonical
		}
		cases = append(cases, vectors.ContentCase{ID: id, Comment: comment, Encoding: enc, Kind: kind, Canonical: canonical, Unknown: unknown})
	}
	bad := func(id, comment, name string, enc []byte) {
		cases = append(cases, vectors.ContentCase{ID: id, Comment: comment, Encoding: enc, Error: name})
	}

	// Every kind (§4), canonical.
	ok("text", "a text (§4.1)", "text", text("hello"), nil, nil)
	ok("text-utf8", "non-ASCII text, not normalised", "text", text("héllo, wörld 👋 e\u0301"), nil, nil)
	ok("text-max", "16384 bytes of text", "text", text(strings.Repeat("a", content.MaxTextBytes)), nil, nil)
	ok("text-reply", "a reply with the quoted sender (§4.1)", "text", cat(text("yes"), reply(t1, "alice")), nil, nil)
	ok("text-reply-no-sender", "a reply without the quoted sender", "text", cat(text("yes"), reply(t1, "")), nil, nil)
	ok("reaction-add", "a reaction (§4.2)", "reaction", fb(cReaction, cat(fb(1, t1), fb(2, []byte("👍")))), nil, nil)
	ok("reaction-remove", "removing a reaction", "reaction", fb(cReaction, cat(fb(1, t1), fb(2, []byte("👍")), fv(3, 1))), nil, nil)
	ok("reaction-emoji-sequence", "a family emoji, a ZWJ sequence of 25 bytes", "reaction", fb(cReaction, cat(fb(1, t1), fb(2, []byte("👨\u200d👩\u200d👧\u200d👦")))), nil, nil)
	ok("edit", "an edit (§4.3)", "edit", fb(cEdit, cat(fb(1, t2), fb(2, []byte("hello, corrected")))), nil, nil)
	ok("delete", "a delete for everyone (§4.4)", "delete", fb(cDelete, fb(1, t2)), nil, nil)
	ok("timer-off", "the timer off: an empty Timer (§4.5)", "timer", fb(cTimer, nil), nil, nil)
	ok("timer-min", "the timer at 30 seconds", "timer", fb(cTimer, fv(1, content.MinTimerSeconds)), nil, nil)
	ok("timer-max", "the timer at 365 days", "timer", fb(cTimer, fv(1, content.MaxTimerSeconds)), nil, nil)
	ok("receipt-delivered", "a delivery receipt (§4.6)", "receipt", receipt(1, ts, t1), nil, nil)
	ok("receipt-read", "a read receipt for three messages", "receipt", receipt(2, ts, t1, t2, t3), nil, nil)
	ok("receipt-max", "a receipt of 256 ids", "receipt", receipt(2, ts, ids(content.MaxReceiptIDs)...), nil, nil)
	ok("typing-started", "typing started (§4.7)", "typing", fb(cTyping, fv(1, 1)), nil, nil)
	ok("typing-stopped", "typing stopped", "typing", fb(cTyping, fv(1, 2)), nil, nil)
	ok("presence", "online now: an empty Presence (§4.7)", "presence", fb(cPresence, nil), nil, nil)
	ok("app", "an application-defined kind (§4.8)", "app", app("type.example.com/poll.v1", []byte{0x0a, 0x03, 'y', 'e', 's'}), nil, nil)
	ok("app-no-value", "an application kind with an empty value", "app", app("x", nil), nil, nil)
	ok("app-max", "a 256-byte type URL and a 32768-byte value", "app", app(strings.Repeat("u", content.MaxTypeURLBytes), bytes.Repeat([]byte{0xff}, content.MaxAppBytes)), nil, nil)
	nested := cat(text("inner"))
	for range 40 {
		nested = app("type.example.com/wrap", nested)
	}
	ok("app-nested", "a Content nested 40 deep in application values: opaque, bounded by size only (§4.8)", "app", nested, nil, nil)

	key := make([]byte, content.AccessKeySize)
	r.Read(key)
	ok("access-with-text", "a text with the sending device's access key (§4.10)", "text", cat(text("hi"), fb(cAccess, key)), nil, nil)
	ok("access-with-receipt", "a receipt with the access key", "receipt", cat(receipt(1, ts, t1), fb(cAccess, key)), nil, nil)
	ok("access-update", "only an access key: an access update (§4.10)", "access", fb(cAccess, key), nil, nil)
	ok("group-change", "a group change with its state, not parsed here (§4.11)", "group-change", fb(cGroupChange, cat(fb(1, []byte("change bytes")), fb(2, []byte("state bytes")))), nil, nil)

	// A newer version (§5): unknown kinds and fields kept, re-marshalled byte for byte.
	ok("unknown-kind", "a newer version's kind, field 12", "unknown", newKind, nil, newKind)
	ok("unknown-kind-reply", "a newer version's kind with a reply", "unknown", cat(newKind, reply(t1, "bob")), nil, newKind)
	// Attachment pointers (§4.9, spec/attachments.md §3).
	blob, akey, adig := bytes.Repeat([]byte{0xb1}, 32), bytes.Repeat([]byte{0x4b}, 32), bytes.Repeat([]byte{0xd9}, 32)
	att := func(extra ...[]byte) []byte {
		return fb(cAttachment, cat(append([][]byte{fb(1, blob), fb(2, akey), fb(3, adig)}, extra...)...))
	}
	ok("attachment", "a file pointer with size, type, name and caption", "attachment",
		att(fv(4, 1000000), fb(5, []byte("image/jpeg")), fb(6, []byte("beach.jpg")), fb(7, []byte("the sea"))), nil, nil)
	ok("attachment-empty-file", "a pointer to an empty file, nothing but the three byte strings", "attachment", att(), nil, nil)
	ok("attachment-reply", "a file answering a message", "attachment", cat(att(fv(4, 5)), reply(t1, "alice")), nil, nil)
	ok("attachment-max-size", "a file of 2^40 bytes, the largest", "attachment", att(fv(4, 1<<40)), nil, nil)
	bad("attachment-short-blob", "a blob id of 16 bytes", "malformed", fb(cAttachment, cat(fb(1, t3), fb(2, akey), fb(3, adig))))
	bad("attachment-no-key", "a pointer without its key", "malformed", fb(cAttachment, cat(fb(1, blob), fb(3, adig))))
	bad("attachment-too-big", "a file of 2^40 + 1 bytes", "out_of_range", att(fv(4, 1<<40+1)))
	bad("attachment-type-control", "a content type with a newline", "malformed", att(fb(5, []byte("text/plain\nX: y"))))
	bad("attachment-name-long", "a file name of 256 bytes", "too_large", att(fb(6, bytes.Repeat([]byte("n"), 256))))
	bad("attachment-name-utf8", "a file name that is not UTF-8", "invalid_utf8", att(fb(6, []byte{0xff, 0x2f})))
	gid := bytes.Repeat([]byte{0x47}, content.GroupIDSize)
	ok("group-text", "a text in a group: the group context, field 17 (§4.12)", "text", cat(text("hi all"), fb(cGroup, cat(fb(1, gid), fv(2, 3)))), nil, nil)
	ok("sender-key", "a sender-key distribution (§4.12)", "sender-key", fb(cSenderKey, cat(fb(1, gid), fb(2, []byte("distribution bytes")))), nil, nil)
	bad("group-short-id", "a group context with a 31-byte id", "malformed", cat(text("hi"), fb(cGroup, fb(1, gid[:31]))))
	bad("sender-key-no-group", "a distribution without its group id", "malformed", fb(cSenderKey, fb(2, []byte("d"))))
	bad("sender-key-empty", "a distribution without the distribution", "malformed", fb(cSenderKey, fb(1, gid)))
	sh := bytes.Repeat([]byte{0x48}, content.GroupIDSize)
	ok("group-text-state", "a text in a group with the sender's state hash (§4.12)", "text", cat(text("hi all"), fb(cGroup, cat(fb(1, gid), fv(2, 3), fb(3, sh)))), nil, nil)
	bad("group-short-state-hash", "a group context with a 31-byte state hash", "malformed", cat(text("hi"), fb(cGroup, cat(fb(1, gid), fv(2, 3), fb(3, sh[:31])))))
	ok("group-sync", "a member asking for the changes after its state (§4.13)", "group-sync", fb(cGroupSync, cat(fb(1, gid), fv(2, 4), fb(3, sh))), nil, nil)
	bad("group-sync-no-hash", "a group sync without the asker's state hash", "malformed", fb(cGroupSync, cat(fb(1, gid), fv(2, 4))))
	ok("group-snapshot", "a group for another device of the account, the state not parsed here (§4.14)", "group-snapshot", fb(cGroupSnapshot, cat(fb(1, gid), fb(2, []byte("state bytes")))), nil, nil)
	bad("group-snapshot-no-state", "a group snapshot without the state", "malformed", fb(cGroupSnapshot, fb(1, gid)))
	ak := bytes.Repeat([]byte{0x41}, content.AccountKeySize)
	ok("sync-verified", "a sync: a contact's key marked verified on another device of the account (§4.15)", "sync", fb(cSync, fb(1, cat(fb(1, []byte("bob")), fb(2, ak), fv(3, 1)))), nil, nil)
	ok("sync-key-accepted", "a sync: a contact's new key accepted (§4.15)", "sync", fb(cSync, fb(2, cat(fb(1, []byte("bob")), fb(2, ak)))), nil, nil)
	ok("sync-unblock", "a sync: an account unblocked (blocked = false, not written) (§4.15)", "sync", fb(cSync, fb(3, fb(1, []byte("mallory")))), nil, nil)
	ok("sync-device-name", "a sync: a device's name (§4.15)", "sync", fb(cSync, fb(4, cat(fv(1, 2), fb(2, []byte("Laptop – work"))))), nil, nil)
	ok("sync-newer-change", "a sync whose change is of a newer version: kept (§5)", "sync", fb(cSync, fb(9, []byte("x"))), nil, nil)
	bad("sync-empty", "a sync without a change", "malformed", fb(cSync, nil))
	bad("sync-two-changes", "a sync with two changes", "malformed", fb(cSync, cat(fb(3, fb(1, []byte("bob"))), fb(4, cat(fv(1, 2), fb(2, []byte("x")))))))
	bad("sync-bad-handle", "a sync naming an upper-case handle", "malformed", fb(cSync, fb(3, fb(1, []byte("Bob")))))
	bad("sync-short-key", "a sync with a 31-byte account key", "malformed", fb(cSync, fb(1, cat(fb(1, []byte("bob")), fb(2, ak[:31])))))
	bad("sync-device-zero", "a device name for device 0", "malformed", fb(cSync, fb(4, fb(2, []byte("x")))))
	bad("sync-name-empty", "an empty device name", "malformed", fb(cSync, fb(4, fv(1, 2))))
	bad("sync-name-control", "a device name with a newline", "malformed", fb(cSync, fb(4, cat(fv(1, 2), fb(2, []byte("a\nb"))))))
	bad("sync-name-long", "a device name of 65 bytes", "too_large", fb(cSync, fb(4, cat(fv(1, 2), fb(2, bytes.Repeat([]byte("n"), 65))))))
	bad("sync-name-not-utf8", "a device name that is not UTF-8", "invalid_utf8", fb(cSync, fb(4, cat(fv(1, 2), fb(2, []byte{0xff})))))
	ok("unknown-nested-field", "a Text with a field 5 of a newer version", "text", fb(cText, cat(fb(1, []byte("hi")), fv(5, 7))), nil, nil)
	ok("unknown-fields-between", "unknown fields 12 and 20 around the known reply_to 16, canonical order", "unknown", cat(newKind, reply(t1, ""), fv(20, 1), fb(20, []byte("x"))), nil, cat(newKind, fv(20, 1), fb(20, []byte("x"))))
	ok("unknown-not-utf8", "an unknown field is not checked for UTF-8", "text", cat(text("hi"), fb(21, []byte{0xff})), nil, fb(21, []byte{0xff}))
	ok("unknown-wire-types", "unknown fields of wire types 1 and 5", "text", cat(text("hi"), protowire.AppendFixed64(protowire.AppendTag(nil, 22, protowire.Fixed64Type), 1), protowire.AppendFixed32(protowire.AppendTag(nil, 23, protowire.Fixed32Type), 2)), nil, cat(protowire.AppendFixed64(protowire.AppendTag(nil, 22, protowire.Fixed64Type), 1), protowire.AppendFixed32(protowire.AppendTag(nil, 23, protowire.Fixed32Type), 2)))

	// Non-canonical encodings a parser accepts (§3.2).
	ok("noncanonical-order", "reply_to before the text: canonical is text first", "text", cat(reply(t1, "alice"), text("yes")), cat(text("yes"), reply(t1, "alice")), nil)
	ok("noncanonical-unknown-first", "an unknown field 19 before the text", "text", cat(fb(19, nil), text("hi")), cat(text("hi"), fb(19, nil)), fb(19, nil))
	ok("noncanonical-default", "remove = false written out", "reaction", fb(cReaction, cat(fb(1, t1), fb(2, []byte("👍")), fv(3, 0))), fb(cReaction, cat(fb(1, t1), fb(2, []byte("👍")))), nil)
	ok("noncanonical-timer-zero", "seconds = 0 written out", "timer", fb(cTimer, fv(1, 0)), fb(cTimer, nil), nil)
	ok("noncanonical-varint", "typing state 1 as a two-byte varint", "typing", fb(cTyping, []byte{0x08, 0x81, 0x00}), fb(cTyping, fv(1, 1)), nil)
	ok("noncanonical-access-empty", "an empty access key written out: absent", "text", cat(text("hi"), fb(cAccess, nil)), text("hi"), nil)
	ok("noncanonical-receipt-order", "a receipt with its timestamp before its ids", "receipt", fb(cReceipt, cat(fv(3, ts), fv(1, 1), fb(2, t1))), receipt(1, ts, t1), nil)

	// Refusals (§3.2, §4, §6).
	bad("empty", "no field at all (§5)", "malformed", []byte{})
	bad("only-reply", "reply_to without a kind", "malformed", reply(t1, ""))
	bad("group-change-empty", "a group change without its change (§4.11)", "malformed", fb(cGroupChange, fb(2, []byte("state"))))
	bad("access-short", "an access key of 31 bytes (§4.10)", "malformed", cat(text("hi"), fb(cAccess, key[:31])))
	bad("access-long", "an access key of 33 bytes", "malformed", cat(text("hi"), fb(cAccess, append(bytes.Clone(key), 0))))
	bad("access-reply-no-kind", "an access key and a reply_to without a kind", "malformed", cat(fb(cAccess, key), reply(t1, "")))
	bad("access-empty-only", "an empty access key alone: no field with a value", "malformed", fb(cAccess, nil))
	bad("two-kinds", "a text and a delete", "malformed", cat(text("hi"), fb(cDelete, fb(1, t1))))
	bad("text-twice", "the text field twice", "malformed", cat(text("a"), text("b")))
	bad("body-twice", "Text.body twice", "malformed", fb(cText, cat(fb(1, []byte("a")), fb(1, []byte("b")))))
	bad("wrong-wire-type", "text as a varint", "malformed", fv(cText, 1))
	bad("wrong-wire-type-nested", "Typing.state length-delimited", "malformed", fb(cTyping, fb(1, []byte{1})))
	bad("truncated", "a text one byte short", "malformed", text("hello")[:6])
	bad("trailing-byte", "a text and a lone tag byte", "malformed", cat(text("hi"), []byte{0x0a}))
	bad("field-zero", "field number 0", "malformed", cat(text("hi"), fv(0, 1)))
	bad("field-number-too-large", "an unknown field numbered 2^29", "malformed", cat(text("hi"), fv(1<<29, 1)))
	bad("wire-type-6", "a tag of wire type 6", "malformed", cat(text("hi"), protowire.AppendVarint(nil, 30<<3|6), []byte{0}))
	bad("group", "an unknown field of wire type 3 (a group)", "malformed", cat(text("hi"), protowire.AppendTag(nil, 30, protowire.StartGroupType), protowire.AppendTag(nil, 30, protowire.EndGroupType)))
	bad("text-empty", "an empty text", "malformed", fb(cText, nil))
	bad("text-too-long", "16385 bytes of text", "too_large", text(strings.Repeat("a", content.MaxTextBytes+1)))
	bad("text-not-utf8", "a text with a lone continuation byte", "invalid_utf8", text("h\x80i"))
	bad("text-surrogate", "a text with an encoded surrogate", "invalid_utf8", text("\xed\xa0\x80"))
	bad("reply-short-id", "a reply_to id of 15 bytes", "malformed", cat(text("yes"), reply(t1[:15], "")))
	bad("reply-no-id", "a reply_to without its id", "malformed", cat(text("yes"), fb(cReplyTo, fb(2, []byte("alice")))))
	bad("reply-bad-sender", "a reply sender that is not a handle", "malformed", cat(text("yes"), reply(t1, "Alice")))
	bad("reply-sender-not-utf8", "a reply sender that is not UTF-8", "invalid_utf8", cat(text("yes"), reply(t1, "al\xffce")))
	bad("reply-to-reaction", "reply_to with a reaction", "malformed", cat(fb(cReaction, cat(fb(1, t1), fb(2, []byte("👍")))), reply(t2, "")))
	bad("reaction-no-emoji", "a reaction without an emoji", "malformed", fb(cReaction, fb(1, t1)))
	bad("reaction-emoji-too-long", "a 65-byte emoji", "too_large", fb(cReaction, cat(fb(1, t1), fb(2, bytes.Repeat([]byte("a"), content.MaxEmojiBytes+1)))))
	bad("reaction-emoji-not-utf8", "an emoji that is not UTF-8", "invalid_utf8", fb(cReaction, cat(fb(1, t1), fb(2, []byte{0xf0, 0x9f, 0x91}))))
	bad("reaction-bool-2", "remove encoded as 2", "malformed", fb(cReaction, cat(fb(1, t1), fb(2, []byte("👍")), fv(3, 2))))
	bad("reaction-long-id", "a target of 17 bytes", "malformed", fb(cReaction, cat(fb(1, append(bytes.Clone(t1), 0)), fb(2, []byte("👍")))))
	bad("edit-empty", "an edit to empty text", "malformed", fb(cEdit, fb(1, t2)))
	bad("edit-too-long", "an edit of 16385 bytes", "too_large", fb(cEdit, cat(fb(1, t2), fb(2, bytes.Repeat([]byte("a"), content.MaxTextBytes+1)))))
	bad("delete-no-target", "an empty Delete", "malformed", fb(cDelete, nil))
	bad("timer-too-short", "29 seconds", "out_of_range", fb(cTimer, fv(1, content.MinTimerSeconds-1)))
	bad("timer-too-long", "365 days and a second", "out_of_range", fb(cTimer, fv(1, content.MaxTimerSeconds+1)))
	bad("timer-over-uint32", "seconds of 2^32 + 30: not a uint32", "malformed", fb(cTimer, fv(1, 1<<32+30)))
	bad("receipt-no-type", "a receipt without its type", "malformed", receipt(0, ts, t1))
	bad("receipt-type-3", "a receipt type this version does not define (§4: enums are closed)", "malformed", receipt(3, ts, t1))
	bad("receipt-no-ids", "a receipt without ids", "malformed", receipt(1, ts))
	bad("receipt-too-many", "a receipt of 257 ids", "too_large", receipt(1, ts, ids(content.MaxReceiptIDs+1)...))
	bad("receipt-short-id", "a receipt with an 8-byte id", "malformed", receipt(1, ts, t1, t2[:8]))
	bad("receipt-no-timestamp", "a receipt without its timestamp", "malformed", receipt(2, 0, t1))
	bad("typing-unspecified", "an empty Typing", "malformed", fb(cTyping, nil))
	bad("typing-state-3", "a typing state this version does not define", "malformed", fb(cTyping, fv(1, 3)))
	bad("typing-state-huge", "a typing state above 2^31-1", "malformed", fb(cTyping, fv(1, 1<<31)))
	bad("app-no-type", "an application kind without a type URL", "malformed", fb(cApp, fb(2, []byte{1})))
	bad("app-type-too-long", "a 257-byte type URL", "too_large", app(strings.Repeat("u", content.MaxTypeURLBytes+1), nil))
	bad("app-type-not-utf8", "a type URL that is not UTF-8", "invalid_utf8", app("type.example.com/\xc0\xaf", nil))
	bad("app-value-too-long", "a 32769-byte application value", "too_large", app("x", make([]byte, content.MaxAppBytes+1)))
	big := cat(text("hi"), fb(40, make([]byte, content.MaxSize+1-len(text("hi"))-5))) // tag 2 bytes, length 3
	if len(big) != content.MaxSize+1 {
		return nil, fmt.Errorf("too-large case of %d bytes", len(big))
	}
	bad("too-large", "65537 bytes: a text with a large unknown field", "too_large", big)

	for _, c := range cases {
		if err := checkContentCase(c); err != nil {
			return nil, fmt.Errorf("%s: %w", c.ID, err)
		}
	}
	return encode(&vectors.File[vectors.ContentCase]{
		Description: "Sealpost content encodings: every kind, a newer version's unknown fields and kinds, non-canonical encodings a parser accepts, and refusals",
		Spec:        "spec/content.md",
		Cases:       cases,
	})
}

var contentErrors = map[string]error{
	"malformed": content.ErrMalformed, "too_large": content.ErrTooLarge,
	"invalid_utf8": content.ErrInvalidUTF8, "out_of_range": content.ErrOutOfRange,
}

// checkContentCase checks that client/content agrees with a case.
func checkContentCase(c vectors.ContentCase) error {
	m, err := content.Parse(c.Encoding)
	if c.Error != "" {
		if want := contentErrors[c.Error]; want == nil || !errors.Is(err, want) {
			return fmt.Errorf("parse: %v, want %s", err, c.Error)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if k := m.Kind().String(); k != c.Kind {
		return fmt.Errorf("kind %s, want %s", k, c.Kind)
	}
	if !bytes.Equal(m.Unknown(), c.Unknown) {
		return fmt.Errorf("unknown %x, want %x", m.Unknown(), c.Unknown)
	}
	b, err := content.Marshal(m)
	if err != nil {
		return err
	}
	want := c.Canonical
	if want == nil {
		want = c.Encoding
	}
	if !bytes.Equal(b, want) {
		return fmt.Errorf("marshal: %x, want %x", b, want)
	}
	return nil
}
