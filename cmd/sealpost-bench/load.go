package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/internal/keyfile"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// Envelope layout of the load (the relay never looks inside): send time in
// Unix nanoseconds (8 bytes, big-endian), sequence number (8 bytes), then
// filler.
const minEnvelope = 16

// tokenLifetime is the lifetime of the tokens the tool mints.
const tokenLifetime = time.Hour

// bench runs the whole measurement.
func bench(ctx context.Context, o *options, stderr io.Writer) (*report, error) {
	var tg target
	if o.ephemeral {
		c, err := startChild(ctx, o, stderr)
		if err != nil {
			return nil, err
		}
		defer c.shutdown()
		var run [4]byte
		rand.Read(run[:])
		rep := &report{Self: o.self, Devices: o.devices, Envelopes: o.envelopes, Size: o.size, Rate: o.rate,
			Errors: map[string]int64{}, Statuses: map[string]int64{}}
		return rep, runEphemeral(ctx, o, c, hex.EncodeToString(run[:]), rep, stderr)
	}
	if o.anonymous || o.compare {
		c, err := startChild(ctx, o, stderr)
		if err != nil {
			return nil, err
		}
		defer c.shutdown()
		return runAnonymous(ctx, o, c, stderr)
	}
	if o.herd > 0 {
		c, err := startChild(ctx, o, stderr)
		if err != nil {
			return nil, err
		}
		defer c.shutdown()
		rep := &report{Self: o.self, Errors: map[string]int64{}, Statuses: map[string]int64{}}
		return rep, runHerd(ctx, o, c, rep, stderr)
	}
	if o.idle > 0 && o.self != "" && o.push == 0 {
		return runIdleChild(ctx, o, stderr)
	}
	if o.mqtt != "" {
		return benchMQTT(ctx, o, stderr)
	}
	var pb *pushBench
	pid := o.serverPID
	if o.relayChild {
		c, err := startChild(ctx, o, stderr)
		if err != nil {
			return nil, err
		}
		defer c.shutdown()
		tg, pid = c.target, c.pid()
	} else if o.self != "" {
		s, err := startSelf(ctx, o, stderr)
		if err != nil {
			return nil, err
		}
		pb = s.push
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			s.close(cctx)
		}()
		tg = s.target
	} else {
		tc, err := clientTLS(o)
		if err != nil {
			return nil, err
		}
		key, err := keyfile.ReadEd25519(o.tokenKey)
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(o.url)
		if err != nil || u.Scheme != "wss" {
			return nil, fmt.Errorf("--url %q: want wss://HOST:PORT/v1/relay", o.url)
		}
		if o.idle > 0 && o.metrics == "" {
			return nil, errors.New("--idle against a running sealpostd needs --metrics: its admin listener's /metrics URL (sealpostd --admin-listen 127.0.0.1:9090)")
		}
		tg = target{url: o.url, tls: tc, key: key, audience: "relay:" + o.name, metrics: o.metrics}
	}
	rep := &report{Devices: o.devices, Envelopes: o.envelopes, Size: o.size, Batch: o.batch, Shared: o.shared, InFlight: o.inflight, Rate: o.rate,
		Self: o.self, Errors: map[string]int64{}, Statuses: map[string]int64{}}
	var run [4]byte
	rand.Read(run[:])
	runID := hex.EncodeToString(run[:])

	if o.fanout > 0 {
		rep.Envelopes = 0 // the fan-out report stands alone
		return rep, fanout(ctx, o, &tg, runID, rep, stderr)
	}
	if pb != nil {
		rep.Push = &pushReport{Offline: o.push, Registered: o.pushRegister, Interval: o.pushInterval.Seconds(),
			Latency: float64(o.pushLatency.Microseconds()) / 1000, Hang: o.pushHang}
		verb := "registering"
		if !o.pushRegister {
			verb = "connecting (no registration)"
		}
		fmt.Fprintf(stderr, "sealpost-bench: %s %d offline devices\n", verb, o.push)
		t0 := time.Now()
		var err error
		if pb.offline, err = registerOffline(ctx, o, &tg, "p"+runID, pb.sink.url, rep); err != nil {
			return nil, err
		}
		rep.Push.RegisterSeconds = time.Since(t0).Seconds()
	}
	if o.envelopes > 0 {
		if o.serverPID > 0 {
			rep.Server = "server-pid"
		}
		if err := load(ctx, o, &tg, runID, loadMode{push: pb, pid: pid}, rep, stderr); err != nil {
			return nil, err
		}
	}
	if o.idle > 0 {
		if err := idle(ctx, o, &tg, runID, rep, stderr); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// mint returns a token text for device i of this run.
func mint(tg *target, handle string) (string, error) {
	now := time.Now()
	t, err := token.Issue(rand.Reader, tg.key, token.Claims{
		Handle: handle, Device: keys.DeviceID(1), Audience: tg.audience,
		IssuedAt: now.Add(-time.Minute), Expiry: now.Add(tokenLifetime - time.Minute),
	})
	if err != nil {
		return "", err
	}
	return t.Encode(), nil
}

// dialAll opens n authenticated connections for handles prefix-0 ... with
// at most conc handshakes at once.
func dialAll(ctx context.Context, tg *target, prefix string, n, conc int, rep *report) ([]*relayclient.Conn, error) {
	return dialIdle(ctx, tg, prefix, n, conc, nil, rep)
}

// dialIdle is dialAll where, with sources, connection i leaves from
// sources[i%len(sources)] (one source address has only the ephemeral port
// range, about 28,000 ports by default, for connections to one relay
// address).
func dialIdle(ctx context.Context, tg *target, prefix string, n, conc int, sources []net.IP, rep *report) ([]*relayclient.Conn, error) {
	conns := make([]*relayclient.Conn, n)
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tok, err := mint(tg, fmt.Sprintf("%s-%d", prefix, i))
			if err == nil {
				err = paced(ctx, func(dctx context.Context) (err error) {
					if len(sources) == 0 {
						conns[i], _, err = relayclient.Dial(dctx, tg.url, tg.tls, tok)
						return err
					}
					d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: sources[i%len(sources)]}}
					conns[i], _, err = relayclient.DialVia(dctx, tg.url, tg.tls, tok, d.DialContext)
					return err
				})
			}
			if err != nil {
				rep.addError("dial: " + errKind(err))
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
		return nil, fmt.Errorf("opening connections: %w", firstErr)
	}
	return conns, nil
}

