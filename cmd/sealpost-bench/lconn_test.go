package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/relay/wire"
)

// The load's hand-encoded frames are byte for byte what wire.Encode
// produces (the canonical encoding the relay insists on, spec/relay.md
// §3.1), and its hand decoder reads what the relay encodes.
func TestHandEncodingCanonical(t *testing.T) {
	var id [wire.MessageIDSize]byte
	copy(id[:], "0123456789abcdef")
	r1, r2 := wire.FormatAddress("alice", 1), wire.FormatAddress("bob", 70000)
	e1, e2 := bytes.Repeat([]byte{7}, 1024), []byte{1}
	tok := bytes.Repeat([]byte{5}, wire.SendTokenSize)
	for _, tc := range []struct{ rcpts, envs [][]byte }{
		{[][]byte{r1}, [][]byte{e1}},
		{[][]byte{r1, r2, r1}, [][]byte{e1, e2, bytes.Repeat([]byte{9}, 200000)}},
	} {
		items := make([]*wire.Item, len(tc.rcpts))
		for i := range items {
			items[i] = &wire.Item{Recipient: tc.rcpts[i], Envelope: tc.envs[i]}
		}
		for _, token := range [][]byte{nil, tok} {
			want, err := wire.Encode(&wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: id[:], Items: items, SendToken: token}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendSend([]byte("x"), &id, tc.rcpts, tc.envs, token); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Errorf("Send of %d items, token of %d bytes: hand encoding differs", len(items), len(token))
			}
		}
	}
	// Shared sends (spec/relay.md §16.1), up to MaxSharedRecipients.
	many := make([][]byte, wire.MaxSharedRecipients)
	for i := range many {
		many[i] = wire.FormatAddress("member", uint32(i+1))
	}
	for _, tc := range []struct {
		rcpts [][]byte
		body  []byte
	}{{[][]byte{r1}, e2}, {[][]byte{r1, r2}, e1}, {many, bytes.Repeat([]byte{9}, 200000)}} {
		items := make([]*wire.Item, len(tc.rcpts))
		for i := range items {
			items[i] = &wire.Item{Recipient: tc.rcpts[i]}
		}
		for _, token := range [][]byte{nil, tok} {
			want, err := wire.Encode(&wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: id[:], Items: items, SendToken: token, SharedBody: tc.body}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendSharedSend([]byte("x"), &id, tc.rcpts, tc.body, token); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Errorf("shared Send to %d, token of %d bytes: hand encoding differs", len(items), len(token))
			}
		}
	}
	for _, ids := range [][]uint64{{1}, {1, 127, 128, 1 << 40, 1<<63 - 1}} {
		want, err := wire.Encode(&wire.Frame{Body: &wire.Frame_Ack{Ack: &wire.Ack{Ids: ids}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendAck(nil, ids); !bytes.Equal(got, want) {
			t.Errorf("Ack %v: got %x, want %x", ids, got, want)
		}
	}
	for _, nonce := range []uint64{0, 1, 300, 1 << 62} {
		want, _ := wire.Encode(&wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: nonce}}})
		if got := appendPong(nil, nonce); !bytes.Equal(got, want) {
			t.Errorf("Pong %d: got %x, want %x", nonce, got, want)
		}
	}
}

func TestParseRelayFrame(t *testing.T) {
	enc := func(f *wire.Frame) []byte {
		b, err := wire.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var f relayFrame
	id := bytes.Repeat([]byte{1}, wire.MessageIDSize)
	b := enc(&wire.Frame{Body: &wire.Frame_SendResult{SendResult: &wire.SendResult{MessageId: id,
		Statuses: []wire.Status{wire.Status_STATUS_STORED, wire.Status_STATUS_QUEUE_FULL}, Duplicate: true}}})
	if err := parseRelayFrame(b, &f); err != nil || f.kind != 4 || !f.duplicate ||
		len(f.statuses) != 2 || f.statuses[0] != wire.Status_STATUS_STORED || f.statuses[1] != wire.Status_STATUS_QUEUE_FULL {
		t.Errorf("SendResult: %+v, %v", f, err)
	}
	b = enc(&wire.Frame{Body: &wire.Frame_Deliver{Deliver: &wire.Deliver{Deliveries: []*wire.Delivery{
		{Id: 5, Envelope: []byte("one"), ArrivedUnixMs: 1}, {Id: 1 << 40, Envelope: []byte("two"), ArrivedUnixMs: 2}}}}})
	if err := parseRelayFrame(b, &f); err != nil || f.kind != 5 || len(f.ids) != 2 || f.ids[0] != 5 || f.ids[1] != 1<<40 ||
		string(f.envs[0]) != "one" || string(f.envs[1]) != "two" || len(f.statuses) != 0 {
		t.Errorf("Deliver: %+v, %v", f, err)
	}
	b = enc(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 42}}})
	if err := parseRelayFrame(b, &f); err != nil || f.kind != 7 || f.nonce != 42 || len(f.ids) != 0 {
		t.Errorf("Ping: %+v, %v", f, err)
	}
	b = enc(&wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: wire.ErrorCode_ERROR_CODE_RATE_LIMITED, Message: "slow"}}})
	if err := parseRelayFrame(b, &f); err != nil || f.kind != 9 || f.code != wire.ErrorCode_ERROR_CODE_RATE_LIMITED {
		t.Errorf("Error: %+v, %v", f, err)
	}
	for _, bad := range [][]byte{
		nil,
		{0x2a, 0x05, 0x0a}, // Deliver, truncated
		enc(&wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: "t"}}}),          // not from a relay
		append(enc(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 1}}}), 0), // trailing byte
	} {
		if err := parseRelayFrame(bad, &f); !errors.Is(err, errProtocol) {
			t.Errorf("%x: %v, want errProtocol", bad, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseRelayFrame(b, &f) }); n != 0 {
		t.Errorf("parseRelayFrame allocates %v times", n)
	}
}

func TestMaskBytes(t *testing.T) {
	p := make([]byte, 1037)
	for i := range p {
		p[i] = byte(i * 7)
	}
	orig := bytes.Clone(p)
	const k = 0xA1B2C3D4
	maskBytes(p, k)
	key := [4]byte{0xD4, 0xC3, 0xB2, 0xA1}
	for i := range p {
		if p[i] != orig[i]^key[i%4] {
			t.Fatalf("byte %d masked wrong", i)
		}
	}
}
