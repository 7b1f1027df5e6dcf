package keys

import (
	"errors"
	"fmt"
)

// Handle limits, spec/keys.md §3.1.
const (
	MinHandleLen = 3
	MaxHandleLen = 32
)

// ErrInvalidHandle reports a handle outside spec/keys.md §3.1.
var ErrInvalidHandle = errors.New("keys: invalid handle")

// CheckHandle reports whether h is a valid handle: 3 to 32 bytes, each one of
// a-z, 0-9, '.', '_' or '-' (spec/keys.md §3.1). Handles are compared
// byte for byte; there is no case folding or normalisation.
func CheckHandle(h string) error {
	if len(h) < MinHandleLen || len(h) > MaxHandleLen {
		return fmt.Errorf("%w: length %d not in [%d, %d]", ErrInvalidHandle, len(h), MinHandleLen, MaxHandleLen)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: byte %d not allowed", ErrInvalidHandle, i)
		}
	}
	return nil
}

// DeviceID names one device of an account (spec/keys.md §3.2). It is chosen
// by the account when it certifies the device; 0 is never a valid id.
type DeviceID uint32

// ErrInvalidDeviceID reports a device id of zero.
var ErrInvalidDeviceID = errors.New("keys: invalid device id 0")
