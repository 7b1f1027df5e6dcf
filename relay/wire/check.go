package wire

import (
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/crypto/token"
	"google.golang.org/protobuf/proto"
)

// Protocol limits, fixed by spec/relay.md §3.3 (not configurable).
const (
	MessageIDSize = 16
	MaxItems      = 1000 // items of a Send or SendEphemeral
	// MaxSharedRecipients bounds the items of a shared send (a Send with
	// shared_body, spec/relay.md §16) and so the statuses of a SendResult.
	MaxSharedRecipients = 2000
	MaxDeliveries       = 1000 // deliveries of a Deliver
	MaxAckIDs           = 1000 // ids of an Ack
	MaxTokenText        = token.MaxTokenTextSize
	MaxErrorMessage     = 256
	// SendTokenSize is the size of a send token, Send.send_token
	// (spec/anonymous.md §5.5, sendtoken.TokenSize).
	SendTokenSize = 354
)

// Defaults of the configurable size limits, spec/relay.md §6.
const (
	DefaultMaxEnvelope = seal.MaxEnvelopeSize        // 262144
	DefaultMaxFrame    = DefaultMaxEnvelope + 64<<10 // 327680
	// DefaultMaxEphemeralEnvelope is the smallest version 2 sealed
	// envelope (spec/seal.md §10.3), what a typing or presence signal
	// sent anonymously needs; on the authenticated connection one takes
	// 512 bytes (version 1).
	DefaultMaxEphemeralEnvelope = 2048
)

// Check reports whether f satisfies spec/relay.md §3.2 and §3.3: exactly
// one body, no unknown field at any depth, every field within its rule.
// It does not check the canonical encoding (Decode does) or the frame cap.
func Check(f *Frame) error {
	if f == nil {
		return malformed("nil frame")
	}
	if hasUnknown(f) {
		return malformed("unknown field in Frame")
	}
	switch b := f.Body.(type) {
	case *Frame_Auth:
		return checkAuth(b.Auth)
	case *Frame_AuthAnonymous:
		return checkPresent(b.AuthAnonymous, "AuthAnonymous")
	case *Frame_Hello:
		return checkHello(b.Hello)
	case *Frame_Send:
		return checkSend(b.Send)
	case *Frame_SendResult:
		return checkSendResult(b.SendResult)
	case *Frame_Deliver:
		return checkDeliver(b.Deliver)
	case *Frame_Ack:
		return checkAck(b.Ack)
	case *Frame_Ping:
		return checkPresent(b.Ping, "Ping")
	case *Frame_Pong:
		return checkPresent(b.Pong, "Pong")
	case *Frame_Error:
		return checkError(b.Error)
	case *Frame_SendEphemeral:
		return checkSendEphemeral(b.SendEphemeral)
	case *Frame_DeliverEphemeral:
		return checkDeliverEphemeral(b.DeliverEphemeral)
	case *Frame_SetAccess:
		return checkSetAccess(b.SetAccess)
	case *Frame_AccessSet:
		return checkPresent(b.AccessSet, "AccessSet")
	case *Frame_SetPush:
		return checkSetPush(b.SetPush)
	case *Frame_PushSet:
		return checkPushSet(b.PushSet)
	case *Frame_Drain:
		return checkPresent(b.Drain, "Drain")
	case *Frame_Drained:
		return checkPresent(b.Drained, "Drained")
	case *Frame_AuthLink:
		return checkAuthLink(b.AuthLink)
	case *Frame_LinkFetch:
		return checkLinkFetch(b.LinkFetch)
	case *Frame_LinkOffer:
		return checkLinkOffer(b.LinkOffer)
	case *Frame_LinkClose:
		return checkPresent(b.LinkClose, "LinkClose")
	case *Frame_LinkClosed:
		return checkPresent(b.LinkClosed, "LinkClosed")
	}
	return malformed("no body")
}

// hasUnknown reports whether m holds fields its type does not define
// (protobuf keeps them as unknown fields; the protocol refuses them).
func hasUnknown(m proto.Message) bool {
	return len(m.ProtoReflect().GetUnknown()) != 0
}

// checkPresent checks a body message that has no field rules of its own.
func checkPresent[M interface {
	proto.Message
	comparable
}](m M, name string) error {
	var zero M
	if m == zero {
		return malformed("%s body is nil", name)
	}
	if hasUnknown(m) {
		return malformed("unknown field in %s", name)
	}
	return nil
}

