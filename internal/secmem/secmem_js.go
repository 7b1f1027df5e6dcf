//go:build js

package secmem

import "sync"

// LockedBuffer holds a secret in an ordinary byte slice (WebAssembly memory
// cannot be locked or protected); Destroy overwrites it with zeros.
type LockedBuffer struct {
	mu   sync.RWMutex
	data []byte // nil once destroyed
}

// NewBufferFromBytes moves src into a new LockedBuffer and wipes src.
func NewBufferFromBytes(src []byte) *LockedBuffer {
	b := &LockedBuffer{data: make([]byte, len(src))}
	copy(b.data, src)
	WipeBytes(src)
	return b
}

// Bytes returns the buffer's contents (empty once destroyed). The slice
// refers to the buffer: do not keep it past Destroy.
func (b *LockedBuffer) Bytes() []byte {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.data
}

// Size returns the buffer's length, zero once destroyed.
func (b *LockedBuffer) Size() int { return len(b.Bytes()) }

// Freeze does nothing: WebAssembly memory cannot be made read-only.
func (b *LockedBuffer) Freeze() {}

// Destroy overwrites the buffer with zeros and drops it; later calls of
// Bytes return an empty slice. Destroy is idempotent.
func (b *LockedBuffer) Destroy() {
	b.mu.Lock()
	defer b.mu.Unlock()
	WipeBytes(b.data)
	b.data = nil
}

// Enclave holds a copy of a secret; Open returns a LockedBuffer holding
// another copy.
type Enclave struct {
	data []byte
}

// NewEnclave moves src into an Enclave and wipes src. It returns nil if src
// is empty, as memguard does.
func NewEnclave(src []byte) *Enclave {
	if len(src) == 0 {
		return nil
	}
	e := &Enclave{data: make([]byte, len(src))}
	copy(e.data, src)
	WipeBytes(src)
	return e
}

// Open returns a LockedBuffer holding a copy of the enclave's contents,
// which the caller destroys.
func (e *Enclave) Open() (*LockedBuffer, error) {
	b := &LockedBuffer{data: make([]byte, len(e.data))}
	copy(b.data, e.data)
	return b, nil
}

// WipeBytes overwrites b with zeros. The compiler does not remove the
// stores of clear (the slice escapes to the caller).
func WipeBytes(b []byte) { clear(b) }
