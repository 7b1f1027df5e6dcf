package client

import (
	"context"
	"fmt"
	"testing"
	"time"
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
