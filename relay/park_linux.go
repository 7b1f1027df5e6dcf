package relay

import "syscall"

const canPark = true

// readable reports whether the socket fd has data, EOF or an error,
// without consuming anything; false makes the poller wait for it.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}
