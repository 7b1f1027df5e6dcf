package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func id16(b byte) []byte { return bytes.Repeat([]byte{b}, MessageIDSize) }

// validFrames returns one valid frame of every body, and a few more.
func validFrames() map[string]*Frame {
	bob := FormatAddress("bob", 1)
	return map[string]*Frame{
		"auth": {Body: &Frame_Auth{Auth: &Auth{Token: "AQAAAA"}}},
		"hello": {Body: &Frame_Hello{Hello: &Hello{
			ServerTimeUnixMs: 1_790_000_000_000, HeartbeatIntervalMs: 30_000, IdleTimeoutMs: 90_000,
			Limits: &Limits{MaxEnvelope: DefaultMaxEnvelope, MaxFrame: DefaultMaxFrame, MaxQueueCount: 10_000,
				MaxQueueBytes: 256 << 20, TtlSeconds: 30 * 86400, SendsPerSecond: 200, SendBurst: 400, DeliveryWindow: 128,
				MaxEphemeralEnvelope: DefaultMaxEphemeralEnvelope, EphemeralPerSecond: 20, EphemeralBurst: 40},
		}}},
		"send": {Body: &Frame_Send{Send: &Send{MessageId: id16(1), Items: []*Item{
			{Recipient: bob, Envelope: bytes.Repeat([]byte{0xee}, 1024)},
			{Recipient: FormatAddress("carol.x", 0xfffffffe), Envelope: []byte{0}},
		}}}},
		"send max items": {Body: &Frame_Send{Send: &Send{MessageId: id16(2), Items: func() []*Item {
			items := make([]*Item, MaxItems)
			for i := range items {
				items[i] = &Item{Recipient: bob, Envelope: []byte{byte(i)}}
			}
			return items
		}()}}},
		"send result": {Body: &Frame_SendResult{SendResult: &SendResult{MessageId: id16(3),
			Statuses: []Status{Status_STATUS_STORED, Status_STATUS_NO_MAILBOX, Status_STATUS_QUEUE_FULL, Status_STATUS_TOO_LARGE}}}},
		"send result duplicate": {Body: &Frame_SendResult{SendResult: &SendResult{MessageId: id16(4),
			Statuses: []Status{Status_STATUS_STORED}, Duplicate: true}}},
		"deliver": {Body: &Frame_Deliver{Deliver: &Deliver{Deliveries: []*Delivery{
			{Id: 1, Envelope: []byte("x"), ArrivedUnixMs: 1},
			{Id: 1 << 40, Envelope: bytes.Repeat([]byte{1}, 512), ArrivedUnixMs: 1_790_000_000_000},
		}}}},
		"send ephemeral": {Body: &Frame_SendEphemeral{SendEphemeral: &SendEphemeral{Items: []*Item{
			{Recipient: bob, Envelope: bytes.Repeat([]byte{0xee}, 512)},
		}}}},
		"deliver ephemeral": {Body: &Frame_DeliverEphemeral{DeliverEphemeral: &DeliverEphemeral{Envelopes: [][]byte{
			bytes.Repeat([]byte{0xee}, 512), {1},
		}}}},
		"set access contacts": {Body: &Frame_SetAccess{SetAccess: &SetAccess{Mode: AccessMode_ACCESS_MODE_CONTACTS,
			Verifier: bytes.Repeat([]byte{0x56}, AccessVerifierSize), PreviousValidSeconds: 3600}}},
		"set access open": {Body: &Frame_SetAccess{SetAccess: &SetAccess{Mode: AccessMode_ACCESS_MODE_OPEN}}},
		"access set":      {Body: &Frame_AccessSet{AccessSet: &AccessSet{}}},
		"set push web push": {Body: &Frame_SetPush{SetPush: &SetPush{Kind: PushKind_PUSH_KIND_WEB_PUSH,
			Endpoint: "https://push.example/p/abc", P256Dh: append([]byte{4}, bytes.Repeat([]byte{0x11}, PushP256dhSize-1)...),
			Auth: bytes.Repeat([]byte{0x22}, PushAuthSize)}}},
		"set push gateway": {Body: &Frame_SetPush{SetPush: &SetPush{Kind: PushKind_PUSH_KIND_GATEWAY,
			Endpoint: "https://gw.example", Token: bytes.Repeat([]byte{0x33}, MaxPushToken)}}},
		"set push none": {Body: &Frame_SetPush{SetPush: &SetPush{Kind: PushKind_PUSH_KIND_NONE}}},
		"push set":      {Body: &Frame_PushSet{PushSet: &PushSet{Status: PushStatus_PUSH_STATUS_GATEWAY_UNKNOWN}}},
		"drain":         {Body: &Frame_Drain{Drain: &Drain{}}},
		"drained":       {Body: &Frame_Drained{Drained: &Drained{}}},
		"send access key": {Body: &Frame_Send{Send: &Send{MessageId: id16(5), SendToken: bytes.Repeat([]byte{0x5a}, SendTokenSize),
			Items: []*Item{{Recipient: bob, Envelope: []byte{1}, AccessKey: bytes.Repeat([]byte{0x4b}, AccessKeySize)}}}}},
		"send result access denied": {Body: &Frame_SendResult{SendResult: &SendResult{MessageId: id16(6),
			Statuses: []Status{Status_STATUS_ACCESS_DENIED}}}},
		"ack":        {Body: &Frame_Ack{Ack: &Ack{Ids: []uint64{3, 1, 3, 1 << 63}}}},
		"ping":       {Body: &Frame_Ping{Ping: &Ping{Nonce: 42}}},
		"ping zero":  {Body: &Frame_Ping{Ping: &Ping{}}},
		"pong":       {Body: &Frame_Pong{Pong: &Pong{Nonce: ^uint64(0)}}},
		"error":      {Body: &Frame_Error{Error: &Error{Code: ErrorCode_ERROR_CODE_REPLACED, Message: "replaced by a newer connection"}}},
		"error bare": {Body: &Frame_Error{Error: &Error{Code: ErrorCode_ERROR_CODE_INTERNAL}}},
		"error max message": {Body: &Frame_Error{Error: &Error{Code: ErrorCode_ERROR_CODE_MALFORMED,
			Message: strings.Repeat("é", MaxErrorMessage/2)}}},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, f := range validFrames() {
		t.Run(name, func(t *testing.T) {
			b, err := Encode(f)
			if err != nil {
				t.Fatal(err)
			}
			in := bytes.Clone(b)
			g, err := Decode(b, len(b))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, b) {
				t.Fatal("Decode modified its input")
			}
			if !proto.Equal(f, g) {
				t.Fatalf("decoded %v, want %v", g, f)
			}
			b2, err := AppendEncode([]byte("prefix"), g)
			if err != nil || !bytes.Equal(b2, append([]byte("prefix"), b...)) {
				t.Fatalf("re-encoding differs: %v", err)
			}
			// The frame does not alias the input.
			for i := range b {
				b[i] ^= 0xff
			}
			if !proto.Equal(f, g) {
				t.Fatal("decoded frame aliases its input")
			}
		})
	}
}

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func mustEncode(t *testing.T, f *Frame) []byte {
	t.Helper()
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeRefuses(t *testing.T) {
	for name, f := range map[string]*Frame{
		"nil":          nil,
		"no body":      {},
		"nil inner":    {Body: &Frame_Send{}},
		"nil item":     {Body: &Frame_Send{Send: &Send{MessageId: id16(1), Items: []*Item{nil}}}},
		"short id":     {Body: &Frame_Send{Send: &Send{MessageId: id16(1)[:3], Items: []*Item{{Recipient: FormatAddress("bob", 1), Envelope: []byte("e")}}}}},
		"nil limits":   {Body: &Frame_Hello{Hello: &Hello{ServerTimeUnixMs: 1, HeartbeatIntervalMs: 1, IdleTimeoutMs: 1}}},
		"bad utf-8":    {Body: &Frame_Error{Error: &Error{Code: ErrorCode_ERROR_CODE_INTERNAL, Message: "\xff"}}},
		"code 0":       {Body: &Frame_Error{Error: &Error{}}},
		"status 0":     {Body: &Frame_SendResult{SendResult: &SendResult{MessageId: id16(1), Statuses: []Status{0}}}},
		"nil delivery": {Body: &Frame_Deliver{Deliver: &Deliver{Deliveries: []*Delivery{nil}}}},
	} {
		dst := []byte("keep")
		out, err := AppendEncode(dst, f)
		if !errors.Is(err, ErrMalformed) || CodeOf(err) != ErrorCode_ERROR_CODE_MALFORMED {
			t.Errorf("%s: AppendEncode error %v, want ErrMalformed", name, err)
		}
		if string(out) != "keep" {
			t.Errorf("%s: AppendEncode changed dst to %q", name, out)
		}
		if b, err := Encode(f); err == nil || b != nil {
			t.Errorf("%s: Encode = %x, %v", name, b, err)
		}
	}
	// An unknown field set on a message in memory is refused as well.
	f := proto.Clone(validFrames()["ping"]).(*Frame)
	f.GetPing().ProtoReflect().SetUnknown(varintField(99, 1))
	if _, err := Encode(f); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown field: Encode error %v", err)
	}
}

