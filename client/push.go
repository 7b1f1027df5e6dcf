package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
	"github.com/sealpost/sealpost/relay/wire"
)

// Push wake-ups (spec/client.md §16, spec/push.md): the relay wakes a
// device that is not connected through its push target, and the app
// woken calls Sync.

// PushKind is how the relay wakes this device.
type PushKind int

const (
	// PushWebPush is a Web Push subscription (RFC 8030, RFC 8291): a
	// browser's PushSubscription, or a UnifiedPush endpoint. The relay
	// sends the wake-up itself.
	PushWebPush PushKind = iota + 1
	// PushGateway is a token of the app vendor's push gateway (APNs,
	// FCM), whose URL the relay lists (PushInfo.Gateways).
	PushGateway
)

func (k PushKind) String() string {
	switch k {
	case PushWebPush:
		return "web push"
	case PushGateway:
		return "gateway"
	}
	return fmt.Sprintf("PushKind(%d)", int(k))
}

// PushTarget is where the relay sends this device's wake-ups.
type PushTarget struct {
	Kind PushKind
	// Endpoint is the push resource URL of a Web Push subscription, or
	// the gateway's URL, exactly as PushInfo.Gateways lists it.
	Endpoint string
	// P256dh (65 bytes, an uncompressed P-256 point) and Auth (16 bytes)
	// are the Web Push subscription's keys; nil for a gateway.
	P256dh, Auth []byte
	// Token is the device's gateway token (1 to 512 bytes, opaque to the
	// relay: the APNs device token or FCM registration token as the
	// gateway wants it); nil for Web Push.
	Token []byte
}

// PushStatus is why the relay refused a push target.
type PushStatus int

const (
	// PushDisabled: the relay sends no wake-ups of this kind.
	PushDisabled PushStatus = iota + 1
	// PushEndpointRefused: the endpoint is not an https URL the relay
	// may reach (a private address, say).
	PushEndpointRefused
	// PushGatewayUnknown: the relay does not know this gateway.
	PushGatewayUnknown
)

func (s PushStatus) String() string {
	switch s {
	case PushDisabled:
		return "disabled"
	case PushEndpointRefused:
		return "endpoint refused"
	case PushGatewayUnknown:
		return "gateway unknown"
	}
	return fmt.Sprintf("PushStatus(%d)", int(s))
}

var (
	// ErrPushRefused is wrapped by a *PushRefusedError: the relay refused
	// the push target and keeps the one it had.
	ErrPushRefused = errors.New("client: the relay refused the push target")
	// ErrInvalidPushTarget reports a push target that breaks the rules
	// of its kind (spec/push.md §2.2): nothing was sent.
	ErrInvalidPushTarget = errors.New("client: invalid push target")
)

// PushRefusedError is SetPush's error when the relay refused the target:
// Status says why. It wraps ErrPushRefused.
type PushRefusedError struct {
	Status PushStatus
}

func (e *PushRefusedError) Error() string {
	return fmt.Sprintf("client: the relay refused the push target: %v", e.Status)
}

func (e *PushRefusedError) Unwrap() error { return ErrPushRefused }

// PushInfo is what the relay says about its wake-ups (spec/push.md §2.1):
// what a browser or an app needs before it subscribes.
type PushInfo struct {
	// VAPIDPublicKey is the relay's VAPID key (65 bytes, uncompressed
	// P-256), the applicationServerKey of a Web Push subscription; nil
	// when the relay sends no Web Push.
	VAPIDPublicKey []byte
	// Gateways are the push gateways the relay knows.
	Gateways []string
	// WakeInterval is the least time between two wake-ups of a device;
	// 0 when the relay sends no wake-ups (then Gateways and
	// VAPIDPublicKey are empty too).
	WakeInterval time.Duration
}

// pushInfoPath is the relay's information document (spec/push.md §2.1).
const pushInfoPath = "/.well-known/sealpost-relay"

// maxPushInfo bounds the information document.
const maxPushInfo = 64 << 10

// PushInfo fetches the relay's push information from
// https://<relay host>/.well-known/sealpost-relay, with the relay's TLS
// trust (spec/push.md §2.1). It needs no account.
func (c *Client) PushInfo(ctx context.Context) (*PushInfo, error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	ru, err := url.Parse(c.cfg.Relay)
	if err != nil || ru.Host == "" {
		return nil, fmt.Errorf("client: relay URL %q", c.cfg.Relay)
	}
	u := url.URL{Scheme: "https", Host: ru.Host, Path: pushInfoPath}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("client: push info: %w", err)
	}
	hc := newHTTPClient(c.tls, c.cfg.Dial)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: push info: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: push info: relay answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPushInfo+1))
	if err != nil {
		return nil, fmt.Errorf("client: push info: %w", err)
	}
	if len(body) > maxPushInfo {
		return nil, errors.New("client: push info: document too large")
	}
	return parsePushInfo(body)
}