// load sends o.envelopes envelopes among o.devices connections and waits
// until every stored one is delivered and acked (or o.timeout passes
// after the last answer). Each connection (lconn) has a reader, which
// takes answers and deliveries, and a writer, which keeps o.inflight
// Sends in flight, taking batches of sequence numbers from a paced
// channel, and acks what the reader took.
//
// With m.tokens (--anonymous) the devices only receive: as many anonymous
// connections send, each Send paid with the next token (spec/relay.md
// §15). With m.pid (a relay child) the relay's CPU time over the run is
// measured.
func load(ctx context.Context, o *options, tg *target, runID string, m loadMode, rep *report, stderr io.Writer) error {
	prefix := "b" + runID
	nConns := o.devices
	if o.senders > 0 {
		nConns = o.receivers
		rep.Senders, rep.Receivers = o.senders, o.receivers
	}
	fmt.Fprintf(stderr, "sealpost-bench: opening %d device connections to %s\n", nConns, tg.url)
	t0 := time.Now()
	conns, err := dialLoadAll(ctx, tg, prefix, nConns, o.dialConc, false, rep)
	if err != nil {
		return err
	}
	senders := conns
	if o.senders > 0 {
		// --senders: devices of their own that only send, each Send to
		// a random receiver.
		fmt.Fprintf(stderr, "sealpost-bench: opening %d sender connections\n", o.senders)
		if senders, err = dialLoadAll(ctx, tg, prefix+"s", o.senders, o.dialConc, false, rep); err != nil {
			for _, c := range conns {
				c.close()
			}
			return err
		}
	}
	if m.tokens != nil {
		rep.Anonymous = true
		fmt.Fprintf(stderr, "sealpost-bench: opening %d anonymous connections\n", o.devices)
		if senders, err = dialLoadAll(ctx, tg, prefix, o.devices, o.dialConc, true, rep); err != nil {
			for _, c := range conns {
				c.close()
			}
			return err
		}
	}
	rep.ConnectSeconds = time.Since(t0).Seconds()
	all := conns
	if m.tokens != nil || o.senders > 0 {
		all = append(slices.Clone(conns), senders...)
	}
	defer func() {
		for _, c := range all {
			c.close()
		}
	}()
	l := &loadRun{o: o, rep: rep, run8: run8(runID), tokens: m.tokens, jobs: make(chan int, 1024), quit: make(chan struct{}), allIn: make(chan struct{})}
	if m.push != nil {
		l.offline = m.push.offline
	}
	l.addrs = make([][]byte, len(conns))
	for i := range l.addrs {
		l.addrs[i] = wire.FormatAddress(fmt.Sprintf("%s-%d", prefix, i), 1)
	}
	filler := make([]byte, o.size-minEnvelope)
	rand.Read(filler)

	go pace(ctx, l.jobs, o.envelopes, o.batch, o.rate)
	fmt.Fprintf(stderr, "sealpost-bench: sending %d envelopes of %d bytes, %d per Send (%s)\n", o.envelopes, o.size, o.batch, rateText(o.rate))
	u0, s0, cpuErr := processUserSys(m.pid)
	tool0 := selfCPU()
	start := time.Now()
	lats := make([][]int64, len(all))
	statuses := make([][]int64, len(all))
	var rwg, wwg sync.WaitGroup
	l.sent.Add(len(senders))
	for i, c := range all {
		expect := o.envelopes/len(conns) + 1
		if i >= len(conns) {
			expect = 0 // an anonymous sender: nothing delivered
		}
		sender := m.tokens == nil && o.senders == 0 || i >= len(conns)
		rwg.Go(func() { lats[i], statuses[i] = l.readLoop(c, expect) })
		wwg.Go(func() { l.writeLoop(c, i, filler, sender) })
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
	u1, s1, cpuErr1 := processUserSys(m.pid)
	tool1 := selfCPU()
	end := time.Unix(0, l.lastAck.Load())
	if end.Before(sendEnd) {
		end = sendEnd
	}
	if m.push != nil {
		wakes := m.push.sink.requests.Load()
		rep.Push.OfflineStored, rep.Push.OfflineRefused = l.offStored.Load(), l.offRefused.Load()
		defer func() { m.push.finish(rep.Push, start, end, wakes) }()
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
	if rep.Seconds > 0 {
		rep.AckedPerSecond = float64(rep.Acked) / rep.Seconds
		rep.SentPerSecond = float64(rep.Stored) / rep.SendSeconds
	}
	if m.pid > 0 && cpuErr == nil && cpuErr1 == nil && rep.Stored > 0 {
		cpu := u1 - u0 + s1 - s0
		rep.RelayCPUSeconds = cpu.Seconds()
		rep.RelayCPUPerEnvelope = float64(cpu.Microseconds()) / float64(rep.Stored)
		rep.RelaySysPerEnvelope = float64((s1 - s0).Microseconds()) / float64(rep.Stored)
	} else if m.pid > 0 {
		fmt.Fprintf(stderr, "sealpost-bench: relay CPU not measured: %v\n", errors.Join(cpuErr, cpuErr1))
	}
	if (m.pid > 0 || o.self == "") && rep.Stored > 0 {
		// The relay is not in this process: the tool's CPU is its own.
		rep.ToolCPUSeconds = (tool1 - tool0).Seconds()
		rep.ToolCPUPerEnvelope = float64((tool1 - tool0).Microseconds()) / float64(rep.Stored)
	}
	lat := newLatencies(o.envelopes)
	for i := range all {
		lat.ns = append(lat.ns, lats[i]...)
		for st, n := range statuses[i] {
			if n > 0 {
				rep.addStatusN(wire.Status(st), n)
			}
		}
	}
	rep.Latency = lat.summary()
	return nil
}

// loadRun is the state the connections of one load share.
type loadRun struct {
	o     *options
	rep   *report
	addrs [][]byte
	run8  []byte
	jobs  chan int // first sequence number of each Send, paced
	// tokens pay for the Sends of anonymous connections: the Send of
	// sequence numbers from first spends tokens[first/batch].
	tokens [][]byte
	// offline are --push's offline devices: each Send carries one more
	// envelope, its last item, to a random one of them.
	offline    [][]byte
	offStored  atomic.Int64  // those answered stored
	offRefused atomic.Int64  // those answered otherwise
	quit       chan struct{} // closed when the measurement ends

	sent      sync.WaitGroup // one per connection: all its Sends answered (or failed)
	sendsDone atomic.Bool
	stored    atomic.Int64 // envelopes answered stored
	received  atomic.Int64 // envelopes delivered and acked
	lastAck   atomic.Int64 // Unix ns of the last ack written
	allIn     chan struct{}
	allInOnce sync.Once
}

func (l *loadRun) checkDone() {
	if l.sendsDone.Load() && l.received.Load() >= l.stored.Load() {
		l.allInOnce.Do(func() { close(l.allIn) })
	}
}

// readLoop reads the relay's frames until the connection ends: it counts
// the answers' statuses, records the latency of every delivery and hands
// its id to the writer to ack. It returns the latencies (ns) and the
// count of each status.
func (l *loadRun) readLoop(c *lconn, expect int) ([]int64, []int64) {
	lat := make([]int64, 0, expect+expect/2)
	statuses := make([]int64, len(wire.Status_name))
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
			return lat, statuses
		}
		switch f.kind {
		case 4: // SendResult
			if !f.duplicate {
				st := f.statuses
				if l.offline != nil && len(st) > 0 {
					if st[len(st)-1] == wire.Status_STATUS_STORED {
						l.offStored.Add(1)
					} else {
						l.offRefused.Add(1)
					}
					st = st[:len(st)-1]
				}
				for _, s := range st {
					if int(s) < len(statuses) {
						statuses[s]++
					}
					if s == wire.Status_STATUS_STORED {
						l.stored.Add(1)
					}
				}
			}
			c.mu.Lock()
			c.answered++
			c.mu.Unlock()
			c.poke()
		case 5: // Deliver
			now := time.Now().UnixNano()
			for _, env := range f.envs {
				if len(env) >= minEnvelope {
					lat = append(lat, now-int64(binary.BigEndian.Uint64(env)))
				}
			}
			c.mu.Lock()
			c.acks = append(c.acks, f.ids...)
			c.mu.Unlock()
			c.poke()
		case 7: // Ping
			c.mu.Lock()
			c.pongs = append(c.pongs, f.nonce)
			c.mu.Unlock()
			c.poke()
		case 9: // Error
			c.failed(&relayclient.RemoteError{Code: f.code})
			return lat, statuses
		}
	}
}

