package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"time"
)

// --mqtt loads an MQTT 3.1.1 broker (mqtt.go) as the default mode loads
// the relay, for bench/compare.sh: --receivers subscribers, each on a
// topic of its own, and --senders publishers, each PUBLISH (QoS 1) of
// --size bytes to a random subscriber's topic with at most --inflight
// unacknowledged, paced as the relay's load is (--rate). The payload
// carries the send time as the relay's envelopes do (minEnvelope), so the
// latency is the same measure: from the PUBLISH written to its delivery
// read by the subscriber. A PUBLISH acknowledged by the broker counts as
// stored, a delivery acknowledged by its subscriber as delivered and
// acked.
//
// Client ids are fixed (sealpost-bench-pub-N, sealpost-bench-sub-N), so
// two loads of one broker at once collide; each client first connects
// with clean session 1 and disconnects, which discards any session a
// previous run left (§3.1.2.4), then connects with clean session 0: the
// broker keeps the session and its QoS 1 messages (as durable as its
// persistence makes them) across disconnections.

// mqttTopicPrefix begins the subscribers' topics; subscriber i listens
// on mqttTopicPrefix + i.
const mqttTopicPrefix = "sealpost-bench/r"

// mqttMaxPacket bounds the packets the client reads.
const mqttMaxPacket = 16 << 20

// validateMQTT checks the options of --mqtt.
func (o *options) validateMQTT() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.mqtt); err != nil {
		errs = append(errs, fmt.Errorf("--mqtt %q: want HOST:PORT", o.mqtt))
	}
	if o.senders < 1 || o.receivers < 1 {
		errs = append(errs, errors.New("--mqtt: needs --senders and --receivers, at least 1 each"))
	}
	if o.self != "" || o.relayChild || o.herd > 0 || o.ephemeral || o.anonymous || o.compare || o.push > 0 || o.shared || o.idle > 0 {
		errs = append(errs, errors.New("--mqtt: not with --self, --relay-child, --herd, --ephemeral, --anonymous, --push, --shared or --idle"))
	}
	if o.batch != 1 {
		errs = append(errs, errors.New("--mqtt: --batch 1 (one message per PUBLISH)"))
	}
	if o.mqttTLS && (o.pin == "") == (o.ca == "") {
		errs = append(errs, errors.New("--mqtt-tls: give one of --pin and --ca"))
	}
	if !o.mqttTLS && (o.pin != "" || o.ca != "") {
		errs = append(errs, errors.New("--mqtt: --pin and --ca only with --mqtt-tls"))
	}
	if o.size < minEnvelope || o.size > mqttMaxPacket/2 {
		errs = append(errs, fmt.Errorf("--size: %d to %d", minEnvelope, mqttMaxPacket/2))
	}
	if o.envelopes < 0 || o.rate < 0 || o.serverPID < 0 {
		errs = append(errs, errors.New("--envelopes, --rate and --server-pid: not negative"))
	}
	if o.inflight < 1 || o.inflight > 0xFFFF || o.dialConc < 1 {
		errs = append(errs, errors.New("--inflight: 1 to 65535 with --mqtt (packet identifiers); --dial-concurrency: at least 1"))
	}
	return errors.Join(errs...)
}

