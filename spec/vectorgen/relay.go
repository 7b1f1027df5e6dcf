package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/relay/wire"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func init() { register("relay-frames.json", genRelayFrames) }

// Hand-built protobuf pieces, for frames an encoder would never produce.
func pbField(num protowire.Number, msg []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), msg)
}

func pbVarint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func pbCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// pushPoint is a SetPush.p256dh in the vectors: the uncompressed form of
// a P-256 point (the relay checks its length and form, not the curve).
var pushPoint = append([]byte{0x04}, bytes.Repeat([]byte{0x42}, wire.PushP256dhSize-1)...)

func relayValidFrames() []struct {
	id, comment string
	f           *wire.Frame
} {
	msgID := bytes.Repeat([]byte{0x5a}, wire.MessageIDSize)
	bob := wire.FormatAddress("bob", 1)
	manyItems := make([]*wire.Item, wire.MaxItems)
	for i := range manyItems {
		manyItems[i] = &wire.Item{Recipient: bob, Envelope: []byte{byte(i)}}
	}
	// A shared send (spec/relay.md §16) to MaxSharedRecipients devices:
	// items with recipients only, one body.
	sharedItems := make([]*wire.Item, wire.MaxSharedRecipients)
	for i := range sharedItems {
		sharedItems[i] = &wire.Item{Recipient: wire.FormatAddress(fmt.Sprintf("member%04d", i/2), uint32(i%2+1))}
	}
	manyStatuses := make([]wire.Status, wire.MaxSharedRecipients)
	for i := range manyStatuses {
		manyStatuses[i] = wire.Status_STATUS_STORED
	}
	token := append([]byte{0x00, 0x02}, bytes.Repeat([]byte{0x5a}, wire.SendTokenSize-2)...)
	linkSecret := bytes.Repeat([]byte{0x11}, wire.LinkSecretSize)
	linkID := wire.LinkID(linkSecret)
	return []struct {
		id, comment string
		f           *wire.Frame
	}{
		{"auth", "Auth with a token text", &wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: "AQAAAAAAAAAA"}}}},
		{"hello", "Hello with the default limits", &wire.Frame{Body: &wire.Frame_Hello{Hello: &wire.Hello{
			ServerTimeUnixMs: 1_790_000_000_000, HeartbeatIntervalMs: 30_000, IdleTimeoutMs: 90_000,
			Limits: &wire.Limits{MaxEnvelope: wire.DefaultMaxEnvelope, MaxFrame: wire.DefaultMaxFrame, MaxQueueCount: 10000,
				MaxQueueBytes: 256 << 20, TtlSeconds: 30 * 86400, SendsPerSecond: 200, SendBurst: 400, DeliveryWindow: 128,
				MaxEphemeralEnvelope: wire.DefaultMaxEphemeralEnvelope, EphemeralPerSecond: 20, EphemeralBurst: 40}}}}},
		{"send", "Send of two envelopes", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID, Items: []*wire.Item{
			{Recipient: bob, Envelope: bytes.Repeat([]byte{0xee}, 512)},
			{Recipient: wire.FormatAddress("carol.x_2-y", 0xfffffffe), Envelope: []byte{0}},
		}}}}},
		{"send-max-items", "Send of MaxItems envelopes", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID, Items: manyItems}}}},
		{"send-long-handle", "recipient with a 32-byte handle", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID, Items: []*wire.Item{
			{Recipient: wire.FormatAddress(strings.Repeat("z", 32), 0xffffffff), Envelope: []byte{1}}}}}}},
		{"send-result", "SendResult with every status", &wire.Frame{Body: &wire.Frame_SendResult{SendResult: &wire.SendResult{MessageId: msgID,
			Statuses: []wire.Status{wire.Status_STATUS_STORED, wire.Status_STATUS_NO_MAILBOX, wire.Status_STATUS_QUEUE_FULL, wire.Status_STATUS_TOO_LARGE}}}}},
		{"send-result-quota", "SendResult with a quota status and its retry_after_ms", &wire.Frame{Body: &wire.Frame_SendResult{SendResult: &wire.SendResult{MessageId: msgID,
			Statuses: []wire.Status{wire.Status_STATUS_STORED, wire.Status_STATUS_QUOTA}, RetryAfterMs: 1500}}}},
		{"send-result-duplicate", "SendResult of a retry", &wire.Frame{Body: &wire.Frame_SendResult{SendResult: &wire.SendResult{MessageId: msgID,
			Statuses: []wire.Status{wire.Status_STATUS_STORED}, Duplicate: true}}}},
		{"deliver", "Deliver of two envelopes in id order", &wire.Frame{Body: &wire.Frame_Deliver{Deliver: &wire.Deliver{Deliveries: []*wire.Delivery{
			{Id: 1, Envelope: []byte("x"), ArrivedUnixMs: 1},
			{Id: 1 << 40, Envelope: bytes.Repeat([]byte{1}, 64), ArrivedUnixMs: 1_790_000_000_000},
		}}}}},
		{"send-ephemeral", "SendEphemeral of two 512-byte envelopes", &wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{Items: []*wire.Item{
			{Recipient: bob, Envelope: bytes.Repeat([]byte{0xee}, 512)},
			{Recipient: wire.FormatAddress("carol.x_2-y", 0xfffffffe), Envelope: bytes.Repeat([]byte{0xdd}, 512)},
		}}}}},
		{"send-ephemeral-max-items", "SendEphemeral of MaxItems envelopes", &wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{Items: manyItems}}}},
		{"auth-anonymous", "AuthAnonymous: an anonymous connection (spec/relay.md §15.1)", &wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}}},
		{"send-token", "Send with a 354-byte send token (spec/relay.md §15.2)", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID,
			Items: []*wire.Item{{Recipient: bob, Envelope: bytes.Repeat([]byte{0xee}, 64)}}, SendToken: append([]byte{0x00, 0x02}, bytes.Repeat([]byte{0x5a}, wire.SendTokenSize-2)...)}}}},
		{"send-access-key", "anonymous Send with an access key on one item (spec/relay.md §15.8)", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID,
			Items:     []*wire.Item{{Recipient: bob, Envelope: []byte{0xee}, AccessKey: bytes.Repeat([]byte{0x4b}, wire.AccessKeySize)}, {Recipient: bob, Envelope: []byte{0xdd}}},
			SendToken: append([]byte{0x00, 0x02}, bytes.Repeat([]byte{0x5a}, wire.SendTokenSize-2)...)}}}},
		{"set-access-contacts", "SetAccess: mode contacts, a verifier, the previous one valid 7 days (spec/relay.md §15.8)", &wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{
			Mode: wire.AccessMode_ACCESS_MODE_CONTACTS, Verifier: bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize), PreviousValidSeconds: wire.MaxPreviousValid}}}},
		{"set-access-block", "SetAccess: mode contacts, the previous verifier dropped at once", &wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{
			Mode: wire.AccessMode_ACCESS_MODE_CONTACTS, Verifier: bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize)}}}},
		{"set-access-open", "SetAccess: mode open", &wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{Mode: wire.AccessMode_ACCESS_MODE_OPEN}}}},
		{"access-set", "AccessSet: no fields", &wire.Frame{Body: &wire.Frame_AccessSet{AccessSet: &wire.AccessSet{}}}},
		{"set-push-web-push", "SetPush: a Web Push subscription (spec/push.md §2.2)", &wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{
			Kind: wire.PushKind_PUSH_KIND_WEB_PUSH, Endpoint: "https://push.example/wpush/v2/gAAAAA", P256Dh: pushPoint, Auth: bytes.Repeat([]byte{0x41}, wire.PushAuthSize)}}}},
		{"set-push-gateway", "SetPush: a gateway token of MaxPushToken bytes", &wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{
			Kind: wire.PushKind_PUSH_KIND_GATEWAY, Endpoint: "https://push.vendor.example", Token: bytes.Repeat([]byte{0x7a}, wire.MaxPushToken)}}}},
		{"set-push-none", "SetPush: kind none, removes the registration", &wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_NONE}}}},
		{"push-set-ok", "PushSet: ok", &wire.Frame{Body: &wire.Frame_PushSet{PushSet: &wire.PushSet{Status: wire.PushStatus_PUSH_STATUS_OK}}}},
		{"push-set-gateway-unknown", "PushSet: gateway_unknown", &wire.Frame{Body: &wire.Frame_PushSet{PushSet: &wire.PushSet{Status: wire.PushStatus_PUSH_STATUS_GATEWAY_UNKNOWN}}}},
		{"drain", "Drain: no fields (spec/push.md §8)", &wire.Frame{Body: &wire.Frame_Drain{Drain: &wire.Drain{}}}},
		{"drained", "Drained: no fields", &wire.Frame{Body: &wire.Frame_Drained{Drained: &wire.Drained{}}}},
		// Link mailboxes (spec/relay.md §17).
		{"auth-link", "AuthLink: a secret, no offer, no token (a reconnect)", &wire.Frame{Body: &wire.Frame_AuthLink{AuthLink: &wire.AuthLink{Secret: linkSecret}}}},
		{"auth-link-offer-max", "AuthLink: an offer of MaxLinkOffer (4096) bytes and a token", &wire.Frame{Body: &wire.Frame_AuthLink{AuthLink: &wire.AuthLink{Secret: linkSecret, Offer: bytes.Repeat([]byte{0x6f}, wire.MaxLinkOffer), Token: "AQAAAAAAAAAA"}}}},
		{"link-fetch", "LinkFetch of the link id of secret 32 x 0x11", &wire.Frame{Body: &wire.Frame_LinkFetch{LinkFetch: &wire.LinkFetch{LinkId: linkID[:]}}}},
		{"link-offer", "LinkOffer: an offer and its expiry", &wire.Frame{Body: &wire.Frame_LinkOffer{LinkOffer: &wire.LinkOffer{LinkId: linkID[:], Offer: []byte("offer"), ExpiresUnixMs: 1_790_000_600_000}}}},
		{"link-offer-none", "LinkOffer: no live link mailbox has that id", &wire.Frame{Body: &wire.Frame_LinkOffer{LinkOffer: &wire.LinkOffer{LinkId: linkID[:]}}}},
		{"link-offer-no-offer", "LinkOffer: a live mailbox without an offer (expiry only)", &wire.Frame{Body: &wire.Frame_LinkOffer{LinkOffer: &wire.LinkOffer{LinkId: linkID[:], ExpiresUnixMs: 1_790_000_600_000}}}},
		{"link-close", "LinkClose: no fields", &wire.Frame{Body: &wire.Frame_LinkClose{LinkClose: &wire.LinkClose{}}}},
		{"link-closed", "LinkClosed: no fields", &wire.Frame{Body: &wire.Frame_LinkClosed{LinkClosed: &wire.LinkClosed{}}}},
		{"send-link", "Send to a link address (0x00 || link id) and a device", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID, Items: []*wire.Item{
			{Recipient: wire.LinkAddressOf(linkID), Envelope: []byte("to the link")}, {Recipient: bob, Envelope: []byte("to bob")}}}}}},
		{"error-link-expired", "Error link_expired (19)", &wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: wire.ErrorCode_ERROR_CODE_LINK_EXPIRED}}}},
		{"error-link-conflict", "Error link_conflict (20)", &wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: wire.ErrorCode_ERROR_CODE_LINK_CONFLICT}}}},
		{"send-result-access-denied", "SendResult with an access_denied status", &wire.Frame{Body: &wire.Frame_SendResult{SendResult: &wire.SendResult{MessageId: msgID,
			Statuses: []wire.Status{wire.Status_STATUS_STORED, wire.Status_STATUS_ACCESS_DENIED}}}}},
		{"send-shared", "shared send: one body, two recipients, items without envelopes (spec/relay.md §16)", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID,
			Items: []*wire.Item{{Recipient: bob}, {Recipient: wire.FormatAddress("carol.x_2-y", 0xfffffffe)}}, SharedBody: bytes.Repeat([]byte{0xee}, 512)}}}},
		{"send-shared-max", "shared send to MaxSharedRecipients (2000) devices", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID,
			Items: sharedItems, SharedBody: bytes.Repeat([]byte{0xee}, 1024)}}}},
		{"send-shared-anonymous", "anonymous shared send: a send token, an access key on one item", &wire.Frame{Body: &wire.Frame_Send{Send: &wire.Send{MessageId: msgID,
			Items:     []*wire.Item{{Recipient: bob, AccessKey: bytes.Repeat([]byte{0x4b}, wire.AccessKeySize)}, {Recipient: wire.FormatAddress("carol", 2)}},
			SendToken: token, SharedBody: []byte{0xdd}}}}},
		{"send-result-max", "SendResult of a shared send to MaxSharedRecipients devices", &wire.Frame{Body: &wire.Frame_SendResult{SendResult: &wire.SendResult{MessageId: msgID,
			Statuses: manyStatuses}}}},
		{"deliver-ephemeral", "DeliverEphemeral of two envelopes, repeats allowed", &wire.Frame{Body: &wire.Frame_DeliverEphemeral{DeliverEphemeral: &wire.DeliverEphemeral{Envelopes: [][]byte{
			bytes.Repeat([]byte{0xee}, 512), {1}, {1},
		}}}}},
		{"ack", "Ack with a repeated id", &wire.Frame{Body: &wire.Frame_Ack{Ack: &wire.Ack{Ids: []uint64{3, 1, 3, 1 << 63}}}}},
		{"ping", "Ping", &wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 42}}}},
		{"ping-zero", "Ping with nonce 0: an empty body, still present", &wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{}}}},
		{"pong", "Pong", &wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: ^uint64(0)}}}},
		{"error", "Error replaced", &wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: wire.ErrorCode_ERROR_CODE_REPLACED, Message: "replaced by a newer connection"}}}},
		{"error-max-message", "Error with a 256-byte UTF-8 message", &wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: wire.ErrorCode_ERROR_CODE_INTERNAL,
			Message: strings.Repeat("é", wire.MaxErrorMessage/2)}}}},
	}
}

