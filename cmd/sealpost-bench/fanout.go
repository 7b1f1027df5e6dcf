package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/trace"
	"slices"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// Fan-out mode (--fanout N): the latency of a group message to N member
// devices (spec/relay.md §16).
//
// One sender device and N recipient devices, each on its own
// authenticated TLS 1.3 connection. The sender sends --fanout-warmup +
// --fanout-messages shared sends, one every --fanout-interval, each one
// body of --size bytes to all N devices; the recipients ack what they are
// delivered. A sample is one (message, device) pair: from the moment the
// sender stamps the Send (the time travels in the body, just before the
// frame is written) to the moment that device's reader has the Delivery.
// The report gives p50/p90/p99/max over the N x messages samples (the
// warm-up messages are not counted), the spread of each message's p50 and
// max over the messages, and how long the sender waited for its
// SendResult (the body and the N references durable, spec/relay.md §16.2
// step 5).

// fanoutReport is what --fanout adds to the report.
type fanoutReport struct {
	Recipients int     `json:"recipients"`
	Messages   int     `json:"messages"`
	Warmup     int     `json:"warmup_messages"`
	IntervalMs float64 `json:"interval_ms"`
	// Latency is over every (message, device) sample; PerMessageP50 and
	// PerMessageMax are the min/median/max over the messages of each
	// message's p50 and max (ms).
	Latency       latencySummary `json:"latency_ms"`
	PerMessageP50 spread         `json:"per_message_p50_ms"`
	PerMessageMax spread         `json:"per_message_max_ms"`
	// SendResult is the sender's wait from the Send to its SendResult.
	SendResult latencySummary `json:"send_result_ms"`
	// CPUPerMessage is the tool's process CPU time (user and system) over
	// the messages, per message, ms: with --self the relay's and the
	// N+1 connections' together, a figure steadier than the latency on a
	// shared machine.
	CPUPerMessage float64 `json:"process_cpu_ms_per_message"`
	Delivered     int64   `json:"delivered"`
	Missing       int64   `json:"missing"`
}

// spread is the min, median and max of a set of figures.
type spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return spread{Min: s[0], Median: s[len(s)/2], Max: s[len(s)-1]}
}

func (f *fanoutReport) print(w io.Writer) {
	fmt.Fprintf(w, "fan-out          1 sender, %d recipient devices, %d messages (+%d warm-up) one every %.0f ms\n",
		f.Recipients, f.Messages, f.Warmup, f.IntervalMs)
	l := f.Latency
	fmt.Fprintf(w, "latency ms       p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (%d samples: Send to each device's Delivery)\n", l.P50, l.P90, l.P99, l.Max, l.Count)
	fmt.Fprintf(w, "per message p50  min %.2f  median %.2f  max %.2f\n", f.PerMessageP50.Min, f.PerMessageP50.Median, f.PerMessageP50.Max)
	fmt.Fprintf(w, "per message max  min %.2f  median %.2f  max %.2f\n", f.PerMessageMax.Min, f.PerMessageMax.Median, f.PerMessageMax.Max)
	s := f.SendResult
	fmt.Fprintf(w, "process CPU      %.1f ms per message (this process: with --self, the relay and the connections)\n", f.CPUPerMessage)
	fmt.Fprintf(w, "SendResult ms    p50 %.2f  p90 %.2f  max %.2f  (the sender's wait for the durable answer)\n", s.P50, s.P90, s.Max)
	if f.Missing > 0 {
		fmt.Fprintf(w, "NOT DELIVERED    %d\n", f.Missing)
	}
}

