package client

import (
	"hash"
	"io"
	"sync"
)

// spoolWriter writes a stream's ciphertext to the spool file and hashes it
// on two goroutines of their own, so that encrypting, writing and hashing
// a large file overlap (spec/attachments.md §6.1 step 1). Writes are
// gathered into blocks of spoolBlock bytes, each handed to both.
type spoolWriter struct {
	file io.Writer
	h    hash.Hash

	cur    []byte
	free   chan []byte
	toF    chan []byte
	toH    chan []byte
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error // the file's first write error
	n      int64
	count  map[*byte]int
	closed bool
}

const (
	spoolBlock  = 1 << 20
	spoolBlocks = 4
)

func newSpoolWriter(file io.Writer, h hash.Hash) *spoolWriter {
	w := &spoolWriter{
		file: file, h: h,
		free:  make(chan []byte, spoolBlocks),
		toF:   make(chan []byte, spoolBlocks),
		toH:   make(chan []byte, spoolBlocks),
		count: map[*byte]int{},
	}
	for range spoolBlocks {
		w.free <- make([]byte, 0, spoolBlock)
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

// consume runs f on each block and frees it once both consumers are done.
func (w *spoolWriter) consume(ch chan []byte, f func([]byte)) {
	defer w.wg.Done()
	for b := range ch {
		f(b)
		w.mu.Lock()
		k := &b[:1][0]
		w.count[k]++
		last := w.count[k] == 2
		if last {
			delete(w.count, k)
		}
		w.mu.Unlock()
		if last {
			w.free <- b[:0]
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
		k := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur = w.cur[:len(w.cur)+k]
		p = p[k:]
		if len(w.cur) == cap(w.cur) {
			w.flush()
		}
	}
	w.n += int64(n)
	return n, nil
}

// flush hands the current block to both consumers and takes a free one.
func (w *spoolWriter) flush() {
	if len(w.cur) == 0 {
		return
	}
	w.toF <- w.cur
	w.toH <- w.cur
	w.cur = <-w.free
}

// Close hands over the last block, waits for both consumers and returns
// the file's first write error.
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
