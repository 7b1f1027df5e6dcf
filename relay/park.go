package relay

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"time"
)

// Parking an idle connection's reader (memory goal of issue 4).
//
// A reader blocked in a WebSocket read sits deep in TLS and the network
// poller, and that stack (8 KiB) is the largest cost of an idle connection.
// So between frames, when nothing is buffered above the socket (bufio, TLS
// plaintext or records), the reader waits for the socket to become
// readable with a shallow stack, which the garbage collector then shrinks.
// Whether anything is buffered, or arrives within parkAfter, is probed by
// a read with a deadline: TLS and bufio answer from their buffers or the
// socket, or fail with a timeout (which leaves TLS usable, a partly read
// record kept) when nothing came.

// parkAfter is how long the reader waits for the next frame in the read
// itself (deep stack) before it parks. A busy connection's next frame
// usually comes within it: one read system call then fetches it, where
// parking at once costs two or three (the probe, a MSG_PEEK once the socket
// is readable, then the read). An idle connection parks after it.
const parkAfter = 20 * time.Millisecond

// rawConnOf returns the socket under nc, or nil.
func rawConnOf(nc net.Conn) syscall.RawConn {
	if p, ok := nc.(*prefixConn); ok {
		nc = p.Conn
	}
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok || !canPark {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// park returns once the next frame can be read without waiting for the
// network, or the socket has news (data, EOF, error), or the connection is
// closing.
func (c *conn) park() {
	if c.raw == nil || c.br == nil {
		return
	}
	// c.rl keeps the writer's close handshake, the only other reader of
	// c.br, out while probing.
	c.rl.Lock()
	if c.isClosing() {
		c.rl.Unlock()
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(parkAfter))
	_, err := c.br.Peek(1)
	c.nc.SetReadDeadline(time.Time{})
	c.rl.Unlock()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		return // buffered, or an error the read will report
	}
	c.raw.Read(readable)
}
