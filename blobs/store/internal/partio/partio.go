// Package partio reads one upload part for an engine: exactly its declared
// size, then the end of the source, and not a byte past a cancelled
// context. Both engines stream the part through a Reader, so a part that is
// short, long, broken or cancelled fails before its last byte is handed on
// and nothing of it is kept (store.Engine.PutPart).
package partio

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/blobs/store"
)

// maxEmptyReads bounds reads that return nothing and no error.
const maxEmptyReads = 100

// Reader yields exactly size bytes of its source and then io.EOF, or an
// error: store.ErrShortPart when the source ends early or goes on past
// size, the source's own error, or ctx's error once ctx is done. It checks
// that the source ends before it returns the last byte, so a consumer that
// stops at size bytes (an HTTP request body of known length) has still
// seen the failure. The first error sticks: every later Read returns it,
// and Err reports it. A Reader is for one goroutine.
type Reader struct {
	ctx  context.Context
	src  io.Reader
	left int64
	end  bool // the source's end has been seen after size bytes
	err  error
}

// NewReader returns a Reader of size bytes of src.
func NewReader(ctx context.Context, src io.Reader, size int64) *Reader {
	return &Reader{ctx: ctx, src: src, left: size}
}

// Err returns the error the Reader failed with, or nil.
func (r *Reader) Err() error { return r.err }

// Complete reports whether the Reader has yielded all size bytes and seen
// the source end, without error.
func (r *Reader) Complete() bool { return r.err == nil && r.left == 0 && r.end }

func (r *Reader) fail(err error) (int, error) {
	r.err = err
	return 0, err
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if err := r.ctx.Err(); err != nil {
		return r.fail(err)
	}
	if r.left == 0 {
		if !r.end {
			if err := r.probeEnd(); err != nil {
				return r.fail(err)
			}
		}
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.src.Read(p)
	for empty := 1; n == 0 && err == nil; empty++ {
		if empty == maxEmptyReads {
			return r.fail(io.ErrNoProgress)
		}
		n, err = r.src.Read(p)
	}
	if n < 0 || n > len(p) {
		return r.fail(errors.New("partio: the source returned an invalid count"))
	}
	r.left -= int64(n)
	switch {
	case err != nil && err != io.EOF:
		return r.fail(err)
	case r.left > 0 && err == io.EOF:
		return r.fail(fmt.Errorf("%w: the body ended %d bytes early", store.ErrShortPart, r.left))
	case r.left > 0:
		return n, nil
	}
	// These are the last bytes: check the end before handing them on.
	if err != io.EOF {
		if err := r.probeEnd(); err != nil {
			return r.fail(err)
		}
	}
	r.end = true
	if err := r.ctx.Err(); err != nil {
		return r.fail(err)
	}
	return n, io.EOF
}

// probeEnd reads past size: it must find the source's end.
func (r *Reader) probeEnd() error {
	var one [1]byte
	for range maxEmptyReads {
		n, err := r.src.Read(one[:])
		switch {
		case n > 0:
			return fmt.Errorf("%w: the body goes on past its size", store.ErrShortPart)
		case err == io.EOF:
			r.end = true
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}