// benchMQTT runs --mqtt.
func benchMQTT(ctx context.Context, o *options, stderr io.Writer) (*report, error) {
	rep := &report{Devices: o.senders + o.receivers, Envelopes: o.envelopes, Size: o.size, Batch: 1, InFlight: o.inflight, Rate: o.rate,
		Senders: o.senders, Receivers: o.receivers, MQTT: o.mqtt, MQTTTLS: o.mqttTLS,
		Errors: map[string]int64{}, Statuses: map[string]int64{}}
	if o.serverPID > 0 {
		rep.Server = "server-pid"
	}
	var tc *tls.Config
	if o.mqttTLS {
		var err error
		if tc, err = clientTLS(o); err != nil {
			return nil, err
		}
		tc = tc.Clone()
		tc.MinVersion = tls.VersionTLS13
		if tc.ServerName == "" {
			// --ca verifies the broker's name: the host of --mqtt.
			tc.ServerName, _, _ = net.SplitHostPort(o.mqtt)
		}
	}
	fmt.Fprintf(stderr, "sealpost-bench: opening %d subscriber and %d publisher connections to %s\n", o.receivers, o.senders, o.mqtt)
	t0 := time.Now()
	subs, err := dialMQTTAll(ctx, o, tc, "sealpost-bench-sub-", o.receivers, true, rep)
	if err != nil {
		return nil, err
	}
	pubs, err := dialMQTTAll(ctx, o, tc, "sealpost-bench-pub-", o.senders, false, rep)
	if err != nil {
		for _, c := range subs {
			c.close()
		}
		return nil, err
	}
	rep.ConnectSeconds = time.Since(t0).Seconds()
	all := append(subs, pubs...)
	defer func() {
		for _, c := range all {
			c.close()
		}
	}()

	l := &loadRun{o: o, rep: rep, jobs: make(chan int, 1024), quit: make(chan struct{}), allIn: make(chan struct{})}
	topics := make([][]byte, o.receivers)
	for i := range topics {
		topics[i] = fmt.Appendf(nil, "%s%d", mqttTopicPrefix, i)
	}
	filler := make([]byte, o.size-minEnvelope)
	rand.Read(filler)

	go pace(ctx, l.jobs, o.envelopes, 1, o.rate)
	fmt.Fprintf(stderr, "sealpost-bench: publishing %d messages of %d bytes at QoS 1 (%s)\n", o.envelopes, o.size, rateText(o.rate))
	var u0, s0 time.Duration
	cpuErr := errors.New("no --server-pid")
	if o.serverPID > 0 {
		u0, s0, cpuErr = processUserSys(o.serverPID)
	}
	tool0 := selfCPU()
	start := time.Now()
	lats := make([][]int64, len(all))
	var rwg, wwg sync.WaitGroup
	l.sent.Add(len(pubs))
	for i, c := range all {
		publisher := i >= len(subs)
		expect := 0
		if !publisher {
			expect = o.envelopes/len(subs) + 1
		}
		rwg.Go(func() { lats[i] = l.mqttReadLoop(c, expect) })
		wwg.Go(func() { l.mqttWriteLoop(c, i, topics, filler, publisher) })
	}
	l.sent.Wait()
	sendEnd := time.Now()
	l.sendsDone.Store(true)
	l.checkDone()
	select {
	case <-l.allIn:
	case <-time.After(o.timeout):
		fmt.Fprintf(stderr, "sealpost-bench: timed out waiting for deliveries\n")
	case <-ctx.Done():
	}
	var u1, s1 time.Duration
	var cpuErr1 error
	if o.serverPID > 0 {
		u1, s1, cpuErr1 = processUserSys(o.serverPID)
	}
	tool1 := selfCPU()
	end := time.Unix(0, l.lastAck.Load())
	if end.Before(sendEnd) {
		end = sendEnd
	}
	close(l.quit)
	for _, c := range all {
		c.close()
	}
	rwg.Wait()
	wwg.Wait()

	rep.SendSeconds = sendEnd.Sub(start).Seconds()
	rep.Seconds = end.Sub(start).Seconds()
	rep.Stored = l.stored.Load()
	rep.Acked = l.received.Load()
	rep.Lost = max(rep.Stored-rep.Acked, 0)
	rep.Statuses["puback"] = rep.Stored
	if rep.Seconds > 0 {
		rep.AckedPerSecond = float64(rep.Acked) / rep.Seconds
		rep.SentPerSecond = float64(rep.Stored) / rep.SendSeconds
	}
	if rep.Stored > 0 {
		if o.serverPID > 0 && cpuErr == nil && cpuErr1 == nil {
			cpu := u1 - u0 + s1 - s0
			rep.RelayCPUSeconds = cpu.Seconds()
			rep.RelayCPUPerEnvelope = float64(cpu.Microseconds()) / float64(rep.Stored)
			rep.RelaySysPerEnvelope = float64((s1 - s0).Microseconds()) / float64(rep.Stored)
		} else if o.serverPID > 0 {
			fmt.Fprintf(stderr, "sealpost-bench: server CPU not measured: %v\n", errors.Join(cpuErr, cpuErr1))
		}
		rep.ToolCPUSeconds = (tool1 - tool0).Seconds()
		rep.ToolCPUPerEnvelope = float64((tool1 - tool0).Microseconds()) / float64(rep.Stored)
	}
	lat := newLatencies(o.envelopes)
	for _, ns := range lats {
		lat.ns = append(lat.ns, ns...)
	}
	rep.Latency = lat.summary()
	return rep, nil
}

// dialMQTTAll opens n connections as clientPrefix0 ..., each first
// discarding the session a previous run left (clean session 1, then
// DISCONNECT) and then connecting with clean session 0; subscribers
// subscribe to their topic at QoS 1.
func dialMQTTAll(ctx context.Context, o *options, tc *tls.Config, clientPrefix string, n int, subscribe bool, rep *report) ([]*mconn, error) {
	conns := make([]*mconn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, o.dialConc)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			id := fmt.Sprintf("%s%d", clientPrefix, i)
			c, err := dialMQTT(dctx, o.mqtt, tc, id, true)
			if err == nil {
				c.disconnect()
				c, err = dialMQTT(dctx, o.mqtt, tc, id, false)
			}
			if err == nil && subscribe {
				if err = c.subscribe(dctx, fmt.Sprintf("%s%d", mqttTopicPrefix, i)); err != nil {
					c.close()
				}
			}
			if err != nil {
				rep.addError("dial: " + errKind(err))
				errs[i] = err
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
		return nil, fmt.Errorf("opening MQTT connections: %w", err)
	}
	return conns, nil
}

