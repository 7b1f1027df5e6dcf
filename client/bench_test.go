package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay"
)

// BenchmarkSendReceive measures one message from alice to bob through a
// real key server and relay on SQLite, end to end: encrypt, seal, queue,
// relay store, deliver, open, decrypt, store, hand over, ack. Sends are
// sequential, so this is latency-bound:
//
//	go test -run XXX -bench SendReceive -benchtime 500x ./client/
func BenchmarkSendReceive(b *testing.B) {
	for _, size := range []int{100, 16 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			s := startServers(b, engineSQLite)
			alice, bob := s.newUser("alice"), s.newUser("bob")
			msg := make([]byte, size)
			ctx := context.Background()
			// The first message starts the session.
			if _, err := alice.Send(ctx, "bob", msg); err != nil {
				b.Fatal(err)
			}
			(<-bob.Messages()).Ack()
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := alice.Send(ctx, "bob", msg); err != nil {
					b.Fatal(err)
				}
				(<-bob.Messages()).Ack()
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/msg")
		})
	}
}

// BenchmarkSendReceiveAnonymous is BenchmarkSendReceive/100B with alice
// sending anonymously (spec/client.md §13): a send token per envelope (the
// wallet refilled in the background, issuance included), a version 2
// seal, the anonymous connection.
//
//	go test -run XXX -bench SendReceiveAnonymous -benchtime 300x ./client/
func BenchmarkSendReceiveAnonymous(b *testing.B) {
	s, _, _ := anonServers(b, engineSQLite)
	alice, bob := s.newAnonUser("alice"), s.newUser("bob")
	msg := make([]byte, 100)
	ctx := context.Background()
	if _, err := alice.Send(ctx, "bob", msg); err != nil {
		b.Fatal(err)
	}
	(<-bob.Messages()).Ack()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := alice.Send(ctx, "bob", msg); err != nil {
			b.Fatal(err)
		}
		(<-bob.Messages()).Ack()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/msg")
}

// BenchmarkTyping measures one typing signal from alice to bob through the
// relay's ephemeral mode, end to end: encrypt (the session state stored),
// seal, relay, open, decrypt, store the session state, report the event.
//
//	go test -run XXX -bench Typing -benchtime 2000x ./client/
func BenchmarkTyping(b *testing.B) {
	// Far above the defaults (a user types a signal every few seconds):
	// the benchmark measures the path, not the relay's rate limits.
	s := startServersWith(b, engineSQLite, func(c *relay.Config) {
		c.Limits.EphemeralPerSecond, c.Limits.EphemeralBurst = 1e6, 1e6
		c.Limits.EphemeralPairRate, c.Limits.EphemeralPairBurst = 1e6, 1e6
	})
	alice, bob := s.newUser("alice"), s.newUser("bob")
	ctx := context.Background()
	if _, err := alice.SendText(ctx, "bob", "hi"); err != nil {
		b.Fatal(err)
	}
	(<-bob.Messages()).Ack()
	if _, err := bob.SendText(ctx, "alice", "hi"); err != nil {
		b.Fatal(err)
	}
	(<-alice.Messages()).Ack()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if i%maxEphemeralRun == maxEphemeralRun-1 {
			// A stored message now and then, as a conversation has.
			b.StopTimer()
			if _, err := alice.SendText(ctx, "bob", "x"); err != nil {
				b.Fatal(err)
			}
			(<-bob.Messages()).Ack()
			b.StartTimer()
		}
		if err := alice.Typing(ctx, "bob", true); err != nil {
			b.Fatal(err)
		}
		for e := range bob.Events() {
			if e.Kind == EventTyping {
				break
			}
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/signal")
}
