package relay

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
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
	conn net.Conn      // the hijacked connection, for deadlines
	br   *bufio.Reader // the WebSocket's read buffer, for park
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after its upgrade request.
		pre, _ := brw.Reader.Peek(n)
		conn = &prefixConn{Conn: conn, pre: bytes.Clone(pre)}
	}
	w.conn = conn
	w.br = bufio.NewReaderSize(conn, readBufSize)
	return conn, bufio.NewReadWriter(w.br, bufio.NewWriterSize(conn, writeBufSize)), nil
}

// prefixConn reads pre before the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}