// writeLoop writes connection i's frames until the measurement ends: acks
// and pongs the reader asks for, and, if it is a sender, Sends, at most
// o.inflight unanswered, all that are ready together in one write.
func (l *loadRun) writeLoop(c *lconn, i int, filler []byte, sender bool) {
	o := l.o
	sent := !sender // a receiver only: not counted in l.sent
	doneSending := func() {
		if !sent {
			sent = true
			l.sent.Done()
		}
	}
	defer doneSending()
	envs := make([][]byte, o.batch+1) // +1: --push's offline envelope
	for i := range envs {
		envs[i] = make([]byte, o.size)
		copy(envs[i][minEnvelope:], filler)
	}
	rcpts := make([][]byte, o.batch+1)
	r := mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	var out, frame []byte
	var spare []uint64
	outstanding, open, held := 0, sender, -1
	send := func(first int) {
		n := min(o.batch, o.envelopes-first)
		var id [wire.MessageIDSize]byte
		binary.BigEndian.PutUint64(id[:], uint64(first))
		copy(id[8:], l.run8)
		now := uint64(time.Now().UnixNano())
		var tok []byte
		if l.tokens != nil {
			tok = l.tokens[first/o.batch]
		}
		if o.shared {
			// One body to n distinct devices (spec/relay.md §16).
			binary.BigEndian.PutUint64(envs[0][0:], now)
			binary.BigEndian.PutUint64(envs[0][8:], uint64(first))
			start := r.IntN(len(l.addrs))
			for i := range n {
				rcpts[i] = l.addrs[(start+i)%len(l.addrs)]
			}
			frame = appendSharedSend(frame[:0], &id, rcpts[:n], envs[0], tok)
		} else {
			for i := range n {
				binary.BigEndian.PutUint64(envs[i][0:], now)
				binary.BigEndian.PutUint64(envs[i][8:], uint64(first+i))
				rcpts[i] = l.addrs[r.IntN(len(l.addrs))]
			}
			items := n
			if l.offline != nil {
				// --push: the last item is for an offline device.
				binary.BigEndian.PutUint64(envs[n][0:], now)
				binary.BigEndian.PutUint64(envs[n][8:], uint64(first))
				rcpts[n] = l.offline[r.IntN(len(l.offline))]
				items++
			}
			frame = appendSend(frame[:0], &id, rcpts[:items], envs[:items], tok)
		}
		out = c.appendWS(out, opBinary, frame)
		outstanding++
	}
	for {
		c.mu.Lock()
		acks, pongs, wsPongs, answered, err := c.acks, c.pongs, c.wsPongs, c.answered, c.err
		c.acks, c.pongs, c.wsPongs, c.answered = spare[:0], nil, nil, 0
		c.mu.Unlock()
		spare = acks
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.rep.addError("read: " + errKind(err))
			}
			if outstanding > 0 {
				l.rep.addErrorN("send: "+errKind(err), int64(outstanding))
			}
			return
		}
		outstanding -= answered
		acked := len(acks)
		out, frame = c.appendReplies(out[:0], frame, wsPongs, pongs, acks)
		if held >= 0 {
			send(held)
			held = -1
		}
	take:
		for open && outstanding < o.inflight && len(out) < maxWriteBatch {
			select {
			case first, ok := <-l.jobs:
				if !ok {
					open = false
					break take
				}
				send(first)
			default:
				break take
			}
		}
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
		if !open && outstanding == 0 {
			doneSending()
		}
		var jobs <-chan int
		if open && outstanding < o.inflight {
			jobs = l.jobs
		}
		select {
		case <-c.wake:
		case first, ok := <-jobs:
			if ok {
				held = first
			} else {
				open = false
			}
		case <-l.quit:
			return
		}
	}
}

