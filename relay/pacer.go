package relay

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// minReconnectWindow is the least reconnect window the relay announces
// (spec/relay.md §2.5): a few clients still spread a little.
const minReconnectWindow = 100 * time.Millisecond

// upgradePacer paces WebSocket upgrades (spec/relay.md §2.5): a token bucket
// refilled at Limits.ReconnectRate per second, holding a tenth of a
// second's worth. An upgrade finding it empty is refused with 503 and a
// retry hint: the next free slot of a schedule advancing 1/rate per
// refusal, so that a refused herd comes back at the rate the relay admits,
// over herd/rate seconds, instead of all at once.
type upgradePacer struct {
	rate  float64 // upgrades per second
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
	next   time.Time // the last slot handed to a refused upgrade
}

func newUpgradePacer(rate int, now time.Time) *upgradePacer {
	burst := max(1, float64(rate)/10)
	return &upgradePacer{rate: float64(rate), burst: burst, tokens: burst, last: now}
}

// admit takes a token at now; when there is none it returns false and how
// long the refused client waits (at least 1 ms).
func (a *upgradePacer) admit(now time.Time) (bool, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d := now.Sub(a.last); d > 0 {
		a.tokens = min(a.burst, a.tokens+d.Seconds()*a.rate)
		a.last = now
	}
	if a.tokens >= 1 {
		a.tokens--
		return true, 0
	}
	// Slots start where the bucket will next hold a token.
	first := now.Add(time.Duration((1 - a.tokens) / a.rate * float64(time.Second)))
	if a.next.Before(first) {
		a.next = first
	} else {
		a.next = a.next.Add(time.Duration(float64(time.Second) / a.rate))
	}
	return false, max(a.next.Sub(now), time.Millisecond)
}

// reconnectWindow is the window announced to a connection accepted while
// open connections are open (spec/relay.md §2.5): the time the relay takes
// to admit them all again at its reconnect rate, at least
// minReconnectWindow and at most MaxReconnectWindow.
func (s *Server) reconnectWindow(open int) time.Duration {
	w := time.Duration(float64(open) / float64(s.lim.ReconnectRate) * float64(time.Second))
	return min(max(w, minReconnectWindow), s.lim.MaxReconnectWindow)
}

// refuseBusy answers an upgrade beyond the reconnect rate: 503 with the
// retry hint in milliseconds and in whole seconds (spec/relay.md §2.5).
func refuseBusy(w http.ResponseWriter, after time.Duration) {
	w.Header().Set(wire.HeaderRetryAfter, wire.FormatHint(after))
	secs := (after + time.Second - 1) / time.Second
	w.Header().Set("Retry-After", strconv.FormatInt(int64(max(secs, 1)), 10))
	http.Error(w, "relay: busy, retry later", http.StatusServiceUnavailable)
}

// openConns returns the number of open connections.
func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}
