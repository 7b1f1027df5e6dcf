package stream

import (
	"crypto/cipher"
	"errors"
	"io"
)

// errClosed is returned by Write after Close.
var errClosed = errors.New("stream: write after Close")

// Writer encrypts a file into the stream of spec/attachments.md §2. Write
// takes the file's bytes; Close pads them (§2.3) and seals the final chunk
// (§2.4). Until Close the last full chunk is held back, since only the file's
// length decides which chunk is final. A Writer seals in one buffer of
// SealedChunkSize bytes that it reuses for every chunk.
//
// The ciphertext is written to dst in whole sealed chunks. If a write to dst
// fails, or the file grows past MaxFileSize (ErrTooLarge), the Writer keeps
// that error and returns it from every later Write and Close.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	aead  cipher.AEAD
	dst   io.Writer
	buf   []byte          // pending plaintext, then the sealed chunk; cap SealedChunkSize
	nonce [NonceSize]byte // a field, not a local: a slice of a local escapes through cipher.AEAD
	index int64           // index of the next chunk to seal
	n     int64           // file bytes written so far
	err   error           // sticky: a failed write, ErrTooLarge, or errClosed after Close
}

// NewWriter returns a Writer that writes the stream of a file under the
// attachment key K to dst. The caller draws K fresh for every file
// (spec/attachments.md §2.2) and must Close the Writer.
func NewWriter(key *[KeySize]byte, dst io.Writer) *Writer {
	return &Writer{
		aead: newAEAD(key),
		dst:  dst,
		buf:  make([]byte, 0, SealedChunkSize),
	}
}

// Write encrypts p as the next bytes of the file. It returns ErrTooLarge,
// having taken none of p, if the file would grow past MaxFileSize.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > MaxFileSize-w.n {
		w.fail(ErrTooLarge)
		return 0, ErrTooLarge
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			// More follows, so the held chunk is not the final one.
			if err := w.sealBuf(false); err != nil {
				return written, err
			}
		}
		if len(w.buf) == 0 && len(p) > ChunkSize {
			// A whole chunk with more after it: seal it from p.
			if err := w.seal(p[:ChunkSize], false); err != nil {
				return written, err
			}
			p, written, w.n = p[ChunkSize:], written+ChunkSize, w.n+ChunkSize
			continue
		}
		k := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p, written, w.n = p[k:], written+k, w.n+int64(k)
	}
	return written, nil
}

// Close pads the file with zero bytes to pad(n) and writes the remaining
// chunks, the last one sealed as final. Closing again returns what the
// first Close returned.
func (w *Writer) Close() error {
	if w.err != nil {
		if w.err == errClosed {
			return nil
		}
		return w.err
	}
	pad := PaddedSize(w.n) - w.n
	for {
		k := int(min(int64(ChunkSize-len(w.buf)), pad))
		w.buf = w.buf[:len(w.buf)+k]
		clear(w.buf[len(w.buf)-k:])
		pad -= int64(k)
		if pad == 0 {
			break
		}
		if err := w.sealBuf(false); err != nil {
			return err
		}
	}
	if err := w.sealBuf(true); err != nil {
		return err
	}
	w.fail(errClosed)
	return nil
}

// sealBuf seals the pending plaintext in place as chunk w.index and writes it.
func (w *Writer) sealBuf(final bool) error {
	return w.seal(w.buf, final)
}

// seal seals pt (w.buf itself, or a chunk of the caller's bytes while
// w.buf is empty) as chunk w.index into w.buf and writes it to dst.
func (w *Writer) seal(pt []byte, final bool) error {
	w.nonce = nonce(w.index, final)
	c := w.aead.Seal(w.buf[:0], w.nonce[:], pt, nil)
	_, err := w.dst.Write(c)
	w.buf = w.buf[:0]
	w.index++
	if err != nil {
		w.fail(err)
		return err
	}
	return nil
}

// fail makes err sticky and drops the buffer and the cipher.
func (w *Writer) fail(err error) {
	w.err = err
	clear(w.buf[:cap(w.buf)])
	w.buf = w.buf[:0]
	w.aead = nil
}
