package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestOrderAcrossRelayRestarts (issue 11, "Order"): the relay is restarted
// 20 times — alternately crashing and shutting down gracefully, each time
// down long enough for Sends to give up with ErrQueued — while alice sends
// 1,000 messages to bob one after the other. Bob receives every message
// exactly once and in send order: queued and live sends share one FIFO
// queue per recipient device (spec/client.md §3.3).
func TestOrderAcrossRelayRestarts(t *testing.T) {
	// Long and self-contained (its own servers, no package state): run
	// beside the other long tests.
	t.Parallel()
	n, restarts := 1000, 20
	if testing.Short() {
		n, restarts = 200, 5
	}
	s := startServers(t, engineSQLite)
	rr := s.restartableRelay()
	alice, bob := s.newUser("alice"), s.newUser("bob")

	got := make(chan string, 2*n)
	go func() {
		for m := range bob.Messages() {
			got <- string(m.Plaintext)
			m.Ack()
		}
	}()

	var sent atomic.Int64
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		for k := 1; k <= restarts; k++ {
			for sent.Load() < int64(k*n/(restarts+1)) {
				time.Sleep(time.Millisecond)
			}
			rr.restart(k%2 == 1, 300*time.Millisecond)
		}
	}()
	queued, again := 0, 0
	start := time.Now()
	for i := range n {
		// As an application would: the message's id is fixed first, and
		// a Send that ran out of time before it queued the message is
		// repeated with it.
		var id MessageID
		rand.Read(id[:])
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			_, err := alice.Send(ctx, "bob", fmt.Appendf(nil, "m%04d", i), WithMessageID(id))
			cancel()
			if errors.Is(err, ErrQueued) {
				queued++
			} else if errors.Is(err, context.DeadlineExceeded) {
				again++
				continue
			} else if err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			break
		}
		sent.Add(1)
	}
	<-restarted
	sendTime := time.Since(start)

	var (
		seen       = map[string]int{}
		outOfOrder int
		last       = -1
	)
	for len(seen) < n {
		select {
		case p := <-got:
			seen[p]++
			var i int
			if _, err := fmt.Sscanf(p, "m%04d", &i); err != nil {
				t.Fatalf("bob got %q", p)
			}
			if i <= last {
				outOfOrder++
			}
			last = max(last, i)
		case <-time.After(30 * time.Second):
			t.Fatalf("bob has %d distinct messages of %d after 30 s", len(seen), n)
		}
	}
	// Anything more is a duplicate.
	deadline := time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case p := <-got:
			seen[p]++
		case <-deadline:
			done = true
		}
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	t.Logf("%d messages, %d restarts, %d Sends returned ErrQueued, %d repeated; sent in %v, all received after %v",
		n, restarts, queued, again, sendTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if outOfOrder > 0 || dups > 0 {
		t.Fatalf("bob received %d messages out of order and %d duplicates", outOfOrder, dups)
	}
	if queued == 0 {
		t.Fatal("no Send returned ErrQueued: the relay was never unreachable during a send; the test tests nothing")
	}
}
