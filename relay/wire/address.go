package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/crypto/keys"
)

// Device address layout, spec/relay.md §4:
//
//	address = u8 len(handle) || handle || u32 big-endian device id
//
// with handle as in spec/keys.md §3.1 (3 to 32 bytes of a-z 0-9 . _ -) and a
// nonzero device id (spec/keys.md §3.2).
const (
	deviceIDSize   = 4
	MinAddressSize = 1 + keys.MinHandleLen + deviceIDSize // 8
	MaxAddressSize = 1 + keys.MaxHandleLen + deviceIDSize // 37
)

// ErrInvalidAddress reports bytes that are not a device address of
// spec/relay.md §4.
var ErrInvalidAddress = errors.New("wire: invalid device address")

// FormatAddress returns the device address of (handle, device)
// (spec/relay.md §4), or nil if handle is not a valid handle or device is 0.
// The relay computes it from a verified access token, so nil means a bug.
func FormatAddress(handle string, device uint32) []byte {
	if keys.CheckHandle(handle) != nil || device == 0 {
		return nil
	}
	return AppendAddress(make([]byte, 0, 1+len(handle)+deviceIDSize), handle, device)
}

// AppendAddress appends the address of (handle, device) to dst without
// checking them; use FormatAddress unless both are known to be valid.
func AppendAddress(dst []byte, handle string, device uint32) []byte {
	dst = append(dst, byte(len(handle)))
	dst = append(dst, handle...)
	return binary.BigEndian.AppendUint32(dst, device)
}

// ParseAddress splits a device address (spec/relay.md §4) into its handle
// and device id. It refuses anything else with ErrInvalidAddress.
func ParseAddress(b []byte) (handle string, device uint32, err error) {
	if err := CheckAddress(b); err != nil {
		return "", 0, err
	}
	n := int(b[0])
	return string(b[1 : 1+n]), binary.BigEndian.Uint32(b[1+n:]), nil
}

// CheckAddress reports whether b is a well-formed device address
// (spec/relay.md §4), without allocating when it is.
func CheckAddress(b []byte) error {
	if len(b) < MinAddressSize || len(b) > MaxAddressSize {
		return fmt.Errorf("%w: length %d not in [%d, %d]", ErrInvalidAddress, len(b), MinAddressSize, MaxAddressSize)
	}
	n := int(b[0])
	if len(b) != 1+n+deviceIDSize {
		return fmt.Errorf("%w: handle length %d does not match address length %d", ErrInvalidAddress, n, len(b))
	}
	// The conversion does not escape CheckHandle, so it is made on the
	// stack (handles are at most 32 bytes).
	if err := keys.CheckHandle(string(b[1 : 1+n])); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	if binary.BigEndian.Uint32(b[1+n:]) == 0 {
		return fmt.Errorf("%w: device id 0", ErrInvalidAddress)
	}
	return nil
}
