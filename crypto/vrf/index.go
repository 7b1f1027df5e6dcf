package vrf

import (
	"github.com/sealpost/sealpost/crypto/keys"
)

// LabelHandleInput is the label of the VRF input of a handle
// (spec/transparency-v2.md §3.3).
const LabelHandleInput = "sealpost/v2/kt-vrf-handle"

// IndexSize is the size of a map index (spec/transparency-v2.md §3.4).
const IndexSize = 32

// HandleInput returns the VRF input alpha of a handle
// (spec/transparency-v2.md §3.3):
//
//	"sealpost/v2/kt-vrf-handle" || 0x00 || u8(len(handle)) || handle
//
// A handle that spec/keys.md §3.1 refuses is keys.ErrInvalidHandle.
func HandleInput(handle string) ([]byte, error) {
	if err := keys.CheckHandle(handle); err != nil {
		return nil, err
	}
	a := make([]byte, 0, len(LabelHandleInput)+2+len(handle))
	a = append(a, LabelHandleInput...)
	a = append(a, 0, byte(len(handle)))
	return append(a, handle...), nil
}

// Index returns the map index of a VRF output: its first 32 bytes
// (spec/transparency-v2.md §3.4).
func Index(beta *[OutputSize]byte) [IndexSize]byte {
	var idx [IndexSize]byte
	copy(idx[:], beta[:IndexSize])
	return idx
}
