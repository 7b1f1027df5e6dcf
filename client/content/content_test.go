package content

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	pb "github.com/sealpost/sealpost/client/content/contentpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

var (
	id1 = bytes.Repeat([]byte{1}, MessageIDSize)
	id2 = bytes.Repeat([]byte{2}, MessageIDSize)
)

func text(s string) *pb.Content {
	return &pb.Content{Kind: &pb.Content_Text{Text: &pb.Text{Body: s}}}
}

// kinds holds one valid Content of every kind this version defines.
var kinds = map[Kind]*pb.Content{
	KindText:     {Kind: &pb.Content_Text{Text: &pb.Text{Body: "hello"}}, ReplyTo: &pb.ReplyTo{MessageId: id1, Sender: "alice"}},
	KindReaction: {Kind: &pb.Content_Reaction{Reaction: &pb.Reaction{TargetId: id1, Emoji: "👍", Remove: true}}},
	KindEdit:     {Kind: &pb.Content_Edit{Edit: &pb.Edit{TargetId: id1, Body: "hello, corrected"}}},
	KindDelete:   {Kind: &pb.Content_Delete{Delete: &pb.Delete{TargetId: id1}}},
	KindTimer:    {Kind: &pb.Content_Timer{Timer: &pb.Timer{Seconds: 3600}}},
	KindReceipt:  {Kind: &pb.Content_Receipt{Receipt: &pb.Receipt{Type: pb.Receipt_TYPE_READ, TargetIds: [][]byte{id1, id2}, Timestamp: 1767225600000}}},
	KindTyping:   {Kind: &pb.Content_Typing{Typing: &pb.Typing{State: pb.Typing_STATE_STARTED}}},
	KindPresence: {Kind: &pb.Content_Presence{Presence: &pb.Presence{}}},
	KindApp:      {Kind: &pb.Content_App{App: &pb.AppDefined{TypeUrl: "type.example.com/poll.v1", Value: []byte{1, 2, 3}}}},
}

func TestRoundTripEveryKind(t *testing.T) {
	for k := KindText; k <= KindApp; k++ {
		t.Run(k.String(), func(t *testing.T) {
			m := kinds[k]
			if m == nil {
				t.Fatal("no Content of this kind")
			}
			b, err := Marshal(&Content{m})
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if c.Kind() != k || !proto.Equal(c.Content, m) || len(c.Unknown()) != 0 {
				t.Fatalf("parsed %v (%s), want %v", c, c.Kind(), m)
			}
			if b2, err := Marshal(c); err != nil || !bytes.Equal(b2, b) {
				t.Fatalf("re-marshal %x, %v; want %x", b2, err, b)
			}
			if k.Ephemeral() != (k == KindTyping || k == KindPresence) {
				t.Fatal("Ephemeral")
			}
		})
	}
}

