package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
)

// TestRelayRestart kills sealpostd with SIGKILL while alice and bob send to
// each other and starts it again on the same data directory and address.
// The clients reconnect by themselves (spec/client.md §10); sends waiting
// for the relay's answer complete under their message ids once it is back
// (§3.3); every message is received once, in the order it was sent.
func TestRelayRestart(t *testing.T) {
	t.Parallel()
	const (
		aliceStreams = 3  // concurrent senders in alice's process
		perStream    = 40 // messages each stream sends, one after the other
	)
	setup := newSetup(t)
	d := setup.start(t)
	root := t.TempDir()
	alice := newPeer(t, d, root, "alice")
	bob := newPeer(t, d, root, "bob")
	// Sessions in both directions before the streams.
	toBob := map[string][]sent{"hello": {{alice.send("bob", "hello bob"), "alice", "hello bob"}}}
	toAlice := map[string][]sent{"hello": {{bob.send("alice", "hello alice"), "bob", "hello alice"}}}
	bob.waitFor(1, 10*time.Second)
	alice.waitFor(1, 10*time.Second)

	type stream struct {
		name     string
		from, to *peer
		sent     []sent
		retries  int // sends refused before anything was queued, sent again
		spanned  int // sends started before the kill that completed after it
		err      error
	}
	var streams []*stream
	for i := range aliceStreams {
		streams = append(streams, &stream{name: fmt.Sprintf("a%d", i), from: alice, to: bob})
	}
	streams = append(streams, &stream{name: "b0", from: bob, to: alice})

	var (
		stored   atomic.Int64
		killedAt atomic.Int64 // unix nanoseconds of the kill, 0 before
		wg       sync.WaitGroup
	)
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.from.client()
			for i := 0; i < perStream; i++ {
				text := label(s.name, i)
				started := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				id, err := c.Send(ctx, s.to.handle, []byte(text))
				cancel()
				if err != nil {
					// With the context still running, an error means
					// the send failed before it queued anything (the
					// key server was down for the look-up): the
					// application sends again. A queued send waits
					// for the relay instead (spec/client.md §3.3).
					if errorsIsAny(err, context.DeadlineExceeded, client.ErrClosed) {
						s.err = fmt.Errorf("%s: send %s: %w", s.name, text, err)
						return
					}
					if killedAt.Load() == 0 {
						s.err = fmt.Errorf("%s: send %s before the kill: %w", s.name, text, err)
						return
					}
					s.retries++
					i--
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if k := killedAt.Load(); k != 0 && started.UnixNano() < k {
					s.spanned++
				}
				s.sent = append(s.sent, sent{id, s.from.handle, text})
				stored.Add(1)
			}
		}()
	}

	// Kill at a random point in the first half of the streams.
	killAt := int64(10 + rand.IntN(aliceStreams*perStream/2))
	for stored.Load() < killAt {
		time.Sleep(time.Millisecond)
	}
	oldFP := d.fp
	killedAt.Store(time.Now().UnixNano())
	d.kill(t)
	atKill := stored.Load()
	down := time.Duration(300+rand.IntN(700)) * time.Millisecond
	time.Sleep(down)
	d = setup.start(t)
	if d.fp != oldFP {
		t.Fatalf("certificate changed across the restart: %s, was %s", d.fp, oldFP)
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("streams not done 60s after the restart; %d sends stored", stored.Load())
	}
	var retries, spanned int
	for _, s := range streams {
		if s.err != nil {
			t.Fatal(s.err)
		}
		retries += s.retries
		spanned += s.spanned
		if s.to == bob {
			toBob[s.name] = s.sent
		} else {
			toAlice[s.name] = s.sent
		}
	}
	t.Logf("killed after %d sends, down %v; %d sends completed across the kill, %d sent again after failing before they queued",
		atKill, down, spanned, retries)

	checkStreams(t, "bob", bob.waitFor(1+aliceStreams*perStream, 60*time.Second), toBob)
	checkStreams(t, "alice", alice.waitFor(1+perStream, 60*time.Second), toAlice)
	time.Sleep(300 * time.Millisecond) // nothing more arrives
	checkStreams(t, "bob", bob.messages(), toBob)
	checkStreams(t, "alice", alice.messages(), toAlice)
	for _, p := range []*peer{alice, bob} {
		p.checkEvents()
		var disc, conn int
		p.mu.Lock()
		for _, e := range p.events {
			switch e.Kind {
			case client.EventDisconnected:
				disc++
			case client.EventConnected:
				conn++
			}
		}
		p.mu.Unlock()
		if disc == 0 || conn < 2 {
			t.Errorf("%s: %d disconnected and %d connected events, want the restart to show", p.handle, disc, conn)
		}
	}
}

// checkStreams checks that got holds each stream's messages exactly once
// and in the stream's order (streams interleave freely), with the ids Send
// returned.
func checkStreams(t *testing.T, who string, got []*client.Message, want map[string][]sent) {
	t.Helper()
	byText := map[string]sent{}
	pos := map[string]int{} // the next index per stream
	streamOf := map[string]string{}
	total := 0
	for name, ss := range want {
		for _, s := range ss {
			byText[s.text] = s
			streamOf[s.text] = name
		}
		total += len(ss)
	}
	seen := map[client.MessageID]bool{}
	for i, m := range got {
		text := string(m.Plaintext)
		w, ok := byText[text]
		name := streamOf[text]
		switch {
		case !ok:
			t.Errorf("%s: message %d: unexpected %q", who, i, text)
		case seen[m.ID]:
			t.Errorf("%s: message %d: %q shown twice", who, i, text)
		case m.ID != w.id || m.From != w.from:
			t.Errorf("%s: message %d: %q id %s from %s, want id %s from %s", who, i, text, m.ID, m.From, w.id, w.from)
		case pos[name] >= len(want[name]) || want[name][pos[name]].text != text:
			t.Errorf("%s: message %d: %q out of order in stream %s (%d of its messages before it)", who, i, text, name, pos[name])
		default:
			pos[name]++
		}
		seen[m.ID] = true
	}
	if len(got) != total {
		t.Errorf("%s received %d messages, want %d", who, len(got), total)
	}
}
