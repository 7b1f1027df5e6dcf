package stream

import (
	"errors"
	"io"
	"sync"
)

var (
	errNegativeOffset = errors.New("stream: negative offset")
	errWhence         = errors.New("stream: invalid whence")
)

// Reader reads the file of n bytes held encrypted in an io.ReaderAt, at any
// offset: it is an io.ReaderAt, io.Reader and io.Seeker over the plaintext
// [0, n), without its padding. It opens only the chunks a read touches
// (spec/attachments.md §2.4), one at a time, and keeps the last one opened.
//
// NewReader checks the ciphertext's length and its final chunk. Every chunk
// a read touches is opened and its padding checked before any of its bytes
// are handed out; the chunks that hold only padding are checked when a read
// reaches the end of the file, before it returns io.EOF. A read that meets a
// chunk that does not open returns ErrCorrupt, with the bytes of the chunks
// before it that did. A reader that reads to io.EOF has therefore checked the
// whole ciphertext, as Decrypt does; the digest (§2.6) is the caller's to
// check.
//
// ReadAt may be called concurrently (calls are serialized); Read and Seek
// share one offset and are not safe for concurrent use.
type Reader struct {
	o   *ChunkOpener
	src io.ReaderAt

	mu     sync.Mutex // guards buf, nonce, cur and tailOK
	buf    []byte     // the file bytes of chunk cur; cap o.bufSize()
	nonce  [NonceSize]byte
	cur    int64 // index of the chunk in buf, or -1
	tailOK bool  // the chunks of padding alone have opened

	off int64 // Read and Seek's offset
}

// NewReader returns a Reader of the file of n bytes whose stream under the
// attachment key is src. It returns ErrTooLarge if n is negative or above
// MaxFileSize, ErrCorrupt if src is not CiphertextSize(n) bytes long or its
// final chunk does not open, and an error of src's if reading it fails.
func NewReader(key *[KeySize]byte, src io.ReaderAt, n int64) (*Reader, error) {
	o, err := NewChunkOpener(key, n)
	if err != nil {
		return nil, err
	}
	r := &Reader{o: o, src: src, buf: make([]byte, 0, o.bufSize()), cur: -1}
	// The final chunk ends exactly at size(C), and nothing follows it.
	if err := r.load(o.Chunks() - 1); err != nil {
		return nil, err
	}
	var extra [1]byte
	k, err := src.ReadAt(extra[:], o.Size())
	if k > 0 {
		return nil, ErrCorrupt
	}
	if err != io.EOF {
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
	return r, nil
}

// Size returns the file's length n.
func (r *Reader) Size() int64 { return r.o.l.n }

// ReadAt reads len(p) bytes of the file from offset off (io.ReaderAt): fewer
// only at the end of the file, with io.EOF, or on an error.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.o.l.n
	done := 0
	for done < len(p) && off < n {
		i := off / ChunkSize
		if err := r.load(i); err != nil {
			return done, err
		}
		k := copy(p[done:], r.buf[off-i*ChunkSize:])
		done += k
		off += int64(k)
	}
	if done < len(p) {
		if err := r.checkTail(); err != nil {
			return done, err
		}
		return done, io.EOF
	}
	return done, nil
}

// Read reads the next bytes of the file (io.Reader).
func (r *Reader) Read(p []byte) (int, error) {
	k, err := r.ReadAt(p, r.off)
	r.off += int64(k)
	return k, err
}

// Seek sets the offset of the next Read (io.Seeker). An offset past the end
// is allowed; reads there return io.EOF.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.o.l.n
	default:
		return 0, errWhence
	}
	if offset < 0 {
		return 0, errNegativeOffset
	}
	r.off = offset
	return offset, nil
}

// load opens chunk i into r.buf unless it is there already. r.mu is held.
func (r *Reader) load(i int64) error {
	if r.cur == i {
		return nil
	}
	r.cur = -1
	sl := r.o.SealedLen(i)
	sealed := r.buf[:sl]
	k, err := r.src.ReadAt(sealed, i*SealedChunkSize)
	if k < sl {
		clear(r.buf[:sl])
		if err == nil || err == io.EOF {
			return ErrCorrupt
		}
		return err
	}
	pt, err := r.o.open(sealed[:0], sealed, i, &r.nonce)
	if err != nil {
		clear(r.buf[:sl])
		return err
	}
	r.buf, r.cur = pt, i
	return nil
}

// checkTail opens, once, the chunks that hold padding alone, but the final
// one, which NewReader opened. r.mu is held.
func (r *Reader) checkTail() error {
	if r.tailOK {
		return nil
	}
	l := r.o.l
	for i := (l.n + ChunkSize - 1) / ChunkSize; i < l.chunks-1; i++ {
		if err := r.load(i); err != nil {
			return err
		}
	}
	r.tailOK = true
	return nil
}

// Decrypt reads the stream of a file of n bytes under the attachment key
// from src and writes the file to dst (spec/attachments.md §2.5). It returns
// ErrTooLarge if n is out of range and ErrCorrupt if src holds a byte too
// many or too few, a chunk does not open or padding is not zero.
//
// Decrypt writes each chunk's bytes once the chunk has opened, so on an
// error dst may have been given the file's first chunks. A client decrypts a
// ciphertext whose digest it has checked (§6.3).
func Decrypt(dst io.Writer, key *[KeySize]byte, src io.Reader, n int64) error {
	o, err := NewChunkOpener(key, n)
	if err != nil {
		return err
	}
	buf := make([]byte, o.bufSize())
	defer clear(buf)
	nc := new([NonceSize]byte)
	for i := range o.Chunks() {
		sealed := buf[:o.SealedLen(i)]
		if _, err := io.ReadFull(src, sealed); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return ErrCorrupt
			}
			return err
		}
		pt, err := o.open(sealed[:0], sealed, i, nc)
		if err != nil {
			return err
		}
		if len(pt) > 0 {
			if _, err := dst.Write(pt); err != nil {
				return err
			}
		}
	}
	var extra [1]byte
	k, err := io.ReadFull(src, extra[:])
	if k > 0 {
		return ErrCorrupt
	}
	if err != io.EOF {
		return err
	}
	return nil
}
