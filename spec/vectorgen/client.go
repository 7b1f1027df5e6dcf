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
	payloadVersion  = 0x01
	payloadMessage  = 0x01
	payloadSentCopy = 0x02
	payloadHeader   = 1 + 1 + 16 + 8 + 1 // version, kind, id, sent, to_len
)

// clientTime is the sent time of the ordinary cases: 2026-01-01T00:00:00.123Z.
const clientTime = 1767225600123

var clientMsgID = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

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

// decidePayload applies spec/client.md §2.1 and §2.2 to c.Input and fills
// in the expected fields.
func decidePayload(c *vectors.ClientPayloadCase) {
	b := c.Input
	if len(b) < payloadHeader || b[0] != payloadVersion || (b[1] != payloadMessage && b[1] != payloadSentCopy) {
		c.Error = "malformed"
		return
	}
	sent := int64(binary.BigEndian.Uint64(b[18:26]))
	n := int(b[26])
	if sent < 0 || len(b) < payloadHeader+n || keys.CheckHandle(string(b[payloadHeader:payloadHeader+n])) != nil {
		c.Error = "malformed"
		return
	}
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
}

func clientPayloadCases() []vectors.ClientCase {
	type pc struct {
		id, comment      string
		input            []byte
		receiver, sender string
	}
	long := strings.Repeat("z", keys.MaxHandleLen)
	ok := payloadBytes(payloadMessage, "bob", []byte("hello, bob"))
	cs := []pc{
		// Accepted (§2.2).
		{"message", "a message from alice to bob, received by bob", ok, "bob", "alice"},
		{"message-empty-body", "a message with an empty body", payloadBytes(payloadMessage, "bob", nil), "bob", "alice"},
		{"message-long-handle", "to a 32-byte handle", payloadBytes(payloadMessage, long, []byte{0}), long, "alice"},
		{"message-time-0", "sent at 1970-01-01T00:00:00Z", rawPayload(1, payloadMessage, clientMsgID, 0, 3, "bob", []byte("x")), "bob", "alice"},
		{"message-time-max", "sent at the largest non-negative time, 2^63-1 ms", rawPayload(1, payloadMessage, clientMsgID, 1<<63-1, 3, "bob", []byte("x")), "bob", "alice"},
		{"message-body-binary", "a body that looks like another payload header", payloadBytes(payloadMessage, "bob", ok), "bob", "alice"},
		{"sent-copy", "a sent copy of alice's message to bob, received by alice's other device", payloadBytes(payloadSentCopy, "bob", []byte("hello, bob")), "alice", "alice"},
		{"sent-copy-to-self", "a sent copy of a message alice sent to her own account", payloadBytes(payloadSentCopy, "alice", []byte("note")), "alice", "alice"},
		// Parsed, not accepted (§2.2).
		{"message-other-to", "a message addressed to carol, received by bob", payloadBytes(payloadMessage, "carol", []byte("x")), "bob", "alice"},
		{"message-from-self", "kind message from the receiver's own account", payloadBytes(payloadMessage, "bob", []byte("x")), "bob", "bob"},
		{"sent-copy-from-other", "kind sent copy from another account", payloadBytes(payloadSentCopy, "bob", []byte("x")), "bob", "alice"},
		// Malformed (§2.1).
		{"empty", "no bytes", []byte{}, "bob", "alice"},
		{"short-26", "26 bytes: the header without to_len", ok[:payloadHeader-1], "bob", "alice"},
		{"short-27", "27 bytes: a header whose to_len 3 is beyond the payload", ok[:payloadHeader], "bob", "alice"},
		{"version-0", "version 0x00", rawPayload(0, payloadMessage, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice"},
		{"version-2", "version 0x02", rawPayload(2, payloadMessage, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice"},
		{"kind-0", "kind 0x00", rawPayload(1, 0, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice"},
		{"kind-3", "kind 0x03", rawPayload(1, 3, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice"},
		{"kind-ff", "kind 0xff", rawPayload(1, 0xff, clientMsgID, clientTime, 3, "bob", nil), "bob", "alice"},
		{"time-negative", "sent time -1 ms", rawPayload(1, payloadMessage, clientMsgID, 1<<64-1, 3, "bob", nil), "bob", "alice"},
		{"time-min", "sent time -2^63 ms", rawPayload(1, payloadMessage, clientMsgID, 1<<63, 3, "bob", nil), "bob", "alice"},
		{"to-len-beyond", "to_len 4 with 3 bytes after the header", rawPayload(1, payloadMessage, clientMsgID, clientTime, 4, "bob", nil), "bob", "alice"},
		{"to-len-255", "to_len 255", rawPayload(1, payloadMessage, clientMsgID, clientTime, 255, "bob", []byte("xyz")), "bob", "alice"},
		{"to-empty", "to_len 0: an empty handle", rawPayload(1, payloadMessage, clientMsgID, clientTime, 0, "", []byte("bob")), "bob", "alice"},
		{"to-short", "a 2-byte handle", payloadBytes(payloadMessage, "bo", nil), "bob", "alice"},
		{"to-long", "a 33-byte handle", payloadBytes(payloadMessage, long+"z", nil), long, "alice"},
		{"to-upper-case", "a handle with an upper-case letter", payloadBytes(payloadMessage, "Bob", nil), "bob", "alice"},
		{"to-bad-char", "a handle with a space", payloadBytes(payloadMessage, "b b", nil), "bob", "alice"},
		{"to-non-ascii", "a handle with a UTF-8 letter", payloadBytes(payloadMessage, "b\xc3\xa9b", nil), "bob", "alice"},
		{"to-len-short-body", "to_len 2 takes \"bo\" and leaves \"b\" as the body: \"bo\" is not a handle", rawPayload(1, payloadMessage, clientMsgID, clientTime, 2, "bob", nil), "bob", "alice"},
	}
	var out []vectors.ClientCase
	for _, c := range cs {
		p := &vectors.ClientPayloadCase{Input: c.input, Receiver: c.receiver, Sender: c.sender}
		decidePayload(p)
		out = append(out, vectors.ClientCase{ID: "payload-" + c.id, Comment: c.comment, Type: "payload", Payload: p})
	}
	return out
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
	cases := append(clientPayloadCases(), clientRelaySendIDCases()...)
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.ID] {
			return nil, fmt.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
	}
	return encode(&vectors.File[vectors.ClientCase]{
		Description: "Sealpost client formats: message payloads as a receiving device parses (§2.1) and accepts (§2.2) them, " +
			"and the relay message id of each queued envelope (§3.3).",
		Spec:  "spec/client.md §2, §3.3",
		Cases: cases,
	})
}