// fanout runs --fanout: it opens the connections, sends the messages
// paced through the load's writer (a shared send of one body to every
// recipient), and collects each recipient's latencies.
func fanout(ctx context.Context, o *options, tg *target, runID string, rep *report, stderr io.Writer) error {
	n, msgs := o.fanout, o.fanoutWarmup+o.fanoutMessages
	prefix := "f" + runID
	fmt.Fprintf(stderr, "sealpost-bench: opening %d recipient connections and 1 sender to %s\n", n, tg.url)
	t0 := time.Now()
	conns, err := dialLoadAll(ctx, tg, prefix, n+1, o.dialConc, false, rep)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	rep.ConnectSeconds = time.Since(t0).Seconds()
	recv, sender := conns[:n], conns[n]

	// The sender's writer is the load's (writeLoop): one shared send of
	// --size bytes to all n recipients per job, as many in flight as
	// there are messages (the pace, not the answers, sets the rate).
	lo := *o
	lo.shared, lo.batch, lo.envelopes, lo.inflight = true, n, n*msgs, msgs
	l := &loadRun{o: &lo, rep: rep, run8: run8(runID), jobs: make(chan int, msgs), quit: make(chan struct{}), allIn: make(chan struct{})}
	l.addrs = make([][]byte, n)
	for i := range l.addrs {
		l.addrs[i] = wire.FormatAddress(fmt.Sprintf("%s-%d", prefix, i), 1)
	}
	filler := make([]byte, o.size-minEnvelope)
	rand.Read(filler)

	// The sender's reader times each SendResult: the k-th answer is the
	// k-th Send's (one connection, answered in order, spec/relay.md §7.1).
	var sentMu sync.Mutex
	var sentAt []time.Time
	jobs := make(chan int)
	go func() {
		defer close(l.jobs)
		for first := range jobs {
			sentMu.Lock()
			sentAt = append(sentAt, time.Now())
			sentMu.Unlock()
			l.jobs <- first
		}
	}()
	go pace(ctx, jobs, n*msgs, n, float64(n)/o.fanoutInterval.Seconds())

	if o.fanoutTrace != "" {
		tf, err := os.Create(o.fanoutTrace)
		if err != nil {
			return err
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			return err
		}
		defer trace.Stop()
	}
	fmt.Fprintf(stderr, "sealpost-bench: sending %d shared sends of %d bytes to %d devices, one every %s\n", msgs, o.size, n, o.fanoutInterval)
	u0, s0, cpuErr := processUserSys(os.Getpid())
	lats := make([][]int64, n)
	var rwg, wwg sync.WaitGroup
	l.sent.Add(1)
	for i, c := range recv {
		rwg.Go(func() { lats[i], _ = l.readLoop(c, msgs) })
		wwg.Go(func() { l.ackLoop(c) })
	}
	answers := make(chan time.Time, msgs)
	rwg.Go(func() { l.answerLoop(sender, answers) })
	wwg.Go(func() { l.writeLoop(sender, n, filler, true) })
	l.sent.Wait()
	l.sendsDone.Store(true)
	l.checkDone()
	select {
	case <-l.allIn:
	case <-time.After(o.timeout):
		fmt.Fprintf(stderr, "sealpost-bench: timed out waiting for deliveries\n")
	case <-ctx.Done():
	}
	u1, s1, cpuErr1 := processUserSys(os.Getpid())
	close(l.quit)
	for _, c := range conns {
		c.close()
	}
	rwg.Wait()
	wwg.Wait()
	close(answers)

	f := &fanoutReport{Recipients: n, Messages: o.fanoutMessages, Warmup: o.fanoutWarmup, IntervalMs: float64(o.fanoutInterval.Microseconds()) / 1000}
	rep.Fanout = f
	if cpuErr == nil && cpuErr1 == nil {
		f.CPUPerMessage = float64((u1 - u0 + s1 - s0).Microseconds()) / 1000 / float64(msgs)
	}
	rep.Stored = l.stored.Load()
	rep.Acked = l.received.Load()
	rep.Lost = max(rep.Stored-rep.Acked, 0)
	// A recipient's deliveries come in its mailbox's order, the order of
	// the Sends (one sender, one Send at a time in the store): sample k
	// of a recipient is message k's. A recipient missing any is counted
	// missing and left out of the per-message figures.
	all := newLatencies(n * o.fanoutMessages)
	perMsg := make([][]int64, o.fanoutMessages)
	for _, ls := range lats {
		f.Delivered += int64(len(ls))
		if len(ls) != msgs {
			f.Missing += int64(msgs - len(ls))
			continue
		}
		for k, ns := range ls[o.fanoutWarmup:] {
			all.ns = append(all.ns, ns)
			perMsg[k] = append(perMsg[k], ns)
		}
	}
	f.Latency = all.summary()
	var p50s, maxes []float64
	for _, ns := range perMsg {
		if len(ns) == 0 {
			continue
		}
		s := (&latencies{ns: ns}).summary()
		p50s, maxes = append(p50s, s.P50), append(maxes, s.Max)
	}
	f.PerMessageP50, f.PerMessageMax = spreadOf(p50s), spreadOf(maxes)
	ack := newLatencies(msgs)
	k := 0
	for at := range answers {
		sentMu.Lock()
		if k < len(sentAt) && k >= o.fanoutWarmup {
			ack.ns = append(ack.ns, int64(at.Sub(sentAt[k])))
		}
		sentMu.Unlock()
		k++
	}
	f.SendResult = ack.summary()
	return nil
}

// answerLoop is the sender's reader: readLoop's accounting of the
// answers, and the time each arrived on answers.
func (l *loadRun) answerLoop(c *lconn, answers chan<- time.Time) {
	var buf []byte
	var f relayFrame
	for {
		op, p, err := c.readWS(buf[:0])
		buf = p
		if err == nil && op != opBinary {
			err = fmt.Errorf("%w: text message", errProtocol)
		}
		if err == nil {
			err = parseRelayFrame(p, &f)
		}
		if err != nil {
			c.failed(err)
			return
		}
		switch f.kind {
		case 4: // SendResult
			select {
			case answers <- time.Now():
			default:
			}
			if !f.duplicate {
				for _, s := range f.statuses {
					l.rep.addStatusN(s, 1)
					if s == wire.Status_STATUS_STORED {
						l.stored.Add(1)
					}
				}
			}
			c.mu.Lock()
			c.answered++
			c.mu.Unlock()
			c.poke()
		case 7: // Ping
			c.mu.Lock()
			c.pongs = append(c.pongs, f.nonce)
			c.mu.Unlock()
			c.poke()
		case 9: // Error
			c.failed(&relayclient.RemoteError{Code: f.code})
			return
		}
	}
}

// ackLoop is a recipient's writer: it acks what the reader took and
// answers pings, until the measurement ends (writeLoop without Sends and
// their buffers).
func (l *loadRun) ackLoop(c *lconn) {
	var out, frame []byte
	var spare []uint64
	for {
		c.mu.Lock()
		acks, pongs, wsPongs, err := c.acks, c.pongs, c.wsPongs, c.err
		c.acks, c.pongs, c.wsPongs = spare[:0], nil, nil
		c.mu.Unlock()
		spare = acks
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.rep.addError("read: " + errKind(err))
			}
			return
		}
		acked := len(acks)
		out, frame = c.appendReplies(out[:0], frame, wsPongs, pongs, acks)
		if len(out) > 0 {
			if _, err := c.tc.Write(out); err != nil {
				c.failed(err)
				continue
			}
			if acked > 0 {
				l.lastAck.Store(time.Now().UnixNano())
				l.received.Add(int64(acked))
				l.checkDone()
			}
			continue
		}
		select {
		case <-c.wake:
		case <-l.quit:
			return
		}
	}
}
