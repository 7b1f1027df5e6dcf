package relay

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/relay/wire"

	"github.com/sealpost/sealpost/relay/store/storetest"
)

// BenchmarkSendDeliverAck: pairs of connections over TLS 1.3, senders
// pipelining 1 KiB envelopes (at most 32 sends in flight each), receivers
// acking every Deliver; b.N envelopes in all, each stored durably
// (SQLite, synchronous=FULL), delivered and acked. Client and relay share
// the process (and its cores); cpu-us/envelope is the CPU time of both.
func BenchmarkSendDeliverAck(b *testing.B) { benchSendDeliverAck(b, false, false, 1) }

// BenchmarkSendDeliverAckAnonymous is BenchmarkSendDeliverAck with the
// senders on anonymous connections (spec/relay.md §15), each Send paid
// with a send token the relay verifies and spends (tokens minted before
// the timer starts). The difference of cpu-us/envelope from
// BenchmarkSendDeliverAck is the relay's cost of an anonymous send of one
// envelope.
func BenchmarkSendDeliverAckAnonymous(b *testing.B) { benchSendDeliverAck(b, true, false, 1) }

// BenchmarkSendDeliverAckAnonymousContacts is BenchmarkSendDeliverAckAnonymous
// with every recipient in mode contacts and every item carrying the right
// access key (spec/relay.md §15.8): the difference is the cost of the
// access check (a SHA-256 per item, a constant-time compare in the store).
func BenchmarkSendDeliverAckAnonymousContacts(b *testing.B) { benchSendDeliverAck(b, true, true, 1) }

// BenchmarkSendDeliverAckBatched and BenchmarkSendDeliverAckBatchedAnonymous
// are the two above with 20 envelopes per Send (one token pays for 20).
func BenchmarkSendDeliverAckBatched(b *testing.B) { benchSendDeliverAck(b, false, false, 20) }

func BenchmarkSendDeliverAckBatchedAnonymous(b *testing.B) { benchSendDeliverAck(b, true, false, 20) }

func BenchmarkSendDeliverAckBatchedAnonymousContacts(b *testing.B) {
	benchSendDeliverAck(b, true, true, 20)
}

