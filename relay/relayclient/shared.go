package relayclient

import (
	"context"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sealpost/sealpost/relay/wire"
)

// Shared sends (spec/relay.md §16): one body for many recipient devices,
// uploaded once and stored once by the relay, delivered to each recipient
// as an ordinary envelope.

// ErrSharedTooLarge reports a shared send that cannot fit one frame even
// with a single recipient (the body is too long for the frame cap).
var ErrSharedTooLarge = errors.New("relayclient: shared body does not fit a frame")

// SendShared sends body once to every device address of recipients on an
// authenticated connection and waits for the relay's answer: one status
// per recipient, in order, as for Send. A retry of the same send must
// carry the same message id, body and recipients in the same order. The
// frame must fit the relay's max_frame: SplitShared says how to split a
// longer recipient list over several shared sends.
func (c *Conn) SendShared(ctx context.Context, messageID [wire.MessageIDSize]byte, body []byte, recipients [][]byte) (*wire.SendResult, error) {
	items := make([]*wire.Item, len(recipients))
	for i, r := range recipients {
		items[i] = &wire.Item{Recipient: r}
	}
	return c.send(ctx, &wire.Send{MessageId: messageID[:], Items: items, SharedBody: body})
}

// SendSharedAnonymous is SendShared on an anonymous connection, paid with
// one send token for the whole send (spec/relay.md §15.2, §16.2). items
// carry a recipient each and, for a device that gave this account its
// access key, that key (Item.AccessKey); no envelope.
func (c *Conn) SendSharedAnonymous(ctx context.Context, messageID [wire.MessageIDSize]byte, sendToken, body []byte, items []*wire.Item) (*wire.SendResult, error) {
	return c.send(ctx, &wire.Send{MessageId: messageID[:], Items: items, SharedBody: body, SendToken: sendToken})
}

// SplitShared splits the items of a shared send of a body of bodyLen
// bytes into groups that each fit one Send frame under maxFrame (the
// relay's Hello.limits.max_frame) and MaxSharedRecipients, in order
// (spec/relay.md §16.2). anonymous counts the send token. Each group is
// sent as its own shared send, under its own message id (and token).
func SplitShared(items []*wire.Item, bodyLen, maxFrame int, anonymous bool) ([][]*wire.Item, error) {
	// Frame{send: Send{message_id, items..., send_token, shared_body}}.
	fixed := 1 + protowire.SizeBytes(wire.MessageIDSize) + 1 + protowire.SizeBytes(bodyLen)
	if anonymous {
		fixed += 1 + protowire.SizeBytes(wire.SendTokenSize)
	}
	var groups [][]*wire.Item
	var cur []*wire.Item
	size := fixed
	fits := func(n int) bool {
		// The Send's own length prefix and the Frame's tag.
		return 1+protowire.SizeBytes(n) <= maxFrame
	}
	for _, it := range items {
		inner := 0
		if len(it.Recipient) > 0 {
			inner += 1 + protowire.SizeBytes(len(it.Recipient))
		}
		if len(it.AccessKey) > 0 {
			inner += 1 + protowire.SizeBytes(len(it.AccessKey))
		}
		n := 1 + protowire.SizeBytes(inner)
		if len(cur) > 0 && (len(cur) == wire.MaxSharedRecipients || !fits(size+n)) {
			groups = append(groups, cur)
			cur, size = nil, fixed
		}
		if !fits(size + n) {
			return nil, ErrSharedTooLarge
		}
		cur = append(cur, it)
		size += n
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups, nil
}
