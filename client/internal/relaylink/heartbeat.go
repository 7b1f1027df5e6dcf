package relaylink

import (
	"time"
)

// Adaptive heartbeat (spec/push.md §9). The link pings the relay at an
// interval that starts at the relay's heartbeat interval and widens while
// pongs keep coming, up to a ceiling below the relay's idle timeout; a
// connection that dies silently marks the interval it used as bad for its
// network, and the link falls back to the last good one.
const (
	// HeartbeatStreak is how many pongs in a row, each within the pong
	// timeout, prove an interval good (§9.2).
	HeartbeatStreak = 3
	// heartbeatWidenNum/heartbeatWidenDen is the widening step: ×1.5.
	heartbeatWidenNum, heartbeatWidenDen = 3, 2
	// HeartbeatBadFor is how long a bad interval is avoided (§9.3).
	HeartbeatBadFor = 12 * time.Hour
	// minHeartbeat bounds every interval from below.
	minHeartbeat = 10 * time.Millisecond
)

// HeartbeatMemory is what the link remembers of one network (§9.4): the
// longest interval proved good there, and the shortest that lost a
// connection, avoided until BadUntil.
type HeartbeatMemory struct {
	Good, Bad time.Duration
	BadUntil  time.Time
}

// adaptive is the interval logic of spec/push.md §9, pure: no clock of
// its own, no I/O. It is not safe for concurrent use.
type adaptive struct {
	start, floor, ceiling time.Duration
	interval              time.Duration // the interval in use
	good                  time.Duration // the last good interval
	bad                   time.Duration // 0: none known
	badUntil              time.Time
	streak                int // pongs in a row at interval
}

// heartbeatStart returns the relay's interval as the link starts from
// it: min(heartbeat interval, idle timeout / 2), at least minHeartbeat
// (spec/relay.md §9, spec/push.md §9.1).
func heartbeatStart(relayInterval, idle time.Duration) time.Duration {
	every := relayInterval
	if idle > 0 && idle/2 < every {
		every = idle / 2
	}
	return max(every, minHeartbeat)
}

// heartbeatCeiling returns the widest interval the link uses: the idle
// timeout less max(idle/5, pong timeout), never below start (§9.1).
func heartbeatCeiling(start, idle, pongTimeout time.Duration) time.Duration {
	return max(idle-max(idle/5, pongTimeout), start)
}

// newHeartbeat returns the logic for a connection whose relay announced
// relayInterval and idle, on a network with memory mem (zero: none), at
// time now.
func newAdaptive(relayInterval, idle, pongTimeout time.Duration, mem HeartbeatMemory, now time.Time) *adaptive {
	start := heartbeatStart(relayInterval, idle)
	h := &adaptive{
		start:   start,
		floor:   max(start/4, minHeartbeat),
		ceiling: heartbeatCeiling(start, idle, pongTimeout),
		good:    start,
	}
	if mem.Good > 0 {
		h.good = min(max(mem.Good, h.floor), h.ceiling)
	}
	if mem.Bad > 0 && now.Before(mem.BadUntil) {
		h.bad, h.badUntil = mem.Bad, mem.BadUntil
	}
	h.interval = h.good
	return h
}

// Interval returns the interval to wait before the next ping.
func (h *adaptive) Interval() time.Duration { return h.interval }

// Pong records a pong within the pong timeout at the current interval, at
// time now, and reports whether the interval changed (§9.2): after
// HeartbeatStreak in a row the interval is good, and the next is ×1.5, at
// most the ceiling, and never at or past a bad interval still avoided.
func (h *adaptive) Pong(now time.Time) bool {
	h.streak++
	if h.streak < HeartbeatStreak {
		return false
	}
	h.streak = 0
	h.good = h.interval
	next := min(h.interval*heartbeatWidenNum/heartbeatWidenDen, h.ceiling)
	if h.bad > 0 && now.Before(h.badUntil) && next >= h.bad {
		next = h.interval
	}
	changed := next != h.interval
	h.interval = next
	return changed
}

// Silent records that the connection died silently at the current
// interval, at time now (§9.3): no pong within the pong timeout, or no
// frame within the idle timeout. That interval is bad until now +
// HeartbeatBadFor; the next connection uses the last good interval, or,
// when the good one itself failed, two thirds of it (at least the floor).
func (h *adaptive) Silent(now time.Time) {
	h.bad, h.badUntil = h.interval, now.Add(HeartbeatBadFor)
	if h.good >= h.interval {
		h.good = max(h.interval*heartbeatWidenDen/heartbeatWidenNum, h.floor)
	}
	h.interval, h.streak = h.good, 0
}

// Memory returns what to remember of this network.
func (h *adaptive) Memory() HeartbeatMemory {
	return HeartbeatMemory{Good: h.good, Bad: h.bad, BadUntil: h.badUntil}
}