// relayRefusedFrames are the refused cases: id, comment, frame, cap, result.
func relayRefusedFrames() ([]vectors.RelayFrameCase, error) {
	bob := wire.FormatAddress("bob", 1)
	id := bytes.Repeat([]byte{9}, wire.MessageIDSize)
	item := pbCat(pbField(1, bob), pbField(2, []byte("env")))
	send := func(msgID []byte, items ...[]byte) []byte {
		b := pbField(1, msgID)
		for _, it := range items {
			b = append(b, pbField(2, it)...)
		}
		return pbField(3, b)
	}
	okSend := send(id, item)
	unknown := pbVarint(99, 1)
	delivery := func(id uint64) []byte {
		return pbField(1, pbCat(pbVarint(1, id), pbField(2, []byte("e")), pbVarint(3, 1)))
	}
	hello := func(mut func(h *wire.Hello)) ([]byte, error) {
		f := relayValidFrames()[1].f
		mut(f.GetHello())
		return protoMarshal(f)
	}
	helloNoLimits, err := hello(func(h *wire.Hello) { h.Limits = nil })
	if err != nil {
		return nil, err
	}
	helloIdle, err := hello(func(h *wire.Hello) { h.IdleTimeoutMs = h.HeartbeatIntervalMs - 1 })
	if err != nil {
		return nil, err
	}
	helloZeroLimit, err := hello(func(h *wire.Hello) { h.Limits.DeliveryWindow = 0 })
	if err != nil {
		return nil, err
	}
	helloUnknownInLimits, err := hello(func(h *wire.Hello) { h.Limits.ProtoReflect().SetUnknown(unknown) })
	if err != nil {
		return nil, err
	}
	helloNoEphemeral, err := hello(func(h *wire.Hello) {
		h.Limits.MaxEphemeralEnvelope, h.Limits.EphemeralPerSecond, h.Limits.EphemeralBurst = 0, 0, 0
	})
	if err != nil {
		return nil, err
	}
	tooManyItems := make([][]byte, wire.MaxItems+1)
	ephemeralItems := make([][]byte, wire.MaxItems+1)
	for i := range tooManyItems {
		tooManyItems[i] = item
		ephemeralItems[i] = pbField(1, item)
	}
	token := append([]byte{0x00, 0x02}, bytes.Repeat([]byte{0x5a}, wire.SendTokenSize-2)...)
	linkSecret := bytes.Repeat([]byte{0x11}, wire.LinkSecretSize)
	linkID := wire.LinkID(linkSecret)
	linkAddr := wire.LinkAddress(linkSecret)
	sharedTooMany := make([][]byte, wire.MaxSharedRecipients+1)
	for i := range sharedTooMany {
		sharedTooMany[i] = pbField(2, pbField(1, bob))
	}
	const (
		mal = "malformed"
		big = "frame_too_large"
	)
	cases := []vectors.RelayFrameCase{
		{ID: "too-large", Comment: "101 bytes under a cap of 100: refused before parsing", Frame: bytes.Repeat([]byte{0xff}, 101), MaxFrame: 100, Result: big},
		{ID: "too-large-valid", Comment: "a valid Send one byte over the cap", Frame: okSend, MaxFrame: len(okSend) - 1, Result: big},
		{ID: "empty", Comment: "no bytes: a Frame with no body", Frame: []byte{}, Result: mal},
		{ID: "garbage", Comment: "not protobuf", Frame: []byte{0xff, 0xff, 0xff}, Result: mal},
		{ID: "truncated", Comment: "a Send missing its last byte", Frame: okSend[:len(okSend)-1], Result: mal},
		{ID: "unknown-only", Comment: "only an unknown field 99", Frame: unknown, Result: mal},
		{ID: "unknown-top", Comment: "Ping plus an unknown field in Frame", Frame: pbCat(pbField(7, nil), unknown), Result: mal},
		{ID: "unknown-ping", Comment: "unknown field inside Ping", Frame: pbField(7, unknown), Result: mal},
		{ID: "unknown-send", Comment: "unknown field inside Send", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, item), unknown)), Result: mal},
		{ID: "unknown-item", Comment: "unknown field inside Item", Frame: send(id, pbCat(item, unknown)), Result: mal},
		{ID: "unknown-limits", Comment: "unknown field inside Hello.limits", Frame: helloUnknownInLimits, Result: mal},
		{ID: "unknown-delivery", Comment: "unknown field inside Delivery", Frame: pbField(5, pbField(1, pbCat(pbVarint(1, 1), pbField(2, []byte("e")), pbVarint(3, 1), unknown))), Result: mal},
		{ID: "wrong-wire-type", Comment: "Ping.nonce as a length-delimited field", Frame: pbField(7, pbField(1, []byte{1})), Result: mal},
		{ID: "two-bodies", Comment: "Ping then Pong: two oneof members", Frame: pbCat(pbField(7, nil), pbField(8, nil)), Result: mal},
		{ID: "body-twice", Comment: "Ping given twice (protobuf would merge)", Frame: pbCat(pbField(7, pbVarint(1, 1)), pbField(7, nil)), Result: mal},
		{ID: "out-of-order", Comment: "Send.items before Send.message_id", Frame: pbField(3, pbCat(pbField(2, item), pbField(1, id))), Result: mal},
		{ID: "default-encoded", Comment: "Ping.nonce = 0 written out", Frame: pbField(7, pbVarint(1, 0)), Result: mal},
		{ID: "long-varint", Comment: "Ping.nonce = 1 as a two-byte varint", Frame: pbField(7, []byte{0x08, 0x81, 0x00}), Result: mal},
		{ID: "unpacked", Comment: "Ack.ids not packed", Frame: pbField(6, pbCat(pbVarint(1, 1), pbVarint(1, 2))), Result: mal},
		{ID: "token-utf8", Comment: "Auth.token not UTF-8", Frame: pbField(1, pbField(1, []byte{0xff, 0xfe})), Result: mal},
		{ID: "token-empty", Comment: "Auth without a token", Frame: pbField(1, nil), Result: mal},
		{ID: "token-long", Comment: "Auth.token of 277 bytes", Frame: pbField(1, pbField(1, bytes.Repeat([]byte{'A'}, wire.MaxTokenText+1))), Result: mal},
		{ID: "hello-no-limits", Comment: "Hello without limits", Frame: helloNoLimits, Result: mal},
		{ID: "hello-idle", Comment: "idle timeout below the heartbeat interval", Frame: helloIdle, Result: mal},
		{ID: "hello-zero-limit", Comment: "delivery_window 0", Frame: helloZeroLimit, Result: mal},
		{ID: "send-id-15", Comment: "message id of 15 bytes", Frame: send(id[:15], item), Result: mal},
		{ID: "send-id-17", Comment: "message id of 17 bytes", Frame: send(append(bytes.Clone(id), 0), item), Result: mal},
		{ID: "send-no-items", Comment: "Send without items", Frame: send(id), Result: mal},
		{ID: "send-too-many-items", Comment: "Send of MaxItems+1 items", Frame: send(id, tooManyItems...), Result: mal},
		{ID: "send-empty-envelope", Comment: "item without an envelope", Frame: send(id, pbField(1, bob)), Result: mal},
		{ID: "send-no-recipient", Comment: "item without a recipient", Frame: send(id, pbField(2, []byte("e"))), Result: mal},
		{ID: "send-upper-case", Comment: "recipient handle with an upper-case letter", Frame: send(id, pbCat(pbField(1, []byte{3, 'B', 'o', 'b', 0, 0, 0, 1}), pbField(2, []byte("e")))), Result: mal},
		{ID: "send-device-0", Comment: "recipient device id 0", Frame: send(id, pbCat(pbField(1, []byte{3, 'b', 'o', 'b', 0, 0, 0, 0}), pbField(2, []byte("e")))), Result: mal},
		{ID: "send-length-mismatch", Comment: "recipient length byte 4 with a 3-byte handle", Frame: send(id, pbCat(pbField(1, []byte{4, 'b', 'o', 'b', 0, 0, 0, 1}), pbField(2, []byte("e")))), Result: mal},
		{ID: "send-short-handle", Comment: "recipient handle of 2 bytes", Frame: send(id, pbCat(pbField(1, []byte{2, 'b', 'o', 0, 0, 0, 1}), pbField(2, []byte("e")))), Result: mal},
		{ID: "result-no-statuses", Comment: "SendResult without statuses", Frame: pbField(4, pbField(1, id)), Result: mal},
		{ID: "result-status-0", Comment: "status 0", Frame: pbField(4, pbCat(pbField(1, id), pbField(2, []byte{0}))), Result: mal},
		{ID: "result-status-7", Comment: "status 7, unknown", Frame: pbField(4, pbCat(pbField(1, id), pbField(2, []byte{1, 7}))), Result: mal},
		{ID: "result-quota-no-retry", Comment: "quota status without retry_after_ms", Frame: pbField(4, pbCat(pbField(1, id), pbField(2, []byte{5}))), Result: mal},
		{ID: "result-retry-no-quota", Comment: "retry_after_ms without a quota status", Frame: pbField(4, pbCat(pbField(1, id), pbField(2, []byte{1}), pbVarint(4, 1000))), Result: mal},
		{ID: "result-short-id", Comment: "SendResult message id of 8 bytes", Frame: pbField(4, pbCat(pbField(1, id[:8]), pbField(2, []byte{1}))), Result: mal},
		{ID: "deliver-empty", Comment: "Deliver without deliveries", Frame: pbField(5, nil), Result: mal},
		{ID: "deliver-id-0", Comment: "delivery id 0", Frame: pbField(5, pbField(1, pbCat(pbField(2, []byte("e")), pbVarint(3, 1)))), Result: mal},
		{ID: "deliver-no-envelope", Comment: "delivery without an envelope", Frame: pbField(5, pbField(1, pbCat(pbVarint(1, 1), pbVarint(3, 1)))), Result: mal},
		{ID: "deliver-no-time", Comment: "delivery without an arrival time", Frame: pbField(5, pbField(1, pbCat(pbVarint(1, 1), pbField(2, []byte("e"))))), Result: mal},
		{ID: "deliver-repeat", Comment: "delivery ids 2, 2", Frame: pbField(5, pbCat(delivery(2), delivery(2))), Result: mal},
		{ID: "deliver-decreasing", Comment: "delivery ids 3, 2", Frame: pbField(5, pbCat(delivery(3), delivery(2))), Result: mal},
		{ID: "ephemeral-empty", Comment: "SendEphemeral without items", Frame: pbField(10, nil), Result: mal},
		{ID: "ephemeral-too-many-items", Comment: "SendEphemeral of MaxItems+1 items", Frame: pbField(10, pbCat(ephemeralItems...)), Result: mal},
		{ID: "ephemeral-empty-envelope", Comment: "ephemeral item without an envelope", Frame: pbField(10, pbField(1, pbField(1, bob))), Result: mal},
		{ID: "ephemeral-no-recipient", Comment: "ephemeral item without a recipient", Frame: pbField(10, pbField(1, pbField(2, []byte("e")))), Result: mal},
		{ID: "ephemeral-device-0", Comment: "ephemeral recipient device id 0", Frame: pbField(10, pbField(1, pbCat(pbField(1, []byte{3, 'b', 'o', 'b', 0, 0, 0, 0}), pbField(2, []byte("e"))))), Result: mal},
		{ID: "ephemeral-message-id", Comment: "SendEphemeral with a field 2 (it has no message id)", Frame: pbField(10, pbCat(pbField(1, item), pbField(2, id))), Result: mal},
		{ID: "unknown-ephemeral", Comment: "unknown field inside SendEphemeral", Frame: pbField(10, pbCat(pbField(1, item), unknown)), Result: mal},
		{ID: "unknown-ephemeral-item", Comment: "unknown field inside a SendEphemeral item", Frame: pbField(10, pbField(1, pbCat(item, unknown))), Result: mal},
		{ID: "deliver-ephemeral-empty", Comment: "DeliverEphemeral without envelopes", Frame: pbField(11, nil), Result: mal},
		{ID: "deliver-ephemeral-empty-envelope", Comment: "DeliverEphemeral with an empty envelope", Frame: pbField(11, pbCat(pbField(1, []byte("e")), pbField(1, nil))), Result: mal},
		{ID: "deliver-ephemeral-too-many", Comment: "DeliverEphemeral of MaxDeliveries+1 envelopes", Frame: pbField(11, bytes.Repeat(pbField(1, []byte("e")), wire.MaxDeliveries+1)), Result: mal},
		{ID: "hello-no-ephemeral", Comment: "Hello without the ephemeral limits (a relay before §7.4)", Frame: helloNoEphemeral, Result: mal},
		{ID: "ack-empty", Comment: "Ack without ids", Frame: pbField(6, nil), Result: mal},
		{ID: "ack-id-0", Comment: "ack id 0", Frame: pbField(6, pbField(1, []byte{1, 0})), Result: mal},
		{ID: "ack-too-many", Comment: "MaxAckIDs+1 ids", Frame: pbField(6, pbField(1, bytes.Repeat([]byte{1}, wire.MaxAckIDs+1))), Result: mal},
		{ID: "error-code-0", Comment: "Error without a code", Frame: pbField(9, pbField(2, []byte("x"))), Result: mal},
		{ID: "error-code-21", Comment: "unknown error code", Frame: pbField(9, pbVarint(1, 21)), Result: mal},
		{ID: "send-token-353", Comment: "Send.send_token of 353 bytes", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, item), pbField(3, bytes.Repeat([]byte{0x5a}, wire.SendTokenSize-1)))), Result: mal},
		{ID: "send-token-355", Comment: "Send.send_token of 355 bytes", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, item), pbField(3, bytes.Repeat([]byte{0x5a}, wire.SendTokenSize+1)))), Result: mal},
		{ID: "send-token-before-items", Comment: "Send.send_token before Send.items", Frame: pbField(3, pbCat(pbField(1, id), pbField(3, bytes.Repeat([]byte{0x5a}, wire.SendTokenSize)), pbField(2, item))), Result: mal},
		{ID: "unknown-auth-anonymous", Comment: "unknown field inside AuthAnonymous", Frame: pbField(12, unknown), Result: mal},
		{ID: "access-key-31", Comment: "anonymous Send, Item.access_key of 31 bytes", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, pbCat(item, pbField(3, bytes.Repeat([]byte{0x4b}, wire.AccessKeySize-1)))), pbField(3, token))), Result: mal},
		{ID: "access-key-33", Comment: "anonymous Send, Item.access_key of 33 bytes", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, pbCat(item, pbField(3, bytes.Repeat([]byte{0x4b}, wire.AccessKeySize+1)))), pbField(3, token))), Result: mal},
		{ID: "access-key-no-token", Comment: "Item.access_key in a Send without send_token (authenticated)", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, pbCat(item, pbField(3, bytes.Repeat([]byte{0x4b}, wire.AccessKeySize)))))), Result: mal},
		{ID: "access-key-ephemeral", Comment: "Item.access_key in SendEphemeral", Frame: pbField(10, pbField(1, pbCat(item, pbField(3, bytes.Repeat([]byte{0x4b}, wire.AccessKeySize))))), Result: mal},
		{ID: "set-access-mode-0", Comment: "SetAccess without a mode", Frame: pbField(13, pbField(2, bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize))), Result: mal},
		{ID: "set-access-mode-3", Comment: "SetAccess of unknown mode 3", Frame: pbField(13, pbCat(pbVarint(1, 3), pbField(2, bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize)))), Result: mal},
		{ID: "set-access-verifier-31", Comment: "SetAccess contacts with a 31-byte verifier", Frame: pbField(13, pbCat(pbVarint(1, 2), pbField(2, bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize-1)))), Result: mal},
		{ID: "set-access-verifier-33", Comment: "SetAccess contacts with a 33-byte verifier", Frame: pbField(13, pbCat(pbVarint(1, 2), pbField(2, bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize+1)))), Result: mal},
		{ID: "set-access-no-verifier", Comment: "SetAccess contacts without a verifier", Frame: pbField(13, pbVarint(1, 2)), Result: mal},
		{ID: "set-access-open-verifier", Comment: "SetAccess open with a verifier", Frame: pbField(13, pbCat(pbVarint(1, 1), pbField(2, bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize)))), Result: mal},
		{ID: "set-access-open-previous", Comment: "SetAccess open with previous_valid_seconds", Frame: pbField(13, pbCat(pbVarint(1, 1), pbVarint(3, 60))), Result: mal},
		{ID: "set-access-previous-too-long", Comment: "SetAccess previous_valid_seconds MaxPreviousValid+1", Frame: pbField(13, pbCat(pbVarint(1, 2), pbField(2, bytes.Repeat([]byte{0x56}, wire.AccessVerifierSize)), pbVarint(3, wire.MaxPreviousValid+1))), Result: mal},
		{ID: "unknown-set-access", Comment: "unknown field inside SetAccess", Frame: pbField(13, pbCat(pbVarint(1, 1), unknown)), Result: mal},
		{ID: "unknown-access-set", Comment: "unknown field inside AccessSet", Frame: pbField(14, unknown), Result: mal},
		{ID: "shared-envelope", Comment: "shared send with an item carrying an envelope", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, item), pbField(4, []byte("body")))), Result: mal},
		{ID: "shared-too-many", Comment: "shared send to MaxSharedRecipients+1 devices", Frame: pbField(3, pbCat(pbField(1, id), pbCat(sharedTooMany...), pbField(4, []byte("body")))), Result: mal},
		{ID: "shared-no-items", Comment: "shared send without items", Frame: pbField(3, pbCat(pbField(1, id), pbField(4, []byte("body")))), Result: mal},
		{ID: "shared-body-first", Comment: "Send.shared_body before Send.items", Frame: pbField(3, pbCat(pbField(1, id), pbField(4, []byte("body")), pbField(2, pbField(1, bob)))), Result: mal},
		{ID: "shared-body-empty", Comment: "Send.shared_body written out empty: not canonical", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, pbField(1, bob)), pbField(4, nil))), Result: mal},
		{ID: "shared-key-no-token", Comment: "authenticated shared send with an access key", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, pbCat(pbField(1, bob), pbField(3, bytes.Repeat([]byte{0x4b}, wire.AccessKeySize)))), pbField(4, []byte("body")))), Result: mal},
		{ID: "result-too-many", Comment: "SendResult of MaxSharedRecipients+1 statuses", Frame: pbField(4, pbCat(pbField(1, id), pbField(2, bytes.Repeat([]byte{1}, wire.MaxSharedRecipients+1)))), Result: mal},
		{ID: "set-push-kind-0", Comment: "SetPush without a kind", Frame: pbField(15, pbField(2, []byte("https://push.example/x"))), Result: mal},
		{ID: "set-push-kind-4", Comment: "SetPush of unknown kind 4", Frame: pbField(15, pbVarint(1, 4)), Result: mal},
		{ID: "set-push-none-endpoint", Comment: "SetPush none with an endpoint", Frame: pbField(15, pbCat(pbVarint(1, 1), pbField(2, []byte("https://push.example/x")))), Result: mal},
		{ID: "set-push-web-p256dh-64", Comment: "SetPush web push with a 64-byte p256dh", Frame: pbField(15, pbCat(pbVarint(1, 2), pbField(2, []byte("https://push.example/x")), pbField(3, pushPoint[:64]), pbField(4, bytes.Repeat([]byte{0x41}, wire.PushAuthSize)))), Result: mal},
		{ID: "set-push-web-compressed", Comment: "SetPush web push with a compressed point", Frame: pbField(15, pbCat(pbVarint(1, 2), pbField(2, []byte("https://push.example/x")), pbField(3, append([]byte{0x02}, pushPoint[1:]...)), pbField(4, bytes.Repeat([]byte{0x41}, wire.PushAuthSize)))), Result: mal},
		{ID: "set-push-web-auth-15", Comment: "SetPush web push with a 15-byte auth", Frame: pbField(15, pbCat(pbVarint(1, 2), pbField(2, []byte("https://push.example/x")), pbField(3, pushPoint), pbField(4, bytes.Repeat([]byte{0x41}, wire.PushAuthSize-1)))), Result: mal},
		{ID: "set-push-web-token", Comment: "SetPush web push with a token", Frame: pbField(15, pbCat(pbVarint(1, 2), pbField(2, []byte("https://push.example/x")), pbField(3, pushPoint), pbField(4, bytes.Repeat([]byte{0x41}, wire.PushAuthSize)), pbField(5, []byte{1}))), Result: mal},
		{ID: "set-push-gateway-no-token", Comment: "SetPush gateway without a token", Frame: pbField(15, pbCat(pbVarint(1, 3), pbField(2, []byte("https://push.vendor.example")))), Result: mal},
		{ID: "set-push-gateway-token-513", Comment: "SetPush gateway with a token of MaxPushToken+1 bytes", Frame: pbField(15, pbCat(pbVarint(1, 3), pbField(2, []byte("https://push.vendor.example")), pbField(5, bytes.Repeat([]byte{0x7a}, wire.MaxPushToken+1)))), Result: mal},
		{ID: "set-push-endpoint-2049", Comment: "SetPush gateway with an endpoint of MaxPushEndpoint+1 bytes", Frame: pbField(15, pbCat(pbVarint(1, 3), pbField(2, bytes.Repeat([]byte{'h'}, wire.MaxPushEndpoint+1)), pbField(5, []byte{1}))), Result: mal},
		{ID: "push-set-status-0", Comment: "PushSet without a status", Frame: pbField(16, nil), Result: mal},
		{ID: "push-set-status-5", Comment: "PushSet of unknown status 5", Frame: pbField(16, pbVarint(1, 5)), Result: mal},
		{ID: "unknown-drain", Comment: "unknown field inside Drain", Frame: pbField(17, unknown), Result: mal},
		{ID: "unknown-drained", Comment: "unknown field inside Drained", Frame: pbField(18, unknown), Result: mal},
		// Link mailboxes (spec/relay.md §17).
		{ID: "auth-link-secret-31", Comment: "AuthLink.secret of 31 bytes", Frame: pbField(19, pbField(1, bytes.Repeat([]byte{0x11}, wire.LinkSecretSize-1))), Result: mal},
		{ID: "auth-link-secret-33", Comment: "AuthLink.secret of 33 bytes", Frame: pbField(19, pbField(1, bytes.Repeat([]byte{0x11}, wire.LinkSecretSize+1))), Result: mal},
		{ID: "auth-link-no-secret", Comment: "AuthLink without a secret", Frame: pbField(19, pbField(2, []byte("offer"))), Result: mal},
		{ID: "auth-link-offer-4097", Comment: "AuthLink.offer of 4097 bytes", Frame: pbField(19, pbCat(pbField(1, linkSecret), pbField(2, bytes.Repeat([]byte{0x6f}, wire.MaxLinkOffer+1)))), Result: mal},
		{ID: "auth-link-token-long", Comment: "AuthLink.token of 277 bytes", Frame: pbField(19, pbCat(pbField(1, linkSecret), pbField(3, bytes.Repeat([]byte{'A'}, wire.MaxTokenText+1)))), Result: mal},
		{ID: "auth-link-token-utf8", Comment: "AuthLink.token not UTF-8", Frame: pbField(19, pbCat(pbField(1, linkSecret), pbField(3, []byte{0xff, 0xfe}))), Result: mal},
		{ID: "auth-link-out-of-order", Comment: "AuthLink.offer before AuthLink.secret", Frame: pbField(19, pbCat(pbField(2, []byte("offer")), pbField(1, linkSecret))), Result: mal},
		{ID: "unknown-auth-link", Comment: "unknown field inside AuthLink", Frame: pbField(19, pbCat(pbField(1, linkSecret), unknown)), Result: mal},
		{ID: "link-fetch-31", Comment: "LinkFetch.link_id of 31 bytes", Frame: pbField(20, pbField(1, linkID[:31])), Result: mal},
		{ID: "link-fetch-empty", Comment: "LinkFetch without a link id", Frame: pbField(20, nil), Result: mal},
		{ID: "link-offer-no-id", Comment: "LinkOffer without a link id", Frame: pbField(21, pbField(2, []byte("offer"))), Result: mal},
		{ID: "link-offer-no-expiry", Comment: "LinkOffer with an offer and expiry 0", Frame: pbField(21, pbCat(pbField(1, linkID[:]), pbField(2, []byte("offer")))), Result: mal},
		{ID: "link-offer-4097", Comment: "LinkOffer.offer of 4097 bytes", Frame: pbField(21, pbCat(pbField(1, linkID[:]), pbField(2, bytes.Repeat([]byte{0x6f}, wire.MaxLinkOffer+1)), pbVarint(3, 1))), Result: mal},
		{ID: "unknown-link-close", Comment: "unknown field inside LinkClose", Frame: pbField(22, unknown), Result: mal},
		{ID: "unknown-link-closed", Comment: "unknown field inside LinkClosed", Frame: pbField(23, unknown), Result: mal},
		{ID: "send-link-32", Comment: "Send to 0x00 and 31 bytes: neither address form", Frame: send(id, pbCat(pbField(1, linkAddr[:32]), pbField(2, []byte("e")))), Result: mal},
		{ID: "send-link-34", Comment: "Send to 0x00 and 33 bytes: neither address form", Frame: send(id, pbCat(pbField(1, append(bytes.Clone(linkAddr), 0)), pbField(2, []byte("e")))), Result: mal},
		{ID: "send-link-anonymous", Comment: "anonymous Send (send_token) to a link address", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, pbCat(pbField(1, linkAddr), pbField(2, []byte("e")))), pbField(3, token))), Result: mal},
		{ID: "send-link-shared", Comment: "shared Send to a link address", Frame: pbField(3, pbCat(pbField(1, id), pbField(2, pbField(1, linkAddr)), pbField(4, []byte("body")))), Result: mal},
		{ID: "ephemeral-link", Comment: "SendEphemeral to a link address", Frame: pbField(10, pbField(1, pbCat(pbField(1, linkAddr), pbField(2, []byte("e"))))), Result: mal},
		{ID: "error-long", Comment: "error message of 257 bytes", Frame: pbField(9, pbCat(pbVarint(1, 1), pbField(2, bytes.Repeat([]byte{'m'}, wire.MaxErrorMessage+1)))), Result: mal},
	}
	return cases, nil
}

