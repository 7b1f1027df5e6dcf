//go:build !linux

package relay

import "errors"

const canPark = false

func readable(uintptr) bool { return true }

// poller is Linux's; elsewhere a parked reader waits on its own goroutine.
type poller struct{}

var thePoller poller

func (poller) add(int, *parkConn) error { return errors.ErrUnsupported }

func (poller) remove(int, *parkConn) {}
