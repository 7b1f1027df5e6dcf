package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/push/gateway/gwclient"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/relay/store"
)

// The Wakers the relay uses: Web Push through a webpush.Sender and push
// gateways through their clients (spec/push.md §4, §5).

// Web Push message parameters of every wake-up (spec/push.md §4).
const (
	// WakeTopic lets a push service replace an undelivered wake-up with
	// the next (RFC 8030 §5.4): a device offline for a day gets one, not
	// one per interval.
	WakeTopic = "sealpostwake"
	// WakeUrgency asks the push service to deliver at once, also to a
	// device saving battery (RFC 8030 §5.3): the user is waiting for a
	// message.
	WakeUrgency = "high"
)

// WebPushWaker returns a Waker that sends the wake marker to Web Push
// targets through s, asking push services to keep an undelivered one for
// ttl (the envelopes' own lifetime: a wake-up is worth nothing after its
// mail expired), at most webpush.MaxTTL.
func WebPushWaker(s *webpush.Sender, ttl time.Duration) Waker {
	msg := webpush.Message{TTL: min(ttl, webpush.MaxTTL).Truncate(time.Second), Urgency: WakeUrgency, Topic: WakeTopic}
	return WakerFunc(func(ctx context.Context, t store.PushTarget) error {
		if t.Kind != store.PushWeb {
			return fmt.Errorf("relay: web push waker given a target of kind %d", t.Kind)
		}
		sub := webpush.Subscription{Endpoint: t.Endpoint, P256dh: t.P256dh, Auth: t.Auth}
		r := s.Send(ctx, sub, msg, []byte(webpush.WakeMarker))
		switch r.Outcome {
		case webpush.Delivered:
			return nil
		case webpush.Gone:
			return fmt.Errorf("%w: %w", ErrPushGone, r.Err)
		case webpush.Retry:
			return &PushRetryError{After: r.RetryAfter, Err: r.Err}
		}
		if r.Err == nil {
			return errors.New("relay: web push refused")
		}
		return r.Err
	})
}

// GatewayWaker returns a Waker that sends gateway targets to the client
// of their gateway URL (spec/push.md §5.4).
func GatewayWaker(clients map[string]*gwclient.Client) Waker {
	return WakerFunc(func(ctx context.Context, t store.PushTarget) error {
		c := clients[t.Endpoint]
		if t.Kind != store.PushGateway || c == nil {
			return fmt.Errorf("relay: no gateway client for this target")
		}
		err := c.Wake(ctx, t.Token)
		var retry *gwclient.RetryError
		switch {
		case err == nil:
			return nil
		case errors.Is(err, gwclient.ErrGone):
			return fmt.Errorf("%w: %w", ErrPushGone, err)
		case errors.As(err, &retry):
			return &PushRetryError{After: retry.After, Err: err}
		case ctx.Err() != nil:
			return &PushRetryError{Err: err}
		}
		return err
	})
}
