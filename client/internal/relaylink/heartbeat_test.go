package relaylink

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestHeartbeatSteps walks the interval logic of spec/push.md §9 through
// scripts of events: p a pong in time, s a silent death, c a new
// connection on the same network (its memory carried over), w one hour
// passing. want is the interval after each event.
func TestHeartbeatSteps(t *testing.T) {
	const (
		relay = 500 * time.Millisecond
		idle  = 10 * time.Second
		pong  = time.Second
	)
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		mem    HeartbeatMemory
		events string
		want   []time.Duration
	}{
		{"widens after three pongs", HeartbeatMemory{}, "ppp ppp ppp",
			ms(500, 500, 750, 750, 750, 1125, 1125, 1125, 1687)},
		{"capped at idle less a fifth", HeartbeatMemory{Good: 7 * time.Second}, "ppp ppp",
			ms(7000, 7000, 8000, 8000, 8000, 8000)},
		{"silent death falls back to the last good and stays below the bad", HeartbeatMemory{Good: 1125 * time.Millisecond}, "ppp s ppp ppp c ppp",
			ms(1125, 1125, 1687, 1125, 1125, 1125, 1125, 1125, 1125, 1125, 1125, 1125, 1125, 1125)},
		{"a silent death at the good interval goes below it", HeartbeatMemory{}, "s c s",
			ms(333, 333, 222)},
		{"the floor holds", HeartbeatMemory{}, "s s s s s",
			ms(333, 222, 148, 125, 125)},
		{"a bad interval is tried again after HeartbeatBadFor", HeartbeatMemory{Good: 1125 * time.Millisecond}, "ppp s ppp " + strings.Repeat("w", 13) + "ppp",
			ms(append(append([]int{1125, 1125, 1687, 1125, 1125, 1125, 1125}, repeat(1125, 13)...), 1125, 1125, 1687)...)},
		{"memory of a wider relay is capped here", HeartbeatMemory{Good: time.Minute}, "p",
			ms(8000)},
		{"an expired bad interval in memory is ignored", HeartbeatMemory{Good: 1125 * time.Millisecond, Bad: 1687 * time.Millisecond, BadUntil: time.Unix(1, 0)}, "ppp",
			ms(1125, 1125, 1687)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			h := newAdaptive(relay, idle, pong, tc.mem, now)
			var got []time.Duration
			for _, e := range strings.ReplaceAll(tc.events, " ", "") {
				switch e {
				case 'p':
					h.Pong(now)
				case 's':
					h.Silent(now)
				case 'c':
					h = newAdaptive(relay, idle, pong, h.Memory(), now)
				case 'w':
					now = now.Add(time.Hour)
				}
				got = append(got, h.Interval().Truncate(time.Millisecond))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("intervals\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestHeartbeatBounds: the start is min(heartbeat, idle/2); the ceiling
// never reaches the idle timeout and never falls below the start.
func TestHeartbeatBounds(t *testing.T) {
	for _, tc := range []struct {
		relay, idle, pong, start, ceiling time.Duration
	}{
		{30 * time.Second, 90 * time.Second, 10 * time.Second, 30 * time.Second, 72 * time.Second},
		{30 * time.Second, 40 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second},
		{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 100 * time.Millisecond, 100 * time.Millisecond},
		{time.Millisecond, 0, time.Second, minHeartbeat, minHeartbeat},
	} {
		h := newAdaptive(tc.relay, tc.idle, tc.pong, HeartbeatMemory{}, time.Unix(0, 0))
		if h.start != tc.start || h.ceiling != tc.ceiling {
			t.Errorf("relay %v idle %v pong %v: start %v ceiling %v, want %v %v", tc.relay, tc.idle, tc.pong, h.start, h.ceiling, tc.start, tc.ceiling)
		}
	}
}