// parsePushInfo parses the relay's information document (spec/push.md
// §2.1).
func parsePushInfo(body []byte) (*PushInfo, error) {
	var doc struct {
		Name string `json:"name"`
		Push *struct {
			VAPIDPublicKey string   `json:"vapid_public_key"`
			Gateways       []string `json:"gateways"`
			WakeIntervalMs int64    `json:"wake_interval_ms"`
		} `json:"push"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("client: push info: %w", err)
	}
	info := &PushInfo{}
	if doc.Push == nil {
		return info, nil
	}
	if doc.Push.WakeIntervalMs < 0 {
		return nil, errors.New("client: push info: negative wake interval")
	}
	info.Gateways = doc.Push.Gateways
	info.WakeInterval = time.Duration(doc.Push.WakeIntervalMs) * time.Millisecond
	if k := doc.Push.VAPIDPublicKey; k != "" {
		key, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil || len(key) != wire.PushP256dhSize || key[0] != 4 {
			return nil, errors.New("client: push info: vapid_public_key is not a base64url uncompressed P-256 point")
		}
		info.VAPIDPublicKey = key
	}
	return info, nil
}

// wireTarget returns t as a SetPush (nil: kind none), checked against the
// frame rules.
func wireTarget(t *PushTarget) (*wire.SetPush, error) {
	p := &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_NONE}
	if t != nil {
		switch t.Kind {
		case PushWebPush:
			p.Kind = wire.PushKind_PUSH_KIND_WEB_PUSH
		case PushGateway:
			p.Kind = wire.PushKind_PUSH_KIND_GATEWAY
		default:
			return nil, fmt.Errorf("%w: kind %v", ErrInvalidPushTarget, t.Kind)
		}
		p.Endpoint, p.P256Dh, p.Auth, p.Token = t.Endpoint, bytes.Clone(t.P256dh), bytes.Clone(t.Auth), bytes.Clone(t.Token)
		if u, err := url.Parse(t.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("%w: endpoint is not an https URL", ErrInvalidPushTarget)
		}
	}
	if err := wire.Check(&wire.Frame{Body: &wire.Frame_SetPush{SetPush: p}}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPushTarget, err)
	}
	return p, nil
}

// storedTarget converts between the store's row and the frame.
func storedTarget(p *wire.SetPush) localstore.PushTarget {
	s := localstore.PushTarget{Endpoint: p.Endpoint, P256dh: p.P256Dh, Auth: p.Auth, Token: p.Token}
	switch p.Kind {
	case wire.PushKind_PUSH_KIND_WEB_PUSH:
		s.Kind = localstore.PushWebPush
	case wire.PushKind_PUSH_KIND_GATEWAY:
		s.Kind = localstore.PushGateway
	}
	return s
}

func frameTarget(s localstore.PushTarget) *wire.SetPush {
	p := &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_NONE, Endpoint: s.Endpoint, P256Dh: s.P256dh, Auth: s.Auth, Token: s.Token}
	switch s.Kind {
	case localstore.PushWebPush:
		p.Kind = wire.PushKind_PUSH_KIND_WEB_PUSH
	case localstore.PushGateway:
		p.Kind = wire.PushKind_PUSH_KIND_GATEWAY
	}
	return p
}

func sameTarget(a localstore.PushTarget, b *wire.SetPush) bool {
	s := storedTarget(b)
	return a.Kind == s.Kind && a.Endpoint == s.Endpoint && bytes.Equal(a.P256dh, s.P256dh) &&
		bytes.Equal(a.Auth, s.Auth) && bytes.Equal(a.Token, s.Token)
}

func refusal(st wire.PushStatus) error {
	switch st {
	case wire.PushStatus_PUSH_STATUS_OK:
		return nil
	case wire.PushStatus_PUSH_STATUS_DISABLED:
		return &PushRefusedError{Status: PushDisabled}
	case wire.PushStatus_PUSH_STATUS_ENDPOINT_REFUSED:
		return &PushRefusedError{Status: PushEndpointRefused}
	case wire.PushStatus_PUSH_STATUS_GATEWAY_UNKNOWN:
		return &PushRefusedError{Status: PushGatewayUnknown}
	}
	return fmt.Errorf("client: relay answered push status %v", st)
}

// initialPushTarget returns the target the link sends after each connect
// (spec/client.md §16.1): Config.Push, stored if it differs from the
// stored one, else the stored one (a removal not yet confirmed included),
// else none.
func (c *Client) initialPushTarget(ctx context.Context) (*wire.SetPush, error) {
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	var want *wire.SetPush
	if c.cfg.Push != nil {
		var err error
		if want, err = wireTarget(c.cfg.Push); err != nil {
			return nil, err
		}
	}
	var out *wire.SetPush
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		out = nil
		cur, err := tx.PushTarget()
		if err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if want == nil {
			if err == nil {
				out = frameTarget(cur)
			}
			return nil
		}
		out = want
		if err == nil && sameTarget(cur, want) {
			return nil
		}
		return tx.PutPushTarget(storedTarget(want))
	})
	return out, storeError(err)
}

// SetPush registers target as this device's push target at the relay (nil
// removes it; a relay that sends no wake-ups holds none, so that is no
// error either) and returns once the relay has answered (spec/client.md
// §16.1). The target is remembered in the local store and sent again
// after every connection, so a registration the relay dropped comes back.
// It waits for the relay connection. A refused target fails with a
// *PushRefusedError (wrapping ErrPushRefused) saying why, and is not
// remembered: the relay and the store keep the target they had. A target
// that breaks the rules of its kind fails with ErrInvalidPushTarget. When
// ctx ends before the relay answered, SetPush returns ctx's error and the
// target is sent after the next connection.
func (c *Client) SetPush(ctx context.Context, target *PushTarget) error {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	p, err := wireTarget(target)
	if err != nil {
		return err
	}
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	if link == nil {
		return ErrNotRegistered
	}
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	var prev *localstore.PushTarget
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		prev = nil
		cur, err := tx.PushTarget()
		if err == nil {
			prev = &cur
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		return tx.PutPushTarget(storedTarget(p))
	})
	if err != nil {
		return storeError(err)
	}
	st, err := link.SetPush(ctx, p)
	if err != nil {
		switch {
		case errors.Is(err, relaylink.ErrClosed):
			return ErrClosed
		case errors.Is(err, relaylink.ErrRevoked):
			return ErrDeviceRevoked
		}
		return err
	}
	if rerr := refusal(st); rerr != nil && p.Kind != wire.PushKind_PUSH_KIND_NONE {
		// Not taken: back to what the relay holds. The link sends the old
		// target again after each connect (the relay changes nothing).
		var old *wire.SetPush
		if prev != nil {
			old = frameTarget(*prev)
		}
		err := c.store.Update(context.WithoutCancel(ctx), func(tx localstore.Tx) error {
			if prev == nil {
				return tx.DeletePushTarget()
			}
			return tx.PutPushTarget(*prev)
		})
		link.RestorePush(old)
		return errors.Join(rerr, storeError(err))
	}
	return storeError(c.recordPushStatus(ctx, p, st))
}

// recordPushStatus records the relay's answer to p, if p is still the
// stored target: a removal confirmed deletes the row.
func (c *Client) recordPushStatus(ctx context.Context, p *wire.SetPush, st wire.PushStatus) error {
	return c.store.Update(context.WithoutCancel(ctx), func(tx localstore.Tx) error {
		cur, err := tx.PushTarget()
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		if err != nil || !sameTarget(cur, p) {
			return err
		}
		if p.Kind == wire.PushKind_PUSH_KIND_NONE {
			// Removed, or never held by a relay that sends no
			// wake-ups (disabled): nothing to send again.
			return tx.DeletePushTarget()
		}
		cur.Status = uint8(st)
		return tx.PutPushTarget(cur)
	})
}

// onPushStatus is the link's report of its answer to the target sent
// after a connect.
func (c *Client) onPushStatus(p *wire.SetPush, st wire.PushStatus) {
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	if err := refusal(st); err != nil && p.Kind != wire.PushKind_PUSH_KIND_NONE {
		c.log.Warn("client: the relay refused this device's push target; no wake-ups", "err", err)
		if st != c.pushRefused {
			// Once per run and refusal: the app tells its user, or sets
			// another target (spec/client.md §16.1).
			c.pushRefused = st
			c.emit(Event{Kind: EventPushRefused, Err: err})
		}
	} else if st == wire.PushStatus_PUSH_STATUS_OK {
		c.pushRefused = 0
	}
	if err := c.recordPushStatus(c.ctx, p, st); err != nil && c.ctx.Err() == nil {
		c.log.Warn("client: recording the push status", "err", err)
	}
}