func checkAuth(a *Auth) error {
	if err := checkPresent(a, "Auth"); err != nil {
		return err
	}
	if n := len(a.Token); n < 1 || n > MaxTokenText {
		return malformed("auth token length %d not in [1, %d]", n, MaxTokenText)
	}
	return nil
}

func checkHello(h *Hello) error {
	if err := checkPresent(h, "Hello"); err != nil {
		return err
	}
	if h.ServerTimeUnixMs == 0 || h.HeartbeatIntervalMs == 0 || h.IdleTimeoutMs < h.HeartbeatIntervalMs {
		return malformed("hello times: need server time > 0, heartbeat > 0, idle timeout >= heartbeat")
	}
	l := h.Limits
	if err := checkPresent(l, "Limits"); err != nil {
		return err
	}
	if l.MaxEnvelope == 0 || l.MaxFrame == 0 || l.MaxQueueCount == 0 || l.MaxQueueBytes == 0 ||
		l.TtlSeconds == 0 || l.SendsPerSecond == 0 || l.SendBurst == 0 || l.DeliveryWindow == 0 ||
		l.MaxEphemeralEnvelope == 0 || l.EphemeralPerSecond == 0 || l.EphemeralBurst == 0 {
		return malformed("hello limits: every limit must be > 0")
	}
	return nil
}

func checkSend(s *Send) error {
	if err := checkPresent(s, "Send"); err != nil {
		return err
	}
	if len(s.MessageId) != MessageIDSize {
		return malformed("send message id of %d bytes, want %d", len(s.MessageId), MessageIDSize)
	}
	shared := len(s.SharedBody) != 0
	if n := len(s.Items); n < 1 || (!shared && n > MaxItems) || n > MaxSharedRecipients {
		limit := MaxItems
		if shared {
			limit = MaxSharedRecipients
		}
		return malformed("send with %d items, want 1 to %d", n, limit)
	}
	if n := len(s.SendToken); n != 0 && n != SendTokenSize {
		return malformed("send token of %d bytes, want %d", n, SendTokenSize)
	}
	// Access keys go on anonymous sends only (spec/relay.md §15.8); the
	// items of a shared send carry no envelope (§16.1).
	// Link addresses (spec/relay.md §17.3) are recipients only of sends
	// that are neither anonymous nor shared.
	return checkItems(s.Items, "send", len(s.SendToken) != 0, shared)
}

// checkItems checks the items of a Send or SendEphemeral (spec/relay.md
// §3.3): each a device address (or a link address, §17.3, in a Send
// without send token and shared body) and a non-empty envelope (none at all in a
// shared send, §16.1), with an access key of AccessKeySize bytes only if
// keys are allowed (§15.8).
func checkItems(items []*Item, what string, keys, shared bool) error {
	for i, it := range items {
		if it == nil {
			return malformed("%s item %d is nil", what, i)
		}
		if hasUnknown(it) {
			return malformed("unknown field in %s item %d", what, i)
		}
		if checkRecipient(it.Recipient, what == "send" && !keys && !shared) != nil {
			return malformed("%s item %d: recipient is not a device address", what, i)
		}
		if shared && len(it.Envelope) != 0 {
			return malformed("%s item %d: envelope in a shared send", what, i)
		}
		if !shared && len(it.Envelope) == 0 {
			return malformed("%s item %d: empty envelope", what, i)
		}
		switch n := len(it.AccessKey); {
		case n == 0:
		case !keys:
			return malformed("%s item %d: access key outside an anonymous send", what, i)
		case n != AccessKeySize:
			return malformed("%s item %d: access key of %d bytes, want %d", what, i, n, AccessKeySize)
		}
	}
	return nil
}

// checkSendEphemeral: spec/relay.md §3.3, §7.4.
func checkSendEphemeral(s *SendEphemeral) error {
	if err := checkPresent(s, "SendEphemeral"); err != nil {
		return err
	}
	if n := len(s.Items); n < 1 || n > MaxItems {
		return malformed("send_ephemeral with %d items, want 1 to %d", n, MaxItems)
	}
	return checkItems(s.Items, "send_ephemeral", false, false)
}

