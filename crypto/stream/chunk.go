package stream

import "crypto/cipher"

// ChunkOpener opens the sealed chunks of one attachment one at a time, in
// any order: a client checks a download with it chunk by chunk as the bytes
// arrive (spec/attachments.md §6.3), and Reader and Decrypt are built on it.
// It knows the file's length, so it knows each chunk's length, finality and
// padding; a caller names only the index.
//
// A ChunkOpener is safe for concurrent use.
type ChunkOpener struct {
	aead cipher.AEAD
	l    layout
}

// NewChunkOpener returns an opener for the stream of a file of n bytes under
// the attachment key. It returns ErrTooLarge if n is negative or above
// MaxFileSize.
func NewChunkOpener(key *[KeySize]byte, n int64) (*ChunkOpener, error) {
	l, err := newLayout(n)
	if err != nil {
		return nil, err
	}
	return &ChunkOpener{aead: newAEAD(key), l: l}, nil
}

// Chunks returns N, the number of chunks.
func (o *ChunkOpener) Chunks() int64 { return o.l.chunks }

// Size returns size(C), the length of the whole ciphertext.
func (o *ChunkOpener) Size() int64 { return o.l.p + TagSize*o.l.chunks }

// SealedLen returns the length of sealed chunk index, which starts at byte
// index·SealedChunkSize of the ciphertext, or -1 if there is no such chunk.
func (o *ChunkOpener) SealedLen(index int64) int {
	if index < 0 || index >= o.l.chunks {
		return -1
	}
	return o.l.chunkLen(index) + TagSize
}

// bufSize is the size of the largest sealed chunk, chunk 0:
// SealedChunkSize, or less for a file of one chunk.
func (o *ChunkOpener) bufSize() int { return o.SealedLen(0) }

// Open opens sealed chunk index (spec/attachments.md §2.5): sealed must be
// exactly SealedLen(index) bytes, open with nonce(index, index == N-1), and
// its padding bytes must be zero. It appends the chunk's bytes of the file,
// without padding, to dst and returns the result; a chunk of padding alone
// appends nothing. dst may be sealed[:0] to open in place, and must not
// overlap sealed otherwise (as cipher.AEAD.Open). On any failure it
// returns nil and ErrCorrupt; what it wrote into dst's spare capacity (or,
// in place, into sealed) is then unspecified.
func (o *ChunkOpener) Open(dst, sealed []byte, index int64) ([]byte, error) {
	var nc [NonceSize]byte
	return o.open(dst, sealed, index, &nc)
}

// open is Open with the nonce built in nc, which the caller owns: a nonce
// on Open's stack would escape to the heap through cipher.AEAD, one
// allocation per chunk.
func (o *ChunkOpener) open(dst, sealed []byte, index int64, nc *[NonceSize]byte) ([]byte, error) {
	if len(sealed) != o.SealedLen(index) {
		return nil, ErrCorrupt
	}
	*nc = nonce(index, index == o.l.chunks-1)
	out, err := o.aead.Open(dst, nc[:], sealed, nil)
	if err != nil {
		return nil, ErrCorrupt
	}
	pt := out[len(dst):]
	keep := o.l.fileBytes(index)
	if !allZero(pt[keep:]) {
		clear(pt)
		return nil, ErrCorrupt
	}
	return out[:len(dst)+keep], nil
}
