// Package stream implements the attachment stream of spec/attachments.md §2:
// a file padded with zeros to a Padmé size, split into 64 KiB chunks, each
// sealed with ChaCha20-Poly1305 under a key derived from the attachment key,
// with a nonce naming the chunk's index and whether it is the last one.
//
// The ciphertext has no header and no length field: its length follows from
// the file's length n, which the recipient learns from the attachment
// pointer (spec/attachments.md §3). A chunk moved to another index, a stream
// cut at a chunk boundary and a stream extended past its final chunk all
// fail to open, and every such failure, like any length or padding failure,
// is the one error ErrCorrupt: a caller learns nothing about which check
// refused.
//
//   - Writer encrypts a file of any length written to it (Close pads and
//     seals the final chunk).
//   - Reader reads the plaintext of a ciphertext held in an io.ReaderAt, at
//     any offset, opening only the chunks it needs.
//   - Decrypt decrypts a ciphertext read sequentially.
//   - ChunkOpener opens one sealed chunk at a time, so a download can be
//     checked chunk by chunk as it arrives (spec/attachments.md §6.3).
//
// The package is pure: no I/O beyond the io interfaces its callers pass, no
// global state. Derived keys are cleared after use, best effort under a
// garbage collector (SECURITY.md); the ChaCha20-Poly1305 instance of
// golang.org/x/crypto keeps its own copy of the stream key, which this
// package cannot clear.
package stream

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"golang.org/x/crypto/chacha20poly1305"
)

// StreamLabel is the HKDF info of the stream key (spec/attachments.md §2.1).
const StreamLabel = "sealpost/v1/attachment/stream"

// Sizes, spec/attachments.md §2.1 and §3.
const (
	// KeySize is the size of an attachment key K.
	KeySize = 32
	// ChunkSize is the plaintext size of every chunk but the final one.
	ChunkSize = 65536
	// TagSize is the size of a chunk's Poly1305 tag.
	TagSize = chacha20poly1305.Overhead
	// SealedChunkSize is the size of a sealed chunk that is not the final one.
	SealedChunkSize = ChunkSize + TagSize
	// MinPadded is the smallest padded size.
	MinPadded = 4096
	// DigestSize is the size of an attachment's digest, SHA-256 of the
	// ciphertext (§2.6).
	DigestSize = 32
	// MaxFileSize is the largest file length n an attachment pointer may
	// give (§3).
	MaxFileSize = 1 << 40
	// NonceSize is the size of a chunk's nonce (§2.4).
	NonceSize = chacha20poly1305.NonceSize
)

var (
	// ErrCorrupt reports a ciphertext that is not the stream of a file of
	// the given length under the given key: a wrong length, a chunk that
	// does not open with the nonce of its index and finality, or padding
	// that is not zero (spec/attachments.md §2.5). It never says which.
	ErrCorrupt = errors.New("stream: corrupt attachment")
	// ErrTooLarge reports a file length above MaxFileSize or below zero.
	ErrTooLarge = errors.New("stream: file length out of range")
)

// PaddedSize returns pad(n), the padded length of a file of n bytes
// (spec/attachments.md §2.3): padme(max(n, MinPadded)). It returns -1 if n
// is negative or above MaxFileSize.
func PaddedSize(n int64) int64 {
	if n < 0 || n > MaxFileSize {
		return -1
	}
	l := max(uint64(n), MinPadded)
	e := bits.Len64(l) - 1 // floor(log2 L)
	s := bits.Len64(uint64(e))
	mask := uint64(1)<<(e-s) - 1
	return int64((l + mask) &^ mask)
}

// ChunkCount returns N, the number of chunks of a file of n bytes
// (spec/attachments.md §2.4), or -1 if n is out of range.
func ChunkCount(n int64) int64 {
	p := PaddedSize(n)
	if p < 0 {
		return -1
	}
	return (p + ChunkSize - 1) / ChunkSize
}

// CiphertextSize returns size(C), the length of the ciphertext of a file of
// n bytes (spec/attachments.md §2.4), or -1 if n is out of range.
func CiphertextSize(n int64) int64 {
	p := PaddedSize(n)
	if p < 0 {
		return -1
	}
	return p + TagSize*ChunkCount(n)
}

// layout is the shape of the stream of a file of n bytes.
type layout struct {
	n      int64 // file length
	p      int64 // padded length
	chunks int64 // N
}

func newLayout(n int64) (layout, error) {
	if n < 0 || n > MaxFileSize {
		return layout{}, ErrTooLarge
	}
	return layout{n: n, p: PaddedSize(n), chunks: ChunkCount(n)}, nil
}

// chunkLen returns the plaintext length of chunk i < l.chunks.
func (l layout) chunkLen(i int64) int {
	if i == l.chunks-1 {
		return int(l.p - i*ChunkSize)
	}
	return ChunkSize
}

// fileBytes returns how many of chunk i's plaintext bytes are the file's;
// the rest are padding.
func (l layout) fileBytes(i int64) int {
	return int(min(max(l.n-i*ChunkSize, 0), int64(l.chunkLen(i))))
}

// nonce returns nonce(i, final) = u88(i) || final (spec/attachments.md
// §2.4). Chunk indexes are below 2^25, so the top three bytes are zero.
func nonce(i int64, final bool) [NonceSize]byte {
	var b [NonceSize]byte
	binary.BigEndian.PutUint64(b[3:11], uint64(i))
	if final {
		b[11] = 0x01
	}
	return b
}

// newAEAD derives the stream key SK = HKDF-SHA256(salt = empty, IKM = K,
// info = StreamLabel, L = 32) (spec/attachments.md §2.2) and returns
// ChaCha20-Poly1305 keyed with it.
func newAEAD(key *[KeySize]byte) cipher.AEAD {
	sk := streamKey(key)
	defer clear(sk[:])
	a, err := chacha20poly1305.New(sk[:])
	if err != nil {
		panic("stream: " + err.Error()) // only for a key that is not 32 bytes
	}
	return a
}

func streamKey(key *[KeySize]byte) [KeySize]byte {
	b := prim.HKDF(nil, key[:], StreamLabel, KeySize)
	var sk [KeySize]byte
	copy(sk[:], b)
	prim.Zero(b)
	return sk
}

// allZero reports whether b holds only zero bytes, looking at every byte.
func allZero(b []byte) bool {
	var acc uint64
	for len(b) >= 8 {
		acc |= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		acc |= uint64(c)
	}
	return acc == 0
}
