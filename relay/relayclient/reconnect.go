package relayclient

import (
	"math/rand/v2"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// Reconnect draws a client's reconnect delays (spec/relay.md §2.5), given
// Window, the reconnect window the relay announced on the client's last
// upgrade (Conn.ReconnectWindow):
//
//   - Spread: the first attempt after a connection lost together with the
//     relay's others comes at a uniform random point of [0, Window];
//   - Retry: after failed attempt n (0-based), full jitter, uniform in
//     (0, min(max(Max, Window), Min·2ⁿ)]: a client of a small relay tries
//     at least every Max, the clients of a big one spread their retries
//     over its window too;
//   - Busy: after a 503 with a retry hint, the hint (the slot the relay
//     handed out) plus up to a tenth more.
//
// Its random source is its own (jitter is not secret: math/rand/v2); a
// Reconnect is not safe for concurrent use.
type Reconnect struct {
	Min, Max, Window time.Duration
	Rand             *rand.Rand
}

// NewReconnect returns a Reconnect for the bounds min and max and the
// window a relay predating the hint is taken to have, with a randomly
// seeded source.
func NewReconnect(min, max, window time.Duration) *Reconnect {
	return &Reconnect{Min: min, Max: max, Window: window, Rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Spread returns the delay before the first attempt after a connection
// lost with the relay's others: uniform in [0, Window].
func (r *Reconnect) Spread() time.Duration {
	return time.Duration(r.Rand.Int64N(int64(max(r.Window, 0)) + 1))
}

// Retry returns the delay after failed attempt n (0-based): uniform in
// (0, min(max(Max, Window), Min·2ⁿ)].
func (r *Reconnect) Retry(n int) time.Duration {
	return time.Duration(r.Rand.Int64N(int64(Ceiling(r.Min, max(r.Max, r.Window), n)))) + 1
}

// Busy returns the delay after a 503 with retry hint after (at most
// wire.MaxHint): the hint, plus up to a tenth more so that clients handed
// one slot do not land on the same instant.
func (r *Reconnect) Busy(after time.Duration) time.Duration {
	after = min(max(after, time.Millisecond), wire.MaxHint)
	return after + time.Duration(r.Rand.Int64N(int64(after/10)+1))
}

// Ceiling returns min(hi, lo·2ⁿ), at least 1 ns.
func Ceiling(lo, hi time.Duration, n int) time.Duration {
	c := hi
	if n < 32 {
		if d := lo << n; d > 0 && d < hi {
			c = d
		}
	}
	return max(c, 1)
}
