//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package main

import "errors"

// isTerminal is false where sealpost cannot turn off echo: the
// passphrase then has to come from --passphrase-file or the environment.
func isTerminal(fd int) bool { return false }

func readNoEcho(fd int) ([]byte, error) {
	return nil, errors.New("reading a passphrase from the terminal is not supported on this system")
}

func enterKeyMode(fd int) (restore func(), err error) {
	return nil, errors.New("reading keys from the terminal is not supported on this system")
}
