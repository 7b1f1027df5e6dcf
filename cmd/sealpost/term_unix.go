//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	return err == nil
}

// readNoEcho reads one line from the terminal fd with echo off and
// restores the terminal before returning, also when interrupted: an
// interrupt during the prompt restores it and exits with status 130.
func readNoEcho(fd int) ([]byte, error) {
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet); err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			unix.IoctlSetTermios(fd, ioctlSetTermios, old)
			os.Stderr.WriteString("\n")
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		close(done)
		signal.Stop(sigs)
		unix.IoctlSetTermios(fd, ioctlSetTermios, old)
	}()
	return readLineFd(fd)
}

// readLineFd reads bytes from fd up to a newline, without buffering
// past it.
func readLineFd(fd int) ([]byte, error) {
	var line []byte
	var buf [1]byte
	for {
		n, err := unix.Read(fd, buf[:])
		if n == 1 {
			if buf[0] == '\n' {
				return line, nil
			}
			line = append(line, buf[0])
			continue
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return line, err
		}
		if len(line) == 0 {
			return nil, errors.New("end of input")
		}
		return line, nil
	}
}

// enterKeyMode puts the terminal fd in non-canonical mode without echo,
// signals kept (Ctrl-C still interrupts), so that chat reads each key as
// it is typed (lineedit.go). restore puts back the mode it found.
func enterKeyMode(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	keys := *old
	keys.Lflag &^= unix.ICANON | unix.ECHO
	keys.Lflag |= unix.ISIG
	keys.Iflag |= unix.ICRNL
	keys.Cc[unix.VMIN] = 1
	keys.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &keys); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, ioctlSetTermios, old) }, nil
}
