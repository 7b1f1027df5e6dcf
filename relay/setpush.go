package relay

import (
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// Push registration (spec/push.md §2). Protocol flow:
//
//	device (authenticated)                    relay
//	SetPush{kind, endpoint, keys | token} ->  decide: disabled, endpoint
//	                                          refused, gateway unknown; or
//	                                          store it with the mailbox
//	                                      <-  PushSet{status} (in order, once
//	                                          durable)
//
// A connection registers the target of its own address only: another
// device's registration cannot be named, so it cannot be changed.

// setPush handles a SetPush beside the reader, in order with SetAccess
// frames (inOrder).
func (c *conn) setPush(m *wire.SetPush) bool {
	s := c.s
	status, target := s.decidePush(m)
	return c.inOrder("set_push", func() (*wire.Frame, error) {
		if status == wire.PushStatus_PUSH_STATUS_OK {
			if err := s.push.q.SetPush(s.ctx, []byte(c.addr), target); err != nil {
				return nil, err
			}
		}
		s.m.pushSet(m.Kind, status)
		return &wire.Frame{Body: &wire.Frame_PushSet{PushSet: &wire.PushSet{Status: status}}}, nil
	})
}

// decidePush answers whether the relay takes m's target (spec/push.md
// §2.2), and returns it for the store (nil: remove).
func (s *Server) decidePush(m *wire.SetPush) (wire.PushStatus, *store.PushTarget) {
	p := s.push
	if p == nil {
		return wire.PushStatus_PUSH_STATUS_DISABLED, nil
	}
	switch m.Kind {
	case wire.PushKind_PUSH_KIND_NONE:
		return wire.PushStatus_PUSH_STATUS_OK, nil
	case wire.PushKind_PUSH_KIND_WEB_PUSH:
		if p.cfg.WebPush == nil {
			return wire.PushStatus_PUSH_STATUS_DISABLED, nil
		}
		if p.cfg.CheckEndpoint(m.Endpoint) != nil {
			return wire.PushStatus_PUSH_STATUS_ENDPOINT_REFUSED, nil
		}
		return wire.PushStatus_PUSH_STATUS_OK, &store.PushTarget{
			Kind: store.PushWeb, Endpoint: m.Endpoint, P256dh: m.P256Dh, Auth: m.Auth,
		}
	case wire.PushKind_PUSH_KIND_GATEWAY:
		if p.cfg.Gateway == nil {
			return wire.PushStatus_PUSH_STATUS_DISABLED, nil
		}
		if !p.gateways[m.Endpoint] {
			return wire.PushStatus_PUSH_STATUS_GATEWAY_UNKNOWN, nil
		}
		return wire.PushStatus_PUSH_STATUS_OK, &store.PushTarget{
			Kind: store.PushGateway, Endpoint: m.Endpoint, Token: m.Token,
		}
	}
	return wire.PushStatus_PUSH_STATUS_DISABLED, nil // the codec admits no other kind
}
