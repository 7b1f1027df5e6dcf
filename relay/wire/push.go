package wire

// Push registration (spec/push.md §2). These are frame rules: whether
// the relay may reach an endpoint, or knows a gateway, is its own
// decision, answered in PushSet.status, not a malformed frame.
const (
	// PushP256dhSize is the size of SetPush.p256dh: an uncompressed
	// P-256 point (RFC 8291 §3.1).
	PushP256dhSize = 65
	// PushAuthSize is the size of SetPush.auth (RFC 8291 §3.2).
	PushAuthSize = 16
	// MaxPushEndpoint bounds SetPush.endpoint, in bytes.
	MaxPushEndpoint = 2048
	// MaxPushToken bounds SetPush.token, in bytes.
	MaxPushToken = 512
)

// checkSetPush: spec/relay.md §3.3, spec/push.md §2.
func checkSetPush(p *SetPush) error {
	if err := checkPresent(p, "SetPush"); err != nil {
		return err
	}
	switch p.Kind {
	case PushKind_PUSH_KIND_NONE:
		if p.Endpoint != "" || len(p.P256Dh) != 0 || len(p.Auth) != 0 || len(p.Token) != 0 {
			return malformed("set_push: kind none with a target field")
		}
	case PushKind_PUSH_KIND_WEB_PUSH:
		if n := len(p.Endpoint); n < 1 || n > MaxPushEndpoint {
			return malformed("set_push: endpoint of %d bytes not in [1, %d]", n, MaxPushEndpoint)
		}
		if len(p.P256Dh) != PushP256dhSize || p.P256Dh[0] != 4 {
			return malformed("set_push: p256dh is not a %d-byte uncompressed point", PushP256dhSize)
		}
		if len(p.Auth) != PushAuthSize {
			return malformed("set_push: auth of %d bytes, want %d", len(p.Auth), PushAuthSize)
		}
		if len(p.Token) != 0 {
			return malformed("set_push: web push with a token")
		}
	case PushKind_PUSH_KIND_GATEWAY:
		if n := len(p.Endpoint); n < 1 || n > MaxPushEndpoint {
			return malformed("set_push: endpoint of %d bytes not in [1, %d]", n, MaxPushEndpoint)
		}
		if n := len(p.Token); n < 1 || n > MaxPushToken {
			return malformed("set_push: token of %d bytes not in [1, %d]", n, MaxPushToken)
		}
		if len(p.P256Dh) != 0 || len(p.Auth) != 0 {
			return malformed("set_push: gateway with web push keys")
		}
	default:
		return malformed("set_push: unknown kind %d", int32(p.Kind))
	}
	return nil
}

// checkPushSet: spec/relay.md §3.3.
func checkPushSet(p *PushSet) error {
	if err := checkPresent(p, "PushSet"); err != nil {
		return err
	}
	switch p.Status {
	case PushStatus_PUSH_STATUS_OK, PushStatus_PUSH_STATUS_DISABLED,
		PushStatus_PUSH_STATUS_ENDPOINT_REFUSED, PushStatus_PUSH_STATUS_GATEWAY_UNKNOWN:
		return nil
	}
	return malformed("push_set: unknown status %d", int32(p.Status))
}
