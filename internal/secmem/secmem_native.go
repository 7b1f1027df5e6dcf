//go:build !js

package secmem

import "github.com/awnumar/memguard"

// LockedBuffer is memguard's LockedBuffer: a frozen buffer in locked,
// guarded memory, wiped and freed by Destroy.
type LockedBuffer = memguard.LockedBuffer

// Enclave is memguard's Enclave: data sealed in memory under a key held in
// locked memory; Open returns a LockedBuffer holding a copy.
type Enclave = memguard.Enclave

// NewBufferFromBytes moves src into a new frozen LockedBuffer and wipes
// src. It panics when locked memory cannot be allocated (memguard's
// behaviour; callers recover).
func NewBufferFromBytes(src []byte) *LockedBuffer { return memguard.NewBufferFromBytes(src) }

// NewEnclave seals src into an Enclave and wipes src. It returns nil if src
// is empty.
func NewEnclave(src []byte) *Enclave { return memguard.NewEnclave(src) }

// WipeBytes overwrites b with zeros.
func WipeBytes(b []byte) { memguard.WipeBytes(b) }