// TestMarshalRefuses checks that Marshal applies the rules Parse does: what
// it writes, every conforming parser accepts.
func TestMarshalRefuses(t *testing.T) {
	app := func(url string, n int) *pb.Content {
		return &pb.Content{Kind: &pb.Content_App{App: &pb.AppDefined{TypeUrl: url, Value: make([]byte, n)}}}
	}
	receipt := func(n int) *pb.Content {
		ids := make([][]byte, n)
		for i := range ids {
			ids[i] = id1
		}
		return &pb.Content{Kind: &pb.Content_Receipt{Receipt: &pb.Receipt{Type: pb.Receipt_TYPE_DELIVERED, TargetIds: ids, Timestamp: 1}}}
	}
	timer := func(s uint32) *pb.Content { return &pb.Content{Kind: &pb.Content_Timer{Timer: &pb.Timer{Seconds: s}}} }
	reaction := func(emoji string) *pb.Content {
		return &pb.Content{Kind: &pb.Content_Reaction{Reaction: &pb.Reaction{TargetId: id1, Emoji: emoji}}}
	}
	withReply := func(m *pb.Content, r *pb.ReplyTo) *pb.Content { m.ReplyTo = r; return m }
	for _, tc := range []struct {
		name string
		m    *pb.Content
		want error
	}{
		{"empty", &pb.Content{}, ErrMalformed},
		{"only-reply", &pb.Content{ReplyTo: &pb.ReplyTo{MessageId: id1}}, ErrMalformed},
		{"text-empty", text(""), ErrMalformed},
		{"text-too-long", text(strings.Repeat("é", MaxTextBytes/2) + "a"), ErrTooLarge},
		{"text-not-utf8", text("\xff"), ErrInvalidUTF8},
		{"reply-short-id", withReply(text("a"), &pb.ReplyTo{MessageId: id1[1:]}), ErrMalformed},
		{"reply-bad-sender", withReply(text("a"), &pb.ReplyTo{MessageId: id1, Sender: "a"}), ErrMalformed},
		{"reply-to-timer", withReply(timer(0), &pb.ReplyTo{MessageId: id1}), ErrMalformed},
		{"emoji-empty", reaction(""), ErrMalformed},
		{"emoji-too-long", reaction(strings.Repeat("👍", MaxEmojiBytes/4+1)), ErrTooLarge},
		{"emoji-not-utf8", reaction("\xf0\x9f"), ErrInvalidUTF8},
		{"edit-no-target", &pb.Content{Kind: &pb.Content_Edit{Edit: &pb.Edit{Body: "x"}}}, ErrMalformed},
		{"delete-no-target", &pb.Content{Kind: &pb.Content_Delete{Delete: &pb.Delete{}}}, ErrMalformed},
		{"timer-29", timer(MinTimerSeconds - 1), ErrOutOfRange},
		{"timer-1", timer(1), ErrOutOfRange},
		{"timer-over", timer(MaxTimerSeconds + 1), ErrOutOfRange},
		{"receipt-none", receipt(0), ErrMalformed},
		{"receipt-too-many", receipt(MaxReceiptIDs + 1), ErrTooLarge},
		{"receipt-type-unspecified", &pb.Content{Kind: &pb.Content_Receipt{Receipt: &pb.Receipt{TargetIds: [][]byte{id1}, Timestamp: 1}}}, ErrMalformed},
		{"receipt-type-9", &pb.Content{Kind: &pb.Content_Receipt{Receipt: &pb.Receipt{Type: 9, TargetIds: [][]byte{id1}, Timestamp: 1}}}, ErrMalformed},
		{"receipt-no-timestamp", &pb.Content{Kind: &pb.Content_Receipt{Receipt: &pb.Receipt{Type: 1, TargetIds: [][]byte{id1}}}}, ErrMalformed},
		{"typing-unspecified", &pb.Content{Kind: &pb.Content_Typing{Typing: &pb.Typing{}}}, ErrMalformed},
		{"typing-negative", &pb.Content{Kind: &pb.Content_Typing{Typing: &pb.Typing{State: -1}}}, ErrMalformed},
		{"app-no-type", app("", 0), ErrMalformed},
		{"app-type-too-long", app(strings.Repeat("u", MaxTypeURLBytes+1), 0), ErrTooLarge},
		{"app-value-too-long", app("x", MaxAppBytes+1), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(&Content{tc.m})
			if !errors.Is(err, tc.want) || b != nil {
				t.Fatalf("Marshal: %x, %v; want %v", b, err, tc.want)
			}
		})
	}
	if _, err := Marshal(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Marshal(nil): %v", err)
	}
	if _, err := Marshal(&Content{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Marshal of an empty Content: %v", err)
	}
}

// TestLimitsExact checks each limit at its value and one past it.
func TestLimitsExact(t *testing.T) {
	for _, tc := range []struct {
		name     string
		at, over *pb.Content
		want     error
	}{
		{"text", text(strings.Repeat("a", MaxTextBytes)), text(strings.Repeat("a", MaxTextBytes+1)), ErrTooLarge},
		{"timer-min", &pb.Content{Kind: &pb.Content_Timer{Timer: &pb.Timer{Seconds: MinTimerSeconds}}}, &pb.Content{Kind: &pb.Content_Timer{Timer: &pb.Timer{Seconds: MinTimerSeconds - 1}}}, ErrOutOfRange},
		{"emoji", &pb.Content{Kind: &pb.Content_Reaction{Reaction: &pb.Reaction{TargetId: id1, Emoji: strings.Repeat("a", MaxEmojiBytes)}}}, &pb.Content{Kind: &pb.Content_Reaction{Reaction: &pb.Reaction{TargetId: id1, Emoji: strings.Repeat("a", MaxEmojiBytes+1)}}}, ErrTooLarge},
	} {
		if _, err := Marshal(&Content{tc.at}); err != nil {
			t.Errorf("%s at its limit: %v", tc.name, err)
		}
		if _, err := Marshal(&Content{tc.over}); !errors.Is(err, tc.want) {
			t.Errorf("%s past its limit: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The whole encoding: a text with an unknown field filling it to
	// MaxSize, then one byte more.
	head := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("hi")))
	fill := func(n int) []byte {
		b := protowire.AppendTag(bytes.Clone(head), 40, protowire.BytesType)
		return protowire.AppendBytes(b, make([]byte, n-len(b)-3))
	}
	if b := fill(MaxSize); len(b) != MaxSize {
		t.Fatalf("fill: %d bytes", len(b))
	} else if c, err := Parse(b); err != nil {
		t.Errorf("%d bytes: %v", MaxSize, err)
	} else if out, err := Marshal(c); err != nil || !bytes.Equal(out, b) {
		t.Errorf("%d bytes: re-marshal %v", MaxSize, err)
	}
	if _, err := Parse(fill(MaxSize + 1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d bytes: %v", MaxSize+1, err)
	}
}

// newerVersion is a Content as a later version writes it, built without a
// .proto: field 12 a kind this version does not define (a message with a
// string and a varint), field 16 the known reply_to, field 20 an unknown
// top-level varint, and field 21 an unknown string twice; fields in
// increasing number (spec/content.md §3.1).
func newerVersion() []byte {
	var b []byte
	kind := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("poll: lunch?"))
	kind = protowire.AppendVarint(protowire.AppendTag(kind, 2, protowire.VarintType), 3)
	b = protowire.AppendBytes(protowire.AppendTag(b, 12, protowire.BytesType), kind)
	reply := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), id1)
	b = protowire.AppendBytes(protowire.AppendTag(b, 16, protowire.BytesType), reply)
	b = protowire.AppendVarint(protowire.AppendTag(b, 20, protowire.VarintType), 1)
	b = protowire.AppendBytes(protowire.AppendTag(b, 21, protowire.BytesType), []byte("x"))
	return protowire.AppendBytes(protowire.AppendTag(b, 21, protowire.BytesType), []byte("y"))
}

