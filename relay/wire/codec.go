// Package wire is the relay's wire protocol (spec/relay.md, spec/relay.proto):
// the generated protobuf types and a strict codec for them.
//
// Protocol flow (spec/relay.md §1, §2), over a TLS 1.3 WebSocket at
// wss://HOST/v1/relay, subprotocol "sealpost.relay.v1", one Frame per
// binary message:
//
//	client                                relay
//	  Auth{token}                    ->     verify token (audience relay:NAME)
//	                                 <-     Hello{time, heartbeat, limits}
//	                                        or Error{code}, close
//	  Send{message_id, items}        ->     store durably (dedup by sender, id)
//	                                 <-     SendResult{message_id, statuses}
//	                                 <-     Deliver{deliveries} (in id order,
//	                                        at most delivery_window unacked)
//	  Ack{ids}                       ->     delete acked envelopes
//	  Ping{nonce} / Pong{nonce}     <->     either way, heartbeat
//	  Error{code, message}          <->     then close
//
// Frames (field numbers in spec/relay.proto, rules in spec/relay.md §3.3):
//
//	1 Auth        c->r  token: access token text, 1..276 bytes
//	2 Hello       r->c  server time, heartbeat, idle timeout, Limits (all > 0)
//	3 Send        c->r  message_id (16 bytes), items 1..MaxItems of
//	                    {recipient address (§4), envelope (non-empty)};
//	                    or a shared send (§16): shared_body (non-empty) and
//	                    items 1..MaxSharedRecipients without envelopes
//	4 SendResult  r->c  message_id (16 bytes), statuses 1..MaxSharedRecipients
//	                    (known), duplicate
//	5 Deliver     r->c  deliveries 1..MaxDeliveries of {id > 0, increasing;
//	                    envelope non-empty; arrived_unix_ms > 0}
//	6 Ack         c->r  ids 1..MaxAckIDs, each > 0
//	7 Ping        both  nonce
//	8 Pong        both  nonce
//	9 Error       both  code (known), message (at most 256 bytes)
//	10 SendEphemeral    c->r  items 1..MaxItems, as Send's
//	11 DeliverEphemeral r->c  envelopes 1..MaxDeliveries, each non-empty
//
// Decode accepts only the canonical encoding of a frame that passes every
// rule; Encode refuses a frame that Decode would refuse, so
// Decode(Encode(f)) succeeds for every f Encode accepts.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
)

// Errors of refused frames. Every refusal is a *FrameError that wraps one of
// them; CodeOf gives the ErrorCode the relay sends before closing.
var (
	// ErrFrameTooLarge: the frame is longer than the frame cap.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrMalformed: not the canonical encoding of a Frame, an unknown
	// field, no body, or a field outside spec/relay.md §3.3.
	ErrMalformed = errors.New("wire: malformed frame")
)

// FrameError is a refused frame. Reason names the rule that failed; it
// holds lengths and indices only, never frame contents, so it may be
// logged.
type FrameError struct {
	Code   ErrorCode
	Reason string
}

func (e *FrameError) Error() string {
	return e.Unwrap().Error() + ": " + e.Reason
}

// Unwrap returns ErrFrameTooLarge or ErrMalformed.
func (e *FrameError) Unwrap() error {
	if e.Code == ErrorCode_ERROR_CODE_FRAME_TOO_LARGE {
		return ErrFrameTooLarge
	}
	return ErrMalformed
}

// CodeOf returns the ErrorCode for err: the code of a *FrameError, else
// ERROR_CODE_INTERNAL.
func CodeOf(err error) ErrorCode {
	var fe *FrameError
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ErrorCode_ERROR_CODE_INTERNAL
}

func malformed(format string, args ...any) error {
	return &FrameError{Code: ErrorCode_ERROR_CODE_MALFORMED, Reason: fmt.Sprintf(format, args...)}
}

// deterministic is the one marshalling of the protocol (spec/relay.md §3.1).
var deterministic = proto.MarshalOptions{Deterministic: true}

// Decode parses one frame, strictly (spec/relay.md §3): it refuses a frame
// longer than maxFrame bytes before parsing it (maxFrame ≤ 0 means
// DefaultMaxFrame), anything that is not a Frame, a Frame with a field
// spec/relay.proto does not define at any depth, one without a body, one
// whose fields break a rule of §3.3, and one that is not the canonical
// encoding of what it holds (§3.1). The frame does not alias b.
func Decode(b []byte, maxFrame int) (*Frame, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if len(b) > maxFrame {
		return nil, &FrameError{Code: ErrorCode_ERROR_CODE_FRAME_TOO_LARGE,
			Reason: fmt.Sprintf("%d bytes, cap %d", len(b), maxFrame)}
	}
	f := new(Frame)
	if err := proto.Unmarshal(b, f); err != nil {
		return nil, malformed("not a protobuf Frame")
	}
	if err := Check(f); err != nil {
		return nil, err
	}
	if !canonical(b, f) {
		return nil, malformed("not the canonical encoding")
	}
	return f, nil
}

// Encode returns the canonical encoding of f (spec/relay.md §3.1), or a
// *FrameError if f breaks a rule of §3.3. It does not check a frame cap:
// the caller compares the length with the peer's max_frame.
func Encode(f *Frame) ([]byte, error) {
	return AppendEncode(nil, f)
}

// AppendEncode is Encode appending to dst, for callers that reuse buffers.
// On error it returns dst unchanged.
func AppendEncode(dst []byte, f *Frame) ([]byte, error) {
	if err := Check(f); err != nil {
		return dst, err
	}
	out, err := deterministic.MarshalAppend(dst, f)
	if err != nil {
		// Only invalid UTF-8 in a string field gets here.
		return dst, malformed("cannot marshal: %v", err)
	}
	return out, nil
}

// Buffers for the canonical check: frames are re-encoded into a pooled
// buffer, kept unless it grew beyond maxPooledBuffer.
const maxPooledBuffer = 1 << 20

var encodeBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

// canonical reports whether b is the deterministic encoding of f
// (spec/relay.md §3.1): fields in field-number order, each at most once, no
// field holding its default value, repeated scalars packed, minimal varints.
func canonical(b []byte, f *Frame) bool {
	p := encodeBuffers.Get().(*[]byte)
	out, err := deterministic.MarshalAppend((*p)[:0], f)
	ok := err == nil && bytes.Equal(out, b)
	if cap(out) <= maxPooledBuffer {
		*p = out[:0]
		encodeBuffers.Put(p)
	}
	return ok
}