// dialLoadAll opens n load connections for handles prefix-0 ... (or, if
// anonymous, n anonymous connections) with at most conc handshakes at
// once.
func dialLoadAll(ctx context.Context, tg *target, prefix string, n, conc int, anonymous bool, rep *report) ([]*lconn, error) {
	conns := make([]*lconn, n)
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var tok string
			var err error
			if !anonymous {
				tok, err = mint(tg, fmt.Sprintf("%s-%d", prefix, i))
			}
			if err == nil {
				err = paced(ctx, func(dctx context.Context) (err error) {
					conns[i], err = dialLoad(dctx, tg.url, tg.tls, tok)
					return err
				})
			}
			if err != nil {
				rep.addError("dial: " + errKind(err))
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
		return nil, fmt.Errorf("opening connections: %w", firstErr)
	}
	return conns, nil
}

// paced runs dial (bounded by 30 s) until it succeeds, fails other than
// busy, or ctx ends: a relay pacing its upgrades (spec/relay.md §2.5)
// answers 503 with a retry hint, honoured here as a client would.
func paced(ctx context.Context, dial func(context.Context) error) error {
	for {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := dial(dctx)
		cancel()
		var busy *relayclient.BusyError
		if !errors.As(err, &busy) {
			return err
		}
		select {
		case <-time.After(busy.RetryAfter + mrand.N(busy.RetryAfter/10+1)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// selfCPU is this process's CPU time so far, user and system (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run8 returns 8 bytes of the run id for message ids.
func run8(runID string) []byte {
	b, _ := hex.DecodeString(runID)
	return append(b, b...)
}

// pace sends the first sequence number of every batch of 0..n-1 on jobs,
// at rate envelopes per second if rate > 0, then closes it.
func pace(ctx context.Context, jobs chan<- int, n, batch int, rate float64) {
	defer close(jobs)
	start := time.Now()
	for i := 0; i < n; i += batch {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > time.Millisecond {
				time.Sleep(d)
			}
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			return
		}
	}
}

func rateText(rate float64) string {
	if rate == 0 {
		return "flat out"
	}
	return fmt.Sprintf("at %.0f/s", rate)
}

// errKind names an error for the error counts without its details.
func errKind(err error) string {
	var re *relayclient.RemoteError
	switch {
	case errors.As(err, &re):
		return strings.ToLower(strings.TrimPrefix(re.Code.String(), "ERROR_CODE_"))
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, relayclient.ErrClosed):
		return "closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