// protoMarshal marshals f canonically without Encode's checks, to build
// refused frames.
func protoMarshal(f *wire.Frame) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(f)
}

func genRelayFrames() ([]byte, error) {
	var cases []vectors.RelayFrameCase
	for _, v := range relayValidFrames() {
		b, err := wire.Encode(v.f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.id, err)
		}
		j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(v.f)
		if err != nil {
			return nil, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, j); err != nil {
			return nil, err
		}
		cases = append(cases, vectors.RelayFrameCase{ID: v.id, Comment: v.comment, Frame: b, Result: "ok", Decoded: compact.Bytes()})
	}
	refused, err := relayRefusedFrames()
	if err != nil {
		return nil, err
	}
	cases = append(cases, refused...)
	// Check every case against the decoder, so the file never states a
	// result the Go code does not give.
	for _, c := range cases {
		_, err := wire.Decode(c.Frame, c.MaxFrame)
		got := "ok"
		if err != nil {
			got = relayResultName(wire.CodeOf(err))
		}
		if got != c.Result {
			return nil, fmt.Errorf("relay-frames.json %s: decoder says %s (%v), case says %s", c.ID, got, err, c.Result)
		}
	}
	return encode(&vectors.File[vectors.RelayFrameCase]{
		Description: "Sealpost relay frames: bytes received as one WebSocket message under a frame cap (0: the default, 327680), " +
			"and the decoder's answer (ok with the frame in the protobuf JSON mapping, or the ErrorCode of the refusal).",
		Spec:  "spec/relay.md §3",
		Cases: cases,
	})
}

// relayResultName is the name of an ErrorCode: ERROR_CODE_FOO_BAR
// becomes foo_bar.
func relayResultName(c wire.ErrorCode) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "ERROR_CODE_"))
}
