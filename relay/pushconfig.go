package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Push wake-ups (spec/push.md §2, §3): the relay's side. A device
// registers a target on its authenticated connection (SetPush); when an
// envelope is stored for a device not connected to this node, the relay
// sends the target a content-free wake-up, at most one per Interval while
// new mail keeps arriving, retried with back-off, and drops the
// registration when the push service says the endpoint is gone.

// Waker sends one wake-up to a push target. The relay reads its error:
// nil is delivered; ErrPushGone (wrapped or not) removes the
// registration; a *PushRetryError retries after its After (0: the
// relay's own back-off); anything else is a failure, retried with
// back-off, and the registration is removed after MaxFailures in a row.
// A Waker never returns before ctx ends if the push service hangs.
type Waker interface {
	Wake(ctx context.Context, t store.PushTarget) error
}

// WakerFunc adapts a function to a Waker.
type WakerFunc func(ctx context.Context, t store.PushTarget) error

// Wake calls f.
func (f WakerFunc) Wake(ctx context.Context, t store.PushTarget) error { return f(ctx, t) }

// ErrPushGone is what a Waker returns when the push service says the
// endpoint no longer exists (Web Push 404 or 410, a gateway's gone).
var ErrPushGone = errors.New("relay: push endpoint gone")

// PushRetryError is what a Waker returns when the push service asks to
// be tried again later (429, 503 with Retry-After) or could not be
// reached.
type PushRetryError struct {
	After time.Duration // the service's Retry-After; 0 if it gave none
	Err   error
}

func (e *PushRetryError) Error() string {
	return fmt.Sprintf("relay: push service asks to retry after %v: %v", e.After, e.Err)
}

func (e *PushRetryError) Unwrap() error { return e.Err }

// Defaults of PushConfig.
const (
	DefaultWakeInterval   = 30 * time.Second
	DefaultWakeTimeout    = 15 * time.Second
	DefaultWakeWorkers    = 32
	DefaultWakeFailures   = 12
	DefaultWakeSharedWait = 2 * time.Second
	// maxWakeBackoff caps the delay between two tries of a failing
	// registration.
	maxWakeBackoff = time.Hour
	// minWakeBackoff is the delay after the first failure.
	minWakeBackoff = 5 * time.Second
)

// PushConfig turns on wake-ups. The relay's Queue must implement
// store.PushQueue.
type PushConfig struct {
	// WebPush sends Web Push wake-ups (RFC 8030/8291/8292); nil means
	// the relay refuses Web Push registrations (disabled).
	WebPush Waker
	// CheckEndpoint decides whether the relay may reach a Web Push
	// endpoint (an https URL to a public address: spec/push.md §4.8);
	// refused endpoints are answered endpoint_refused. Required with
	// WebPush.
	CheckEndpoint func(endpoint string) error
	// VAPIDPublicKey is the relay's VAPID key (65 bytes), published at
	// /.well-known/sealpost-relay for subscribers; required with WebPush.
	VAPIDPublicKey []byte
	// Gateways are the push gateways the relay holds a key for, by URL,
	// and Gateway sends to them; a gateway registration for another URL is
	// answered gateway_unknown.
	Gateways []string
	Gateway  Waker
	// Interval is the least time between two wake-ups of one device;
	// 0 means DefaultWakeInterval.
	Interval time.Duration
	// Delay is how long the relay waits after storing an envelope before
	// it wakes its device, so that a device connected to another node
	// sharing the store can take it first; 0 means 0 for a store serving
	// one node and DefaultWakeSharedWait for a shared one.
	Delay time.Duration
	// Timeout bounds one wake-up; 0 means DefaultWakeTimeout.
	Timeout time.Duration
	// Workers is how many wake-ups are sent at once; 0 means
	// DefaultWakeWorkers.
	Workers int
	// MaxFailures is how many wake-ups of a registration may fail in a
	// row before it is removed; 0 means DefaultWakeFailures.
	MaxFailures int
}

func (p *PushConfig) withDefaults(shared bool) PushConfig {
	c := *p
	if c.Interval == 0 {
		c.Interval = DefaultWakeInterval
	}
	if c.Delay == 0 && shared {
		c.Delay = DefaultWakeSharedWait
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultWakeTimeout
	}
	if c.Workers == 0 {
		c.Workers = DefaultWakeWorkers
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultWakeFailures
	}
	return c
}

func (p *PushConfig) check(q store.Queue) []error {
	var errs []error
	if _, ok := q.(store.PushQueue); !ok {
		errs = append(errs, errors.New("relay: Push needs a Queue that implements store.PushQueue"))
	}
	if p.WebPush != nil && (p.CheckEndpoint == nil || len(p.VAPIDPublicKey) != 65) {
		errs = append(errs, errors.New("relay: Push.WebPush needs CheckEndpoint and a 65-byte VAPIDPublicKey"))
	}
	if (len(p.Gateways) > 0) != (p.Gateway != nil) {
		errs = append(errs, errors.New("relay: Push.Gateways and Push.Gateway go together"))
	}
	if p.Interval < 0 || p.Delay < 0 || p.Timeout < 0 || p.Workers < 0 || p.MaxFailures < 0 {
		errs = append(errs, errors.New("relay: Push durations and counts must not be negative"))
	}
	if p.Interval != 0 && p.Interval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("relay: Push.Interval %v below 10ms", p.Interval))
	}
	return errs
}
