package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() { register("client.json", genClient) }

// This generator builds the payloads of spec/client.md §2 byte by byte and
// decides each one with the rules of §2.1 and §2.2 as written, without the
// client package; the client's tests check that its code agrees.

const (
	payloadVersion  = 0x01 // the body is the application's bytes
	payloadVersion2 = 0x02 // the body is a Content (spec/content.md)
	payloadMessage  = 0x01
	payloadSentCopy = 0x02
	payloadHeader   = 1 + 1 + 16 + 8 + 1 // version, kind, id, sent, to_len
)

// clientTime is the sent time of the ordinary cases: 2026-01-01T00:00:00.123Z.
const clientTime = 1767225600123

var clientMsgID = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

// contentBody is a version 2 body built by hand, with what spec/content.md
// §6 makes of it, decided here by construction (this generator does not
// use client/content; client's tests check that content.Parse agrees):
// kind is the parsed kind (§1's names, or "unknown", §5), "" when the
// Content is refused; refusal is then the name of spec/errors.md §3.17,
// which spec/client.md §2.1 turns into a malformed payload.
type contentBody struct {
	enc           []byte
	kind, refusal string
}

// clientContentTarget is the message id a receipt reports.
var clientContentTarget = []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}

// clientContentBodies are the bodies of the version 2 cases. Field numbers
// and wire types are spec/content.proto's; the tags are written out.
func clientContentBodies() map[string]*contentBody {
	// A text "hi" and an unknown field 40 (tag c2 02, a 3-byte length)
	// that make 65537 bytes: one over MaxSize.
	hi := []byte{0x0a, 0x04, 0x0a, 0x02, 'h', 'i'}
	pad := 65536 + 1 - len(hi) - 2 - 3
	big := cat(hi, []byte{0xc2, 0x02}, uvarint(uint64(pad)), make([]byte, pad))
	receipt := cat([]byte{0x08, 0x02, 0x12, 0x10}, clientContentTarget, []byte{0x18}, uvarint(clientTime))
	return map[string]*contentBody{
		// Text{body: "hello"} (field 1, Text.body field 1): §4.1, 1 to
		// 16384 bytes of UTF-8.
		"text": {enc: []byte{0x0a, 0x07, 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o'}, kind: "text"},
		// Receipt (field 6){type: TYPE_READ (1: 2), target_ids (2): one
		// 16-byte id, timestamp (3): clientTime}: §4.6.
		"receipt": {enc: cat([]byte{0x32, byte(len(receipt))}, receipt), kind: "receipt"},
		// Field 12, a kind this version does not define, holding
		// {1: "poll"}: no known kind and an unknown field is kind unknown,
		// kept (§5).
		"unknown": {enc: []byte{0x62, 0x06, 0x0a, 0x04, 'p', 'o', 'l', 'l'}, kind: "unknown"},
		// Timer (field 5){seconds (1): 0} with the default written out:
		// not canonical (§3.1 rule 3), accepted (§3.2), the timer off (§4.5).
		"timer-noncanonical": {enc: []byte{0x2a, 0x02, 0x08, 0x00}, kind: "timer"},
		// No field at all: §5.
		"empty": {enc: []byte{}, refusal: "malformed"},
		// A version 1 body, "hello, bob", labelled version 2: 0x68 is a
		// varint field 13 of value 0x65, then 0x6c is field 13 of wire type
		// 4, a group end (§3.2).
		"not-protobuf": {enc: []byte("hello, bob"), refusal: "malformed"},
		// Text{body: "h\x80i"}: a known string that is not UTF-8 (§3.2).
		"text-not-utf8": {enc: []byte{0x0a, 0x05, 0x0a, 0x03, 'h', 0x80, 'i'}, refusal: "invalid_utf8"},
		// 65537 bytes: over MaxSize, refused before decoding (§2, §6 step 1).
		"too-large": {enc: big, refusal: "too_large"},
	}
}

func uvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// rawPayload lays out a payload with every field given, to_len included.
func rawPayload(version, kind byte, id []byte, sent uint64, toLen byte, to string, body []byte) []byte {
	b := []byte{version, kind}
	b = append(b, id...)
	b = binary.BigEndian.AppendUint64(b, sent)
	b = append(b, toLen)
	b = append(b, to...)
	return append(b, body...)
}

func payloadBytes(kind byte, to string, body []byte) []byte {
	return rawPayload(payloadVersion, kind, clientMsgID, clientTime, byte(len(to)), to, body)
}

func payload2Bytes(kind byte, to string, body []byte) []byte {
	return rawPayload(payloadVersion2, kind, clientMsgID, clientTime, byte(len(to)), to, body)
}

// decidePayload applies spec/client.md §2.1 and §2.2 to c.Input and fills
// in the expected fields. body is what spec/content.md makes of the body
// when the payload is of version 2 (nil otherwise); a version 2 payload
// whose header parses without one, or with another body, is an error of
// the generator.
func decidePayload(c *vectors.ClientPayloadCase, body *contentBody) error {
	b := c.Input
	if len(b) < payloadHeader || (b[0] != payloadVersion && b[0] != payloadVersion2) || (b[1] != payloadMessage && b[1] != payloadSentCopy) {
		c.Error = "malformed"
		return nil
	}
	sent := int64(binary.BigEndian.Uint64(b[18:26]))
	n := int(b[26])
	if sent < 0 || len(b) < payloadHeader+n || keys.CheckHandle(string(b[payloadHeader:payloadHeader+n])) != nil {
		c.Error = "malformed"
		return nil
	}
	if b[0] == payloadVersion2 {
		if body == nil || !bytes.Equal(body.enc, b[payloadHeader+n:]) || (body.kind == "") == (body.refusal == "") {
			return fmt.Errorf("version 2 payload %x without its Content decision", b)
		}
		if body.kind == "" {
			c.Error = "malformed" // a refused Content makes the payload malformed (§2.1)
			return nil
		}
		c.ContentKind = body.kind
	} else if body != nil {
		return fmt.Errorf("version %d payload with a Content decision", b[0])
	}
	c.Version = int(b[0])
	c.Kind = map[byte]string{payloadMessage: "message", payloadSentCopy: "sent-copy"}[b[1]]
	c.MessageID = bytes.Clone(b[2:18])
	c.Sent = sent
	c.To = string(b[payloadHeader : payloadHeader+n])
	c.Body = bytes.Clone(b[payloadHeader+n:])
	switch c.Kind {
	case "message":
		c.Accepted = c.Sender != c.Receiver && c.To == c.Receiver
	case "sent-copy":
		c.Accepted = c.Sender == c.Receiver
	}
	return nil
}

func clientPayloadCases() ([]vectors.ClientCase, error) {
	type pc struct {
		id, comment      string
		input            []byte
		receiver, sender string
		content          *contentBody // the body's decision, for version 2
	}
	bodies := clientContentBodies()
	if n := len(bodies["too-large"].enc); n != 65536+1 {
		return nil, fmt.Errorf("too-large body of %d bytes", n)
	}
	v2 := func(id, comment string, kind byte, to, receiver, sender, body string) pc {
		b := bodies[body]
		return pc{"v2-" + id, comment, payload2Bytes(kind, to, b.enc), receiver, sender, b}
	}
	long := strings.Repeat("z", keys.MaxHandleLen)
	ok := payloadBytes(payloadMessage, "bob", []byte("hello, bob"))
	cs := []pc{
		// Accepted (§2.2).
		{"message", "a message from alice to bob, received by bob", ok, "bob", "alice", nil},
		{"message-empty-body", "a message with an empty body", payloadBytes(payloadMessage, "bob", nil), "bob", "alice", nil},
		{"message-long-handle", "to a 32-byte handle", payloadBytes(payloadMessage, long, []byte{0}), long, "alice", nil},
		{"message-time-0", "sent at 1970-01-01T00:00:00Z", rawPayload(1, payloadMessage, clientMsgID, 0, 3, "bob", []byte("x")), "bob", "alice", nil},
		{"message-time-max", "sent at the largest non-negative time, 2^63-1 ms", rawPayload(1, payloadMessage, clientMsgID, 1<<63-1, 3, "bob", []byte("x")), "bob", "alice", nil},
		{"message-body-binary", "a body that looks like another payload header", payloadBytes(payloadMessage, "bob", ok), "bob", "alice", nil},
		{"sent-copy", "a sent copy of alice's message to bob, received by alice's other device", payloadBytes(payloadSentCopy, "bob", []byte("hello, bob")), "alice", "alice", nil},
		{"sent-copy-to-self", "a sent copy of a message alice sent to her own account", payloadBytes(payloadSentCopy, "alice", []byte("note")), "alice", "alice", nil},
		// Parsed, not accepted (§2.2).
		{"message-other-to", "a message addressed to carol, received by bob", payloadBytes(payloadMessage, "carol", []byte("x")), "bob", "alice", nil},
		{"message-from-self", "kind message from the receiver's own account", payloadBytes(payloadMessage, "bob", []byte("x")), "bob", "bob", nil},
		{"sent-copy-from-other", "kind sent copy from another account", payloadBytes(payloadSentCopy, "bob", []byte("x")), "bob", "alice", nil},
		// Malformed (§2.1).
		{"empty", "no bytes", []byte{}, "bob", "alice", nil},
		{"short-26", "26 bytes: the header without to_len", ok[:payloadHeader-1], "bob", "alice", nil},
		{"short-27", "27 bytes: a header whose to_len 3 is beyond the payload", ok[:payloadHeader], "bob", "alice", nil},
		{"version-0", "version 0x00", rawPayload(0, payloadMessage, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice", nil},
		{"version-2", "version 0x02 with an empty body: a Content with no field (spec/content.md §5)", rawPayload(2, payloadMessage, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice", bodies["empty"]},
		{"version-3", "version 0x03, with a Content body", rawPayload(3, payloadMessage, clientMsgID, clientTime, 3, "bob", bodies["text"].enc), "bob", "alice", nil},
		{"kind-0", "kind 0x00", rawPayload(1, 0, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice", nil},
		{"kind-3", "kind 0x03", rawPayload(1, 3, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice", nil},
		{"kind-ff", "kind 0xff", rawPayload(1, 0xff, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice", nil},
		{"time-negative", "sent time -1 ms", rawPayload(1, payloadMessage, clientMsgID, 1<<64-1, 3, "bob", nil), "bob", "alice", nil},
		{"time-min", "sent time -2^63 ms", rawPayload(1, payloadMessage, clientMsgID, 1<<63, 3, "bob", nil), "bob", "alice", nil},
		{"to-len-beyond", "to_len 4 with 3 bytes after the header", rawPayload(1, payloadMessage, clientMsgID, clientTime, 4, "bob", nil), "bob", "alice", nil},
		{"to-len-255", "to_len 255", rawPayload(1, payloadMessage, clientMsgID, clientTime, 255, "bob", []byte("xyz")), "bob", "alice", nil},
		{"to-empty", "to_len 0: an empty handle", rawPayload(1, payloadMessage, clientMsgID, clientTime, 0, "", []byte("bob")), "bob", "alice", nil},
		{"to-short", "a 2-byte handle", payloadBytes(payloadMessage, "bo", nil), "bob", "alice", nil},
		{"to-long", "a 33-byte handle", payloadBytes(payloadMessage, long+"z", nil), long, "alice", nil},
		{"to-upper-case", "a handle with an upper-case letter", payloadBytes(payloadMessage, "Bob", nil), "bob", "alice", nil},
		{"to-bad-char", "a handle with a space", payloadBytes(payloadMessage, "b b", nil), "bob", "alice", nil},
		{"to-non-ascii", "a handle with a UTF-8 letter", payloadBytes(payloadMessage, "b\xc3\xa9b", nil), "bob", "alice", nil},
		{"to-len-short-body", "to_len 2 takes \"bo\" and leaves \"b\" as the body: \"bo\" is not a handle", rawPayload(1, payloadMessage, clientMsgID, clientTime, 2, "bob", nil), "bob", "alice", nil},
		// Version 2 (§2.1): the body is a Content (spec/content.md).
		v2("message-text", "a version 2 text message, Content text \"hello\", from alice to bob", payloadMessage, "bob", "bob", "alice", "text"),
		v2("sent-copy-receipt", "a version 2 sent copy of alice's read receipt to bob, received by alice's other device", payloadSentCopy, "bob", "alice", "alice", "receipt"),
		v2("message-unknown-kind", "a Content of a kind this version does not define (field 12): kept, of kind unknown (spec/content.md §5)", payloadMessage, "bob", "bob", "alice", "unknown"),
		v2("message-noncanonical", "a Content that is not canonical (a timer with seconds 0 written out): accepted (spec/content.md §3.2)", payloadMessage, "bob", "bob", "alice", "timer-noncanonical"),
		v2("message-other-to", "a version 2 text addressed to carol, received by bob: parsed, not accepted", payloadMessage, "carol", "bob", "alice", "text"),
		v2("empty-body", "an empty body: a Content with no field (spec/content.md §5)", payloadMessage, "bob", "bob", "alice", "empty"),
		v2("body-not-protobuf", "a version 1 body, \"hello, bob\", as version 2: not a protobuf encoding (a group end, spec/content.md §3.2)", payloadMessage, "bob", "bob", "alice", "not-protobuf"),
		v2("text-not-utf8", "a Content text that is not UTF-8 (invalid_utf8, spec/content.md §3.2)", payloadMessage, "bob", "bob", "alice", "text-not-utf8"),
		v2("body-too-large", "a 65537-byte Content (too_large, spec/content.md §2)", payloadMessage, "bob", "bob", "alice", "too-large"),
	}
	var out []vectors.ClientCase
	for _, c := range cs {
		p := &vectors.ClientPayloadCase{Input: c.input, Receiver: c.receiver, Sender: c.sender}
		if err := decidePayload(p, c.content); err != nil {
			return nil, fmt.Errorf("payload-%s: %w", c.id, err)
		}
		out = append(out, vectors.ClientCase{ID: "payload-" + c.id, Comment: c.comment, Type: "payload", Payload: p})
	}
	return out, nil
}

// clientRelaySendIDCases follow spec/client.md §3.3.
func clientRelaySendIDCases() []vectors.ClientCase {
	zero := make([]byte, 16)
	cs := []struct {
		id, comment string
		msgID       []byte
		handle      string
		device      uint32
	}{
		{"bob-1", "message to bob's device 1", clientMsgID, "bob", 1},
		{"bob-2", "the same message to bob's device 2", clientMsgID, "bob", 2},
		{"alice-1", "the same message's sent copy to alice's device 1", clientMsgID, "alice", 1},
		{"zero-id", "an all-zero message id", zero, "bob", 1},
		{"long-handle-max-device", "a 32-byte handle and device 2^32-1", clientMsgID, "carol.x_2-y" + strings.Repeat("9", 21), 0xffffffff},
	}
	var out []vectors.ClientCase
	for _, c := range cs {
		addr := addressBytes(c.handle, c.device)
		pre := append([]byte("sealpost/v1/relay-send\x00"), c.msgID...)
		pre = append(pre, addr...)
		sum := sha256.Sum256(pre)
		out = append(out, vectors.ClientCase{ID: "relay-send-id-" + c.id, Comment: c.comment, Type: "relay-send-id",
			RelaySendID: &vectors.ClientRelaySendIDCase{MessageID: c.msgID, Handle: c.handle, Device: c.device,
				Address: addr, Preimage: pre, RelayID: sum[:16]}})
	}
	return out
}

// addressBytes is the device address of spec/relay.md §4, laid out here
// without relay/wire.
func addressBytes(handle string, device uint32) []byte {
	b := append([]byte{byte(len(handle))}, handle...)
	return binary.BigEndian.AppendUint32(b, device)
}

func genClient() ([]byte, error) {
	cases, err := clientPayloadCases()
	if err != nil {
		return nil, err
	}
	cases = append(cases, clientRelaySendIDCases()...)
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.ID] {
			return nil, fmt.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
	}
	return encode(&vectors.File[vectors.ClientCase]{
		Description: "Sealpost client formats: message payloads of versions 1 and 2 as a receiving device parses (§2.1) and accepts (§2.2) them, " +
			"and the relay message id of each queued envelope (§3.3).",
		Spec:  "spec/client.md §2, §3.3",
		Cases: cases,
	})
}
