package relay

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"sync"
)

// Buffer sizes of a hijacked connection. net/http hands a hijacked
// connection 4 KiB read and write buffers; an idle connection would keep
// both. TLS already buffers a decrypted record, so a small read buffer only
// costs copies of WebSocket headers; large payload reads and writes bypass
// a bufio buffer smaller than themselves.
const (
	readBufSize  = 64
	writeBufSize = 256
)

// smallBuffers is a ResponseWriter whose Hijack returns the connection with
// small bufio buffers (websocket.Accept uses what Hijack returns).
type smallBuffers struct {
	http.ResponseWriter
	conn *parkConn     // the hijacked connection, for deadlines and park
	br   *bufio.Reader // the WebSocket's read buffer, for park
	bw   *batchWriter  // under the WebSocket's write buffer
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	pc := &parkConn{Conn: conn}
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after its upgrade request.
		pre, _ := brw.Reader.Peek(n)
		pc.pre = bytes.Clone(pre)
	}
	w.conn = pc
	w.br = bufio.NewReaderSize(pc, readBufSize)
	w.bw = &batchWriter{conn: pc}
	return pc, bufio.NewReadWriter(w.br, bufio.NewWriterSize(w.bw, writeBufSize)), nil
}

// batchWriter sits between a WebSocket's write buffer and the connection.
// While a batch is open (conn.writeFrames) it keeps what it is given, in a
// pooled buffer, and writes it all at once when the batch ends. A frame
// larger than the small write buffer would otherwise leave as two TLS
// records in two system calls (the buffered header and the start of the
// payload, then the rest), and each frame of a burst of answers as one of
// its own; in a batch they leave together. Outside a batch it passes
// writes through (the WebSocket's own control frames and close).
type batchWriter struct {
	conn net.Conn
	mu   sync.Mutex
	buf  *[]byte // non-nil while a batch is open
}

func (w *batchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf == nil {
		return w.conn.Write(p)
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

// begin opens a batch.
func (w *batchWriter) begin() {
	bp := writeBuffers.Get().(*[]byte)
	w.mu.Lock()
	w.buf = bp
	w.mu.Unlock()
}

// end writes what the batch kept and closes it.
func (w *batchWriter) end() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	bp := w.buf
	w.buf = nil
	if bp == nil {
		return nil
	}
	var err error
	if len(*bp) > 0 {
		_, err = w.conn.Write(*bp)
	}
	if cap(*bp) <= maxPooled {
		*bp = (*bp)[:0]
		writeBuffers.Put(bp)
	}
	return err
}
