// Package webpush sends Sealpost's wake-ups as Web Push messages
// (spec/push.md §4): the payload encryption of RFC 8291 with the aes128gcm
// content coding of RFC 8188, application server identification by VAPID
// (RFC 8292), and the push protocol of RFC 8030. It also decrypts such a
// message, for Go clients that receive through UnifiedPush and for the
// test push service in webpushtest.
//
// A wake-up carries no content: its plaintext is always WakeMarker.
package webpush

import (
	"crypto/ecdh"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/push/egress"
)

// WakeMarker is the plaintext of every wake-up the relay sends
// (spec/push.md §4.1).
const WakeMarker = "sealpost/v1/wake"

// Sizes of spec/push.md §4.2–§4.3.
const (
	// PublicKeySize is the length of an uncompressed P-256 point.
	PublicKeySize = 65
	// AuthSize is the length of a subscription's authentication secret.
	AuthSize = 16
	// MaxPlaintext is the longest plaintext Encrypt takes: one record of
	// MaxBody bytes less the header, the delimiter and the tag.
	MaxPlaintext = MaxBody - headerSize - 1 - tagSize
	// MaxBody is the longest message body: the 4096 bytes every push
	// service must accept (RFC 8030 §7.2).
	MaxBody = 4096
)

var (
	// ErrInvalidSubscription is the refusal of a subscription whose
	// endpoint, key or secret is malformed.
	ErrInvalidSubscription = errors.New("webpush: invalid subscription")
	// ErrDecrypt is the one refusal of Decrypt, whatever check failed.
	ErrDecrypt = errors.New("webpush: cannot decrypt")
)

// Subscription is a push subscription as a browser's PushSubscription or a
// UnifiedPush distributor gives it (spec/push.md §4.2).
type Subscription struct {
	// Endpoint is the push resource's https URL.
	Endpoint string
	// P256dh is the user agent's public key, an uncompressed P-256 point
	// (65 bytes).
	P256dh []byte
	// Auth is the authentication secret (16 bytes).
	Auth []byte
}

// Validate checks the subscription's shape: an https endpoint that
// egress.CheckURL accepts in form, a P-256 point, a 16-byte secret. Which
// addresses the endpoint may name is the registration's check
// (egress.CheckURL with the deployment's allowPrivate) and the sender's
// client's, on every connection.
func (s Subscription) Validate() error {
	if err := egress.CheckURL(s.Endpoint, true); err != nil {
		return fmt.Errorf("%w: endpoint: %w", ErrInvalidSubscription, err)
	}
	if len(s.P256dh) != PublicKeySize {
		return fmt.Errorf("%w: p256dh is %d bytes, want %d", ErrInvalidSubscription, len(s.P256dh), PublicKeySize)
	}
	if _, err := ecdh.P256().NewPublicKey(s.P256dh); err != nil {
		return fmt.Errorf("%w: p256dh is not a P-256 point", ErrInvalidSubscription)
	}
	if len(s.Auth) != AuthSize {
		return fmt.Errorf("%w: auth is %d bytes, want %d", ErrInvalidSubscription, len(s.Auth), AuthSize)
	}
	return nil
}