func TestNewerVersionKept(t *testing.T) {
	in := newerVersion()
	c, err := Parse(in)
	if err != nil {
		t.Fatalf("a newer version's Content refused: %v", err)
	}
	if c.Kind() != KindUnknown {
		t.Fatalf("kind %s, want unknown", c.Kind())
	}
	if !bytes.Equal(c.GetReplyTo().GetMessageId(), id1) {
		t.Fatal("reply_to lost")
	}
	// The unknown fields in the order received: all but reply_to.
	fs, err := fields(c.Unknown())
	if err != nil {
		t.Fatal(err)
	}
	var nums []protowire.Number
	for _, f := range fs {
		nums = append(nums, f.num)
	}
	if want := []protowire.Number{12, 20, 21, 21}; !equalNums(nums, want) {
		t.Fatalf("unknown fields %v, want %v", nums, want)
	}
	out, err := Marshal(c)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("re-marshal:\n got %x, %v\nwant %x", out, err, in)
	}

	// A known kind with a newer version's field inside it (Reaction field
	// 9) and beside it (a field 19, which no version uses yet): kept, and
	// written back in place.
	r := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), id1)
	r = protowire.AppendBytes(protowire.AppendTag(r, 2, protowire.BytesType), []byte("👍"))
	r = protowire.AppendVarint(protowire.AppendTag(r, 9, protowire.VarintType), 5)
	in = protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), r)
	in = protowire.AppendVarint(protowire.AppendTag(in, 19, protowire.VarintType), 1)
	c, err = Parse(in)
	if err != nil || c.Kind() != KindReaction {
		t.Fatalf("reaction with unknown fields: %v, %v", c, err)
	}
	if out, err := Marshal(c); err != nil || !bytes.Equal(out, in) {
		t.Fatalf("re-marshal:\n got %x, %v\nwant %x", out, err, in)
	}
}

func equalNums(a, b []protowire.Number) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An unknown field a caller sets must not collide with a known one: what
// Marshal writes, Parse accepts.
func TestMarshalUnknownCollision(t *testing.T) {
	m := text("hi")
	m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), nil))
	if _, err := Marshal(&Content{m}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Marshal with field 1 twice: %v", err)
	}
	m.ProtoReflect().SetUnknown([]byte{0xff})
	if _, err := Marshal(&Content{m}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Marshal with garbage unknown bytes: %v", err)
	}
}

// Application content nested in itself is opaque: Parse does not descend
// into it, and its size is all that bounds it.
func TestNestedApplicationContent(t *testing.T) {
	b, err := Marshal(&Content{text("inner")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		next, err := Marshal(&Content{&pb.Content{Kind: &pb.Content_App{App: &pb.AppDefined{TypeUrl: "t", Value: b}}}})
		if err != nil {
			if !errors.Is(err, ErrTooLarge) || len(b) <= MaxAppBytes-8 {
				t.Fatalf("after %d levels (%d bytes): %v", i, len(b), err)
			}
			break
		}
		if _, err := Parse(next); err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		b = append(next, make([]byte, len(next))...) // grow quickly
	}
}

func TestKindString(t *testing.T) {
	if KindApp.String() != "app" || KindUnknown.String() != "unknown" || Kind(99).String() != "Kind(99)" {
		t.Fatal("Kind.String")
	}
	var c *Content
	if c.Kind() != KindUnknown || c.Unknown() != nil {
		t.Fatal("nil Content")
	}
}