// mqttReadLoop reads the broker's packets until the connection ends: a
// PUBACK answers one of this publisher's PUBLISHes (stored), a PUBLISH is
// a delivery whose latency it records and whose PUBACK it hands to the
// writer. It returns the latencies (ns).
func (l *loadRun) mqttReadLoop(c *mconn, expect int) []int64 {
	lat := make([]int64, 0, expect+expect/2)
	var buf []byte
	for {
		h, p, err := readMQTT(c.br, buf[:0], mqttMaxPacket)
		buf = p
		if err != nil {
			c.failed(err)
			return lat
		}
		switch h >> 4 {
		case mqttPuback:
			if _, err := parsePuback(p); err != nil {
				c.failed(err)
				return lat
			}
			l.stored.Add(1)
			c.mu.Lock()
			c.answered++
			c.mu.Unlock()
			c.poke()
		case mqttPublish:
			_, id, payload, err := parsePublish(h&0x0F, p)
			if err == nil && id == 0 {
				err = fmt.Errorf("%w: QoS 0 delivery on a QoS 1 subscription", errMQTT)
			}
			if err != nil {
				c.failed(err)
				return lat
			}
			if len(payload) >= minEnvelope {
				lat = append(lat, time.Now().UnixNano()-int64(binary.BigEndian.Uint64(payload)))
			}
			c.mu.Lock()
			c.pubacks = append(c.pubacks, id)
			c.mu.Unlock()
			c.poke()
		case mqttPingresp:
		default:
			c.failed(fmt.Errorf("%w: unexpected packet of type %d", errMQTT, h>>4))
			return lat
		}
	}
}

// mqttWriteLoop writes connection i's packets until the measurement
// ends: the PUBACKs the reader asks for, a PINGREQ every third of the
// keep alive, and, if it is a publisher, PUBLISHes to random
// subscribers' topics, at most o.inflight unacknowledged, all that are
// ready together in one write.
func (l *loadRun) mqttWriteLoop(c *mconn, i int, topics [][]byte, filler []byte, publisher bool) {
	o := l.o
	sent := !publisher // a subscriber: not counted in l.sent
	doneSending := func() {
		if !sent {
			sent = true
			l.sent.Done()
		}
	}
	defer doneSending()
	env := make([]byte, o.size)
	copy(env[minEnvelope:], filler)
	r := mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	ping := time.NewTicker(mqttKeepAlive / 3)
	defer ping.Stop()
	var out []byte
	var spare []uint16
	var id uint16
	outstanding, open, held, pingDue := 0, publisher, -1, false
	publish := func(seq int) {
		if id++; id == 0 {
			id = 1 // 0 is not a packet identifier (§2.3.1)
		}
		binary.BigEndian.PutUint64(env[0:], uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(env[8:], uint64(seq))
		out = appendPublish(out, topics[r.IntN(len(topics))], id, env)
		outstanding++
	}
	for {
		c.mu.Lock()
		acks, answered, err := c.pubacks, c.answered, c.err
		c.pubacks, c.answered = spare[:0], 0
		c.mu.Unlock()
		spare = acks
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.rep.addError("read: " + errKind(err))
			}
			if outstanding > 0 {
				l.rep.addErrorN("publish: "+errKind(err), int64(outstanding))
			}
			return
		}
		outstanding -= answered
		out = out[:0]
		if pingDue {
			out = appendPingreq(out)
			pingDue = false
		}
		for _, a := range acks {
			out = appendPuback(out, a)
		}
		if held >= 0 {
			publish(held)
			held = -1
		}
	take:
		for open && outstanding < o.inflight && len(out) < maxWriteBatch {
			select {
			case seq, ok := <-l.jobs:
				if !ok {
					open = false
					break take
				}
				publish(seq)
			default:
				break take
			}
		}
		if len(out) > 0 {
			if _, err := c.nc.Write(out); err != nil {
				c.failed(err)
				continue
			}
			if len(acks) > 0 {
				l.lastAck.Store(time.Now().UnixNano())
				l.received.Add(int64(len(acks)))
				l.checkDone()
			}
			continue
		}
		if !open && outstanding == 0 {
			doneSending()
		}
		var jobs <-chan int
		if open && outstanding < o.inflight {
			jobs = l.jobs
		}
		select {
		case <-c.wake:
		case seq, ok := <-jobs:
			if ok {
				held = seq
			} else {
				open = false
			}
		case <-ping.C:
			pingDue = true
		case <-l.quit:
			return
		}
	}
}
