package relay

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// Parking an idle connection's reader (memory goals of issues 4 and 13).
//
// A reader blocked in a WebSocket read sits deep in TLS and the network
// poller, and its stack is the largest single cost of an idle connection
// after TLS's: 4 KiB even when shallow, since the runtime halves a stack
// only while less than a quarter of it is used, counting 800 bytes kept
// free below the frames.
// So between frames, when nothing is buffered above the socket (bufio,
// TLS plaintext or records), the reader parks: it hands the socket to the
// poller and its goroutine ends. The poller (park_linux.go: an epoll
// instance of its own, one goroutine for all connections) starts a new
// reader once the socket has news (data, EOF, error) or the connection
// closes (parkConn.Close). Whether anything is buffered, or arrives within
// parkAfter, is probed by a read with a deadline: TLS and bufio answer
// from their buffers or the socket, or fail with a timeout (which leaves
// TLS usable, a partly read record kept, whose rest makes the socket
// readable) when nothing came.
//
// Where there is no poller (not Linux), the reader waits for the socket to
// become readable with a shallow stack, on its own goroutine.

// parkAfter is how long the reader waits for the next frame in the read
// itself (deep stack) before it parks. A busy connection's next frame
// usually comes within it: one read system call then fetches it, where
// parking at once costs the probe, two epoll_ctl calls and a new
// goroutine. An idle connection parks after it.
const parkAfter = 20 * time.Millisecond

// rawConnOf returns the socket under nc, or nil.
func rawConnOf(nc net.Conn) syscall.RawConn {
	if p, ok := nc.(*parkConn); ok {
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

// park returns true if it handed the reader to the poller: the reader's
// goroutine must then return (the poller runs c.read again). false: the
// next frame can be read without waiting for the network, or the socket
// has news, or the connection is closing.
func (c *conn) park() bool {
	if c.raw == nil || c.br == nil {
		return false
	}
	// c.rl keeps the writer's close handshake, the only other reader of
	// c.br, out while probing.
	c.rl.Lock()
	if c.isClosing() {
		c.rl.Unlock()
		return false
	}
	c.nc.SetReadDeadline(time.Now().Add(parkAfter))
	_, err := c.br.Peek(1)
	c.nc.SetReadDeadline(time.Time{})
	c.rl.Unlock()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		return false // buffered, or an error the read will report
	}
	if c.pc != nil && c.pc.park(c.raw) {
		return true
	}
	c.raw.Read(readable) // no poller: wait here
	return false
}

// parkConn is the hijacked connection under a WebSocket: it reads pre (the
// bytes the client sent right after its upgrade request) before the
// connection, and it keeps the connection's parked state, so that closing
// it resumes a parked reader.
type parkConn struct {
	net.Conn
	pre []byte
	c   *conn // set before the reader starts

	mu     sync.Mutex
	parked bool // the socket is registered with the poller, as fd
	fd     int
	closed bool // Close was called: park no more
}

func (p *parkConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		if len(p.pre) == 0 {
			p.pre = nil
		}
		return n, nil
	}
	return p.Conn.Read(b)
}

// Close resumes the reader if it is parked (it then finds the connection
// closed), then closes the connection.
func (p *parkConn) Close() error {
	p.mu.Lock()
	p.closed = true
	resume := p.parked
	if resume {
		p.parked = false
		thePoller.remove(p.fd, p)
	}
	p.mu.Unlock()
	if resume {
		go p.c.read()
	}
	return p.Conn.Close()
}

// park registers the socket raw with the poller; false if it cannot (no
// poller, or the connection is closed), and the reader waits itself.
func (p *parkConn) park(raw syscall.RawConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.c == nil {
		return false
	}
	var err error
	if cerr := raw.Control(func(fd uintptr) {
		p.fd = int(fd)
		err = thePoller.add(p.fd, p)
	}); cerr != nil || err != nil {
		return false
	}
	p.parked = true
	return true
}

// wake starts a new reader for a parked connection whose socket fd has
// news; a stale event (the connection resumed already, or its descriptor
// number is another's now) starts nothing, or a reader that parks again.
func (p *parkConn) wake(fd int) {
	p.mu.Lock()
	if !p.parked || p.fd != fd {
		p.mu.Unlock()
		return
	}
	p.parked = false
	thePoller.remove(fd, p)
	p.mu.Unlock()
	go p.c.read()
}