func TestCodeOf(t *testing.T) {
	if c := CodeOf(errors.New("x")); c != ErrorCode_ERROR_CODE_INTERNAL {
		t.Errorf("CodeOf(other) = %v", c)
	}
	if c := CodeOf(nil); c != ErrorCode_ERROR_CODE_INTERNAL {
		t.Errorf("CodeOf(nil) = %v", c)
	}
}

func sendFrame1KiB() *Frame {
	return &Frame{Body: &Frame_Send{Send: &Send{MessageId: id16(7), Items: []*Item{
		{Recipient: FormatAddress("bench-recipient", 3), Envelope: bytes.Repeat([]byte{0xaa}, 1024)},
	}}}}
}

func TestDecodeAllocations(t *testing.T) {
	b := mustEncode(t, sendFrame1KiB())
	// Frame, body wrapper, Send, items slice, Item, three byte slices.
	n := testing.AllocsPerRun(100, func() {
		if _, err := Decode(b, 0); err != nil {
			t.Fatal(err)
		}
	})
	if n > 10 {
		t.Fatalf("Decode of a 1 KiB send allocates %v times", n)
	}
}

func BenchmarkDecodeSend1KiB(b *testing.B) {
	buf, _ := Encode(sendFrame1KiB())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSend1KiB(b *testing.B) {
	f := sendFrame1KiB()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendEncode(buf[:0], f); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
