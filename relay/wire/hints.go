package wire

import (
	"strconv"
	"time"
)

// Reconnect hints, spec/relay.md §2.5. They travel as HTTP headers of the
// WebSocket upgrade, not in frames: a frame field unknown to an older
// client would make it refuse the frame (§3.2), a header it does not know
// is ignored.
const (
	// HeaderReconnectWindow, on the relay's 101 answer, is the window in
	// milliseconds over which a client that loses this connection spreads
	// its first reconnect attempt.
	HeaderReconnectWindow = "Sealpost-Reconnect-Window"
	// HeaderRetryAfter, on a 503 answer to the upgrade (the relay is
	// admitting connections at its reconnect rate, or is stopping), is how
	// many milliseconds the client waits before its next attempt. The
	// answer also carries the standard Retry-After, in whole seconds.
	HeaderRetryAfter = "Sealpost-Retry-After"
	// MaxHint caps both hints: a larger value is read as MaxHint.
	MaxHint = 10 * time.Minute
)

// FormatHint returns d as a hint header value: whole milliseconds, at
// least 1, at most MaxHint.
func FormatHint(d time.Duration) string {
	return strconv.FormatInt(min(max(d, time.Millisecond), MaxHint).Milliseconds(), 10)
}

// ParseHint reads a hint header value (spec/relay.md §2.5): 1 to 10
// decimal digits, the first not 0, for 1 ms up to MaxHint (larger values
// are MaxHint). ok is false for an absent or malformed value, which the
// client treats as no hint.
func ParseHint(s string) (d time.Duration, ok bool) {
	if len(s) == 0 || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return min(time.Duration(ms)*time.Millisecond, MaxHint), true
}