// checkDeliverEphemeral: spec/relay.md §3.3, §7.4.
func checkDeliverEphemeral(d *DeliverEphemeral) error {
	if err := checkPresent(d, "DeliverEphemeral"); err != nil {
		return err
	}
	if n := len(d.Envelopes); n < 1 || n > MaxDeliveries {
		return malformed("deliver_ephemeral with %d envelopes, want 1 to %d", n, MaxDeliveries)
	}
	for i, e := range d.Envelopes {
		if len(e) == 0 {
			return malformed("deliver_ephemeral envelope %d is empty", i)
		}
	}
	return nil
}

func checkSendResult(r *SendResult) error {
	if err := checkPresent(r, "SendResult"); err != nil {
		return err
	}
	if len(r.MessageId) != MessageIDSize {
		return malformed("send result message id of %d bytes, want %d", len(r.MessageId), MessageIDSize)
	}
	if n := len(r.Statuses); n < 1 || n > MaxSharedRecipients {
		return malformed("send result with %d statuses, want 1 to %d", n, MaxSharedRecipients)
	}
	quota := false
	for i, st := range r.Statuses {
		if st < Status_STATUS_STORED || st > Status_STATUS_ACCESS_DENIED {
			return malformed("send result status %d: unknown value %d", i, int32(st))
		}
		quota = quota || st == Status_STATUS_QUOTA
	}
	// spec/relay.md §7.2: retry_after_ms goes with quota statuses only.
	if quota != (r.RetryAfterMs > 0) {
		return malformed("send result: retry_after_ms %d with quota statuses %v", r.RetryAfterMs, quota)
	}
	return nil
}

// checkSetAccess: spec/relay.md §3.3, §15.8.
func checkSetAccess(a *SetAccess) error {
	if err := checkPresent(a, "SetAccess"); err != nil {
		return err
	}
	switch a.Mode {
	case AccessMode_ACCESS_MODE_OPEN:
		if len(a.Verifier) != 0 || a.PreviousValidSeconds != 0 {
			return malformed("set_access: mode open with a verifier or previous_valid_seconds")
		}
	case AccessMode_ACCESS_MODE_CONTACTS:
		if len(a.Verifier) != AccessVerifierSize {
			return malformed("set_access: verifier of %d bytes, want %d", len(a.Verifier), AccessVerifierSize)
		}
		if a.PreviousValidSeconds > MaxPreviousValid {
			return malformed("set_access: previous_valid_seconds %d above %d", a.PreviousValidSeconds, MaxPreviousValid)
		}
	default:
		return malformed("set_access: unknown mode %d", int32(a.Mode))
	}
	return nil
}

func checkDeliver(d *Deliver) error {
	if err := checkPresent(d, "Deliver"); err != nil {
		return err
	}
	if n := len(d.Deliveries); n < 1 || n > MaxDeliveries {
		return malformed("deliver with %d deliveries, want 1 to %d", n, MaxDeliveries)
	}
	var last uint64
	for i, dl := range d.Deliveries {
		if dl == nil {
			return malformed("delivery %d is nil", i)
		}
		if hasUnknown(dl) {
			return malformed("unknown field in delivery %d", i)
		}
		if dl.Id <= last {
			return malformed("delivery %d: id not above the previous one (and > 0)", i)
		}
		last = dl.Id
		if len(dl.Envelope) == 0 {
			return malformed("delivery %d: empty envelope", i)
		}
		if dl.ArrivedUnixMs == 0 {
			return malformed("delivery %d: arrival time 0", i)
		}
	}
	return nil
}

func checkAck(a *Ack) error {
	if err := checkPresent(a, "Ack"); err != nil {
		return err
	}
	if n := len(a.Ids); n < 1 || n > MaxAckIDs {
		return malformed("ack with %d ids, want 1 to %d", n, MaxAckIDs)
	}
	for i, id := range a.Ids {
		if id == 0 {
			return malformed("ack id %d is 0", i)
		}
	}
	return nil
}

func checkError(e *Error) error {
	if err := checkPresent(e, "Error"); err != nil {
		return err
	}
	if e.Code < ErrorCode_ERROR_CODE_MALFORMED || e.Code > ErrorCode_ERROR_CODE_LINK_CONFLICT {
		return malformed("error code %d unknown", int32(e.Code))
	}
	if len(e.Message) > MaxErrorMessage {
		return malformed("error message of %d bytes, cap %d", len(e.Message), MaxErrorMessage)
	}
	return nil
}
