package relay

import (
	"os"
	"sync"
	"syscall"
)

const canPark = true

// readable reports whether the socket fd has data, EOF or an error,
// without consuming anything; false makes the poller wait for it.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}

// poller watches the sockets of parked connections with an epoll instance
// of its own (the runtime's network poller has no way to call back without
// a goroutine blocked per socket), and wakes a connection when its socket
// has data, EOF or an error. One goroutine, started with the first park,
// serves every connection of the process; it waits in the runtime's
// network poller for the epoll descriptor to become readable (no thread
// blocked in epoll_wait). A socket is registered one-shot and
// level-triggered: data that arrived between the probe and the
// registration is reported at once.
type poller struct {
	once sync.Once
	epfd int      // -1 if epoll is unavailable
	file *os.File // epfd, in the runtime's network poller

	mu    sync.Mutex
	conns map[int32]*parkConn // parked connections by descriptor
}

var thePoller poller

func (p *poller) start() {
	p.epfd = -1
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	var rc syscall.RawConn
	if err = syscall.SetNonblock(fd, true); err == nil {
		p.file = os.NewFile(uintptr(fd), "relay-park-epoll")
		rc, err = p.file.SyscallConn()
	}
	if err != nil {
		syscall.Close(fd)
		return
	}
	p.epfd = fd
	p.conns = make(map[int32]*parkConn)
	go p.loop(rc)
}

// add registers the socket fd of pc.
func (p *poller) add(fd int, pc *parkConn) error {
	p.once.Do(p.start)
	if p.epfd < 0 {
		return syscall.ENOSYS
	}
	p.mu.Lock()
	p.conns[int32(fd)] = pc
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.forget(fd, pc)
		return err
	}
	return nil
}

// remove unregisters the socket fd of pc, before it is read or closed.
func (p *poller) remove(fd int, pc *parkConn) {
	p.forget(fd, pc)
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

func (p *poller) forget(fd int, pc *parkConn) {
	p.mu.Lock()
	if p.conns[int32(fd)] == pc {
		delete(p.conns, int32(fd))
	}
	p.mu.Unlock()
}

// loop wakes the connections whose sockets have news. The runtime polls
// the epoll descriptor edge-triggered, so each round takes every event
// ready before it waits again.
func (p *poller) loop(rc syscall.RawConn) {
	events := make([]syscall.EpollEvent, 256)
	rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return false // nothing ready: wait for the descriptor
			}
			for _, ev := range events[:n] {
				p.mu.Lock()
				pc := p.conns[ev.Fd]
				p.mu.Unlock()
				if pc != nil {
					pc.wake(int(ev.Fd))
				}
			}
		}
	})
}