func benchSendDeliverAck(b *testing.B, anonymous, contacts bool, batch int) {
	const pairs = 8
	// Quotas (spec/relay.md §6.1) account every envelope but refuse none:
	// rates and shares far above what the benchmark sends.
	e := startRelay(b, Limits{
		SendsPerSecond: 1 << 20, SendBurst: 1 << 20, MaxConnsPerIP: 100,
		MaxQueueCount: 1 << 24, MaxQueueBytes: 1 << 40,
		QuotaRate: 1 << 30, QuotaBurst: 1 << 30, QuotaBytesRate: 1 << 50, QuotaBytesBurst: 1 << 50,
	})
	env := make([]byte, 1024)
	type pair struct{ from, to *client }
	ps := make([]pair, pairs)
	for i := range ps {
		to, _ := e.connect(fmt.Sprintf("rcpt%d", i), 1)
		if contacts {
			to.setAccess(wire.AccessMode_ACCESS_MODE_CONTACTS, benchKey(i), 0)
		}
		var from *client
		if anonymous {
			from, _ = e.connectAnonymous()
		} else {
			from, _ = e.connect(fmt.Sprintf("sndr%d", i), 1)
		}
		ps[i] = pair{from, to}
	}
	sends := (b.N/pairs)/batch + 1 // per sender
	per := sends * batch           // envelopes per pair
	var tokens [][]byte
	if anonymous {
		st := testSendTokens()
		for len(tokens) < sends*pairs {
			tokens = append(tokens, mintTokens(b, st.key, keysName, st.epoch, min(sendtoken.MaxBatchSize, sends*pairs-len(tokens)))...)
		}
	}
	b.SetBytes(int64(len(env)))
	b.ResetTimer()
	start, cpu0 := time.Now(), storetest.CPUTime()
	var wg sync.WaitGroup
	for i, p := range ps {
		rcpt := addr(fmt.Sprintf("rcpt%d", i), 1)
		wg.Go(func() { // sender
			inflight := make(chan struct{}, 32)
			done := make(chan struct{})
			go func() {
				for range sends {
					f, err := p.from.next(30 * time.Second)
					if err != nil || f.GetSendResult() == nil {
						b.Errorf("sender: %v %v", f, err)
						break
					}
					<-inflight
				}
				close(done)
			}()
			items := make([]*wire.Item, batch)
			for k := range items {
				items[k] = &wire.Item{Recipient: rcpt, Envelope: env}
				if contacts {
					items[k].AccessKey = benchKey(i)[:]
				}
			}
			for j := range sends {
				inflight <- struct{}{}
				m := &wire.Send{MessageId: make([]byte, 16), Items: items}
				m.MessageId[0], m.MessageId[1], m.MessageId[2] = byte(j), byte(j>>8), byte(j>>16)
				if anonymous {
					m.SendToken = tokens[i*sends+j]
				}
				bb, _ := wire.Encode(&wire.Frame{Body: &wire.Frame_Send{Send: m}})
				p.from.writeRaw(bb)
			}
			<-done
		})
		wg.Go(func() { // receiver
			got := 0
			for got < per {
				f, err := p.to.next(30 * time.Second)
				if err != nil || f.GetDeliver() == nil {
					b.Errorf("receiver: %v %v", f, err)
					return
				}
				var ids []uint64
				for _, d := range f.GetDeliver().Deliveries {
					ids = append(ids, d.Id)
				}
				got += len(ids)
				bb, _ := wire.Encode(&wire.Frame{Body: &wire.Frame_Ack{Ack: &wire.Ack{Ids: ids}}})
				p.to.writeRaw(bb)
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*pairs)/time.Since(start).Seconds(), "envelopes/s")
	if cpu := storetest.CPUTime() - cpu0; cpu > 0 {
		// Client and relay together; a busy machine disturbs it less than
		// envelopes/s.
		b.ReportMetric(float64(cpu.Microseconds())/float64(per*pairs), "cpu-us/envelope")
	}
}

// benchKey is the access key of the benchmark's recipient i.
func benchKey(i int) *[wire.AccessKeySize]byte {
	var k [wire.AccessKeySize]byte
	k[0] = byte(i)
	return &k
}

// BenchmarkEphemeral: pairs of connections over TLS 1.3, each sender
// writing SendEphemeral frames of one 1 KiB item to its receiver as fast
// as the receiver takes them (at most 128 in flight, below the 256 a
// connection queues before it drops them); b.N items in all, each pushed
// to its receiver (spec/relay.md §7.4). Nothing is stored. Client and
// relay share the process; cpu-us/item is the CPU time of both
// (sealpost-bench --ephemeral measures the relay alone, at a set rate).
func BenchmarkEphemeral(b *testing.B) {
	const pairs, window = 8, 128
	e := startRelay(b, Limits{
		MaxConnsPerIP:      100,
		EphemeralPerSecond: 1 << 30, EphemeralBurst: 1 << 30, EphemeralPairRate: 1 << 30, EphemeralPairBurst: 1 << 30,
	})
	env := make([]byte, 1024)
	type pair struct{ from, to *client }
	ps := make([]pair, pairs)
	for i := range ps {
		to, _ := e.connect(fmt.Sprintf("rcpt%d", i), 1)
		from, _ := e.connect(fmt.Sprintf("sndr%d", i), 1)
		ps[i] = pair{from, to}
	}
	per := b.N/pairs + 1
	b.SetBytes(int64(len(env)))
	b.ResetTimer()
	cpu0 := storetest.CPUTime()
	var wg sync.WaitGroup
	var got atomic.Int64
	for i, p := range ps {
		rcpt := addr(fmt.Sprintf("rcpt%d", i), 1)
		frame, _ := wire.Encode(&wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{
			Items: []*wire.Item{{Recipient: rcpt, Envelope: env}}}}})
		credit := make(chan struct{}, window)
		for range window {
			credit <- struct{}{}
		}
		wg.Go(func() { // sender
			for range per {
				select {
				case <-credit:
				case <-time.After(time.Second):
					return // items were dropped: the receiver gave up
				}
				p.from.writeRaw(frame)
			}
		})
		wg.Go(func() { // receiver
			n := 0
			for n < per {
				f, err := p.to.next(time.Second)
				if err != nil {
					break
				}
				for range f.GetDeliverEphemeral().GetEnvelopes() {
					n++
					credit <- struct{}{}
				}
			}
			got.Add(int64(n))
		})
	}
	wg.Wait()
	if d := got.Load(); d != int64(per*pairs) {
		b.Errorf("%d of %d items delivered", d, per*pairs)
	}
	if cpu := storetest.CPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(per*pairs), "cpu-us/item")
	}
}

// BenchmarkEphemeralRoute: the relay's own work for one ephemeral item,
// without the network: decoding a SendEphemeral of one 1 KiB item,
// the buckets, the routing and queueing it to the recipient's connection
// (whose writer never runs). The rest of an item's cost in
// sealpost-bench --ephemeral is the transport: a TLS WebSocket frame in
// and one out.
func BenchmarkEphemeralRoute(b *testing.B) {
	lim := DefaultLimits()
	lim.EphemeralPerSecond, lim.EphemeralBurst, lim.EphemeralPairRate, lim.EphemeralPairBurst = 1<<30, 1<<30, 1<<30, 1<<30
	s := &Server{lim: lim, conns: map[string]*conn{}, ephPairs: newEphemeralPairs(lim)}
	rc := &conn{s: s, writing: true}
	rc.authed.Store(true)
	to := wire.FormatAddress("bob", 1)
	s.conns[string(to)] = rc
	c := &conn{s: s, account: "alice", budget: accountBudget("alice"), ebucket: newBucket(1<<30, time.Now())}
	c.authed.Store(true)
	f, _ := wire.Encode(&wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{Items: []*wire.Item{{Recipient: to, Envelope: make([]byte, 1024)}}}}})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		fr, err := wire.Decode(f, 0)
		if err != nil {
			b.Fatal(err)
		}
		c.handle(fr)
		if i%200 == 0 {
			rc.mu.Lock()
			rc.out, rc.ephQueued, rc.ephLast = nil, 0, nil
			rc.mu.Unlock()
		}
	}
}
