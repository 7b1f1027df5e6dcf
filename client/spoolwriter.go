package client

import (
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// spoolWriter writes a stream's ciphertext to the spool file and hashes it
// on two goroutines of their own, so that encrypting, writing and hashing
// a large file overlap (spec/attachments.md §6.1 step 1). Writes are
// gathered into blocks of spoolBlock bytes, each handed to both; a block is
// reused once both are done with it.
type spoolWriter struct {
	file io.Writer
	h    hash.Hash

	cur      *spoolBlockBuf
	free     chan *spoolBlockBuf
	toF, toH chan *spoolBlockBuf
	wg       sync.WaitGroup
	n        int64 // bytes written

	mu     sync.Mutex
	err    error // the file's first write error; guarded by mu
	closed bool
}

// spoolBlockBuf is one block and how many consumers still hold it.
type spoolBlockBuf struct {
	b    []byte
	left atomic.Int32
}

const (
	spoolBlock  = 1 << 20
	spoolBlocks = 4
)

func newSpoolWriter(file io.Writer, h hash.Hash) *spoolWriter {
	w := &spoolWriter{
		file: file, h: h,
		free: make(chan *spoolBlockBuf, spoolBlocks),
		toF:  make(chan *spoolBlockBuf, spoolBlocks),
		toH:  make(chan *spoolBlockBuf, spoolBlocks),
	}
	for range spoolBlocks {
		w.free <- &spoolBlockBuf{b: make([]byte, 0, spoolBlock)}
	}
	w.cur = <-w.free
	w.wg.Add(2)
	go w.consume(w.toF, func(b []byte) {
		if w.failed() == nil {
			if _, err := w.file.Write(b); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
		}
	})
	go w.consume(w.toH, func(b []byte) { w.h.Write(b) })
	return w
}

// consume runs f on each block; the last of the two consumers frees it.
func (w *spoolWriter) consume(ch chan *spoolBlockBuf, f func([]byte)) {
	defer w.wg.Done()
	for blk := range ch {
		f(blk.b)
		if blk.left.Add(-1) == 0 {
			blk.b = blk.b[:0]
			w.free <- blk
		}
	}
}

func (w *spoolWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(w.cur.b[len(w.cur.b):cap(w.cur.b)], p)
		w.cur.b = w.cur.b[:len(w.cur.b)+k]
		p = p[k:]
		if len(w.cur.b) == cap(w.cur.b) {
			w.flush()
		}
	}
	w.n += int64(n)
	return n, nil
}

// flush hands the current block to both consumers and takes a free one.
func (w *spoolWriter) flush() {
	if len(w.cur.b) == 0 {
		return
	}
	w.cur.left.Store(2)
	w.toF <- w.cur
	w.toH <- w.cur
	w.cur = <-w.free
}

// Close hands over the last block, waits for both consumers and returns
// the file's first write error. Closing again returns it again.
func (w *spoolWriter) Close() error {
	if w.closed {
		return w.failed()
	}
	w.closed = true
	w.flush()
	close(w.toF)
	close(w.toH)
	w.wg.Wait()
	return w.failed()
}
