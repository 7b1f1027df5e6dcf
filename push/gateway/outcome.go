package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Retry hints the gateway gives when a provider gave none (spec/push.md
// §5.5), and the longest it passes on.
const (
	defaultThrottleRetry = 60 * time.Second
	defaultOutageRetry   = 30 * time.Second
	maxRetryAfter        = time.Hour
)

// kind is what a provider's answer means for the relay (spec/push.md
// §5.5).
type kind int

const (
	kindGone      kind = iota + 1 // the device token is dead: 410
	kindThrottled                 // provider rate limit: 429
	kindOutage                    // provider down or slow: 503
	kindFailed                    // anything else: 502
)

func (k kind) String() string {
	switch k {
	case kindGone:
		return "gone"
	case kindThrottled:
		return "throttled"
	case kindOutage:
		return "unavailable"
	}
	return "provider_error"
}

// sendError is a provider's refusal of a push, classified. reason is the
// provider's error code (APNs reason, FCM errorCode or status): no token
// or payload, so it may be logged.
type sendError struct {
	kind   kind
	status int           // the provider's HTTP status, 0 for no answer
	reason string        // the provider's error code
	after  time.Duration // the provider's Retry-After, 0 if none
	err    error         // the transport error, if any
}

func (e *sendError) Error() string {
	s := fmt.Sprintf("gateway: provider %s (%d %s)", e.kind, e.status, e.reason)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *sendError) Unwrap() error { return e.err }

// asSendError returns err as a *sendError: a transport error or timeout
// is an outage.
func asSendError(err error) *sendError {
	var se *sendError
	if errors.As(err, &se) {
		return se
	}
	return &sendError{kind: kindOutage, reason: "no_answer", err: err}
}

// retryAfter parses a Retry-After header (RFC 9110 §10.2.3): seconds or
// an HTTP date. 0 means absent or unusable; the result is capped at
// maxRetryAfter.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(h, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
