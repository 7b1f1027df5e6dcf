package client

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Payload versions and kinds, spec/client.md §2.
const (
	payloadVersion  = 0x01 // body: the application's opaque bytes
	payloadVersion2 = 0x02 // body: a Content (spec/content.md)

	kindMessage  = 0x01 // a message to the recipient account
	kindSentCopy = 0x02 // a copy of a message this account sent, for its other devices
)

// payloadHeaderSize is version, kind, message id, sent time and the length
// of the addressed handle (spec/client.md §2).
const payloadHeaderSize = 1 + 1 + 16 + 8 + 1

// MaxPlaintext is the longest plaintext Send accepts: what a sealed
// envelope carries (crypto/seal.MaxMessageSize) less the ratchet's and the
// first message's overhead and the payload header, rounded down
// (spec/client.md §2).
const MaxPlaintext = 192 << 10

var errBadPayload = errors.New("client: malformed message payload")

// MessageID identifies a message: the sender picks it at random, or the
// application gives it (WithMessageID), and every device of the recipient
// and of the sender sees the same id. A device shows one message per
// sending account and id (spec/client.md §5.1).
type MessageID [16]byte

// String returns the id as 32 lower-case hex digits.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// ParseMessageID parses the 32 hex digits String writes.
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("client: message id %q: want 32 hex digits", s)
	}
	return MessageID(b), nil
}

// payload is what the Double Ratchet encrypts (spec/client.md §2).
type payload struct {
	version byte // payloadVersion (0 means it too) or payloadVersion2
	kind    byte
	id      MessageID
	sent    time.Time // milliseconds
	to      string    // the account the message was sent to
	body    []byte

	content *content.Content // the parsed body of a version 2 payload
}

// marshal encodes p (spec/client.md §2).
func (p *payload) marshal() []byte {
	b := make([]byte, 0, payloadHeaderSize+len(p.to)+len(p.body))
	v := p.version
	if v == 0 {
		v = payloadVersion
	}
	b = append(b, v, p.kind)
	b = append(b, p.id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.sent.UnixMilli()))
	b = append(b, byte(len(p.to)))
	b = append(b, p.to...)
	return append(b, p.body...)
}

// parsePayload decodes a payload, refusing an unknown version or kind, a
// time before 1970, and a handle that is not valid (spec/client.md §2).
// The body of a version 2 payload is parsed by parseContent.
func parsePayload(b []byte) (*payload, error) {
	if len(b) < payloadHeaderSize || (b[0] != payloadVersion && b[0] != payloadVersion2) {
		return nil, errBadPayload
	}
	p := &payload{version: b[0], kind: b[1]}
	if p.kind != kindMessage && p.kind != kindSentCopy {
		return nil, errBadPayload
	}
	copy(p.id[:], b[2:18])
	ms := int64(binary.BigEndian.Uint64(b[18:26]))
	if ms < 0 {
		return nil, errBadPayload
	}
	p.sent = time.UnixMilli(ms).UTC()
	n := int(b[26])
	rest := b[payloadHeaderSize:]
	if len(rest) < n {
		return nil, errBadPayload
	}
	p.to = string(rest[:n])
	if keys.CheckHandle(p.to) != nil {
		return nil, errBadPayload
	}
	p.body = rest[n:]
	if p.version == payloadVersion2 {
		// The body is a Content (spec/client.md §2.1, spec/content.md §6).
		c, err := content.Parse(p.body)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadPayload, err)
		}
		p.content = c
	}
	return p, nil
}
