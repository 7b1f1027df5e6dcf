package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// The gateway token layout (spec/push.md §5.2): a version byte, a
// platform byte, an environment byte, then the provider's device token.
const (
	tokenVersion = 0x01
	tokenHeader  = 3
	// MaxTokenSize is the largest gateway token in bytes; its base64url
	// form is at most 512 characters (spec/push.md §5.2).
	MaxTokenSize = 384
	// maxAPNsToken is the longest APNs device token in bytes (32 today;
	// Apple warns the length may change).
	maxAPNsToken = 100
)

// Platform is the push provider a gateway token is for.
type Platform uint8

// Platforms (spec/push.md §5.2).
const (
	PlatformAPNs Platform = 0x01
	PlatformFCM  Platform = 0x02
)

func (p Platform) String() string {
	switch p {
	case PlatformAPNs:
		return "apns"
	case PlatformFCM:
		return "fcm"
	}
	return fmt.Sprintf("platform(%d)", uint8(p))
}

// Environment is the APNs environment a device token belongs to; FCM has
// only production.
type Environment uint8

// Environments (spec/push.md §5.2).
const (
	EnvProduction Environment = 0x00
	EnvSandbox    Environment = 0x01
)

func (e Environment) String() string {
	switch e {
	case EnvProduction:
		return "production"
	case EnvSandbox:
		return "sandbox"
	}
	return fmt.Sprintf("environment(%d)", uint8(e))
}

// ErrBadToken is the error of ParseToken and Encode for a token that is
// not well formed (spec/push.md §5.2).
var ErrBadToken = errors.New("gateway: malformed gateway token")

// Token is what a gateway token names: a provider, an environment and
// the provider's device token. For APNs, DeviceToken is the device token
// in lower-case hex; for FCM, the registration token.
type Token struct {
	Platform    Platform
	DeviceToken string
	Environment Environment
}

// Encode returns t's gateway token (spec/push.md §5.2); a token that
// breaks a rule there is ErrBadToken.
func (t Token) Encode() ([]byte, error) {
	b := []byte{tokenVersion, byte(t.Platform), byte(t.Environment)}
	switch t.Platform {
	case PlatformAPNs:
		if t.Environment != EnvProduction && t.Environment != EnvSandbox {
			return nil, fmt.Errorf("%w: unknown APNs environment", ErrBadToken)
		}
		raw, err := hex.DecodeString(t.DeviceToken)
		if err != nil || len(raw) == 0 || len(raw) > maxAPNsToken || hex.EncodeToString(raw) != t.DeviceToken {
			return nil, fmt.Errorf("%w: APNs device token: want 1 to %d bytes in lower-case hex", ErrBadToken, maxAPNsToken)
		}
		b = append(b, raw...)
	case PlatformFCM:
		if t.Environment != EnvProduction {
			return nil, fmt.Errorf("%w: FCM has only the production environment", ErrBadToken)
		}
		if !fcmTokenOK(t.DeviceToken) {
			return nil, fmt.Errorf("%w: FCM registration token: want 1 to %d bytes of A-Z a-z 0-9 '-' '_' ':' '.'", ErrBadToken, MaxTokenSize-tokenHeader)
		}
		b = append(b, t.DeviceToken...)
	default:
		return nil, fmt.Errorf("%w: unknown platform", ErrBadToken)
	}
	return b, nil
}

// ParseToken parses a gateway token (spec/push.md §5.2). Every token it
// accepts encodes back to the same bytes.
func ParseToken(b []byte) (Token, error) {
	if len(b) <= tokenHeader || len(b) > MaxTokenSize {
		return Token{}, fmt.Errorf("%w: length", ErrBadToken)
	}
	if b[0] != tokenVersion {
		return Token{}, fmt.Errorf("%w: unknown version", ErrBadToken)
	}
	t := Token{Platform: Platform(b[1]), Environment: Environment(b[2])}
	body := b[tokenHeader:]
	switch t.Platform {
	case PlatformAPNs:
		if t.Environment != EnvProduction && t.Environment != EnvSandbox {
			return Token{}, fmt.Errorf("%w: unknown APNs environment", ErrBadToken)
		}
		if len(body) > maxAPNsToken {
			return Token{}, fmt.Errorf("%w: APNs device token longer than %d bytes", ErrBadToken, maxAPNsToken)
		}
		t.DeviceToken = hex.EncodeToString(body)
	case PlatformFCM:
		if t.Environment != EnvProduction {
			return Token{}, fmt.Errorf("%w: FCM has only the production environment", ErrBadToken)
		}
		if !fcmTokenOK(string(body)) {
			return Token{}, fmt.Errorf("%w: FCM registration token characters", ErrBadToken)
		}
		t.DeviceToken = string(body)
	default:
		return Token{}, fmt.Errorf("%w: unknown platform", ErrBadToken)
	}
	return t, nil
}

// fcmTokenOK reports whether s is a registration token the format takes:
// 1 to MaxTokenSize-3 bytes of A-Z a-z 0-9 - _ : . (spec/push.md §5.2).
func fcmTokenOK(s string) bool {
	if len(s) == 0 || len(s) > MaxTokenSize-tokenHeader {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != ':' && c != '.' {
			return false
		}
	}
	return true
}
