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
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/internal/keyfile"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/relayclient"
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
	if o.self != "" {
		s, err := startSelf(ctx, o, stderr)
		if err != nil {
			return nil, err
		}
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
		tg = target{url: o.url, tls: tc, key: key, audience: "relay:" + o.name,
			metrics: "https://" + u.Host + "/metrics"}
	}
	rep := &report{Devices: o.devices, Envelopes: o.envelopes, Size: o.size, Batch: o.batch, InFlight: o.inflight, Rate: o.rate,
		Self: o.self, Errors: map[string]int64{}, Statuses: map[string]int64{}}
	var run [4]byte
	rand.Read(run[:])
	runID := hex.EncodeToString(run[:])

	if o.envelopes > 0 {
		if err := load(ctx, o, &tg, runID, rep, stderr); err != nil {
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
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				conns[i], _, err = relayclient.Dial(dctx, tg.url, tg.tls, tok)
				cancel()
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
// after the last answer).
func load(ctx context.Context, o *options, tg *target, runID string, rep *report, stderr io.Writer) error {
	prefix := "b" + runID
	fmt.Fprintf(stderr, "sealpost-bench: opening %d device connections to %s\n", o.devices, tg.url)
	t0 := time.Now()
	conns, err := dialAll(ctx, tg, prefix, o.devices, o.dialConc, rep)
	if err != nil {
		return err
	}
	rep.ConnectSeconds = time.Since(t0).Seconds()
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	addrs := make([][]byte, o.devices)
	for i := range addrs {
		addrs[i] = wire.FormatAddress(fmt.Sprintf("%s-%d", prefix, i), 1)
	}

	var stored, received atomic.Int64
	lat := newLatencies(o.envelopes)
	allIn := make(chan struct{})
	var sendsDone atomic.Bool
	checkDone := func() {
		if sendsDone.Load() && received.Load() >= stored.Load() {
			select {
			case <-allIn:
			default:
				close(allIn)
			}
		}
	}
	var lastAck atomic.Int64

	// Receivers: take deliveries, record latency, ack everything taken.
	var rwg sync.WaitGroup
	for _, c := range conns {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			var ids []uint64
			for d := range c.Deliveries() {
				ids = append(ids[:0], d.Id)
				now := time.Now()
				lat.add(now, d.Envelope)
			drain:
				for {
					select {
					case d2, ok := <-c.Deliveries():
						if !ok {
							break drain
						}
						ids = append(ids, d2.Id)
						lat.add(now, d2.Envelope)
					default:
						break drain
					}
				}
				if err := c.Ack(ctx, ids...); err != nil {
					rep.addError("ack: " + errKind(err))
				}
				lastAck.Store(time.Now().UnixNano())
				received.Add(int64(len(ids)))
				checkDone()
			}
		}()
	}

	// Senders: o.inflight workers per device take batches of sequence
	// numbers from a paced channel.
	jobs := make(chan int, 1024)
	go pace(ctx, jobs, o.envelopes, o.batch, o.rate)
	filler := make([]byte, o.size-minEnvelope)
	rand.Read(filler)
	fmt.Fprintf(stderr, "sealpost-bench: sending %d envelopes of %d bytes, %d per Send (%s)\n", o.envelopes, o.size, o.batch, rateText(o.rate))
	start := time.Now()
	var swg sync.WaitGroup
	for di, c := range conns {
		for range o.inflight {
			swg.Add(1)
			go func() {
				defer swg.Done()
				envs := make([][]byte, o.batch)
				for i := range envs {
					envs[i] = make([]byte, o.size)
					copy(envs[i][minEnvelope:], filler)
				}
				items := make([]*wire.Item, 0, o.batch)
				r := mrand.New(mrand.NewPCG(uint64(di), uint64(time.Now().UnixNano())))
				for first := range jobs {
					n := min(o.batch, o.envelopes-first)
					var id [wire.MessageIDSize]byte
					binary.BigEndian.PutUint64(id[:], uint64(first))
					copy(id[8:], run8(runID))
					now := uint64(time.Now().UnixNano())
					items = items[:0]
					for i := range n {
						binary.BigEndian.PutUint64(envs[i][0:], now)
						binary.BigEndian.PutUint64(envs[i][8:], uint64(first+i))
						items = append(items, &wire.Item{Recipient: addrs[r.IntN(len(addrs))], Envelope: envs[i]})
					}
					st, _, err := c.Send(ctx, id, items)
					if err != nil {
						rep.addError("send: " + errKind(err))
						continue
					}
					for _, s := range st {
						rep.addStatus(s)
						if s == wire.Status_STATUS_STORED {
							stored.Add(1)
						}
					}
				}
			}()
		}
	}
	swg.Wait()
	sendEnd := time.Now()
	sendsDone.Store(true)
	checkDone()
	select {
	case <-allIn:
	case <-time.After(o.timeout):
		fmt.Fprintf(stderr, "sealpost-bench: timed out waiting for deliveries\n")
	case <-ctx.Done():
	}
	end := time.Unix(0, lastAck.Load())
	if end.Before(sendEnd) {
		end = sendEnd
	}
	rep.SendSeconds = sendEnd.Sub(start).Seconds()
	rep.Seconds = end.Sub(start).Seconds()
	rep.Stored = stored.Load()
	rep.Acked = received.Load()
	rep.Lost = max(rep.Stored-rep.Acked, 0)
	if rep.Seconds > 0 {
		rep.AckedPerSecond = float64(rep.Acked) / rep.Seconds
		rep.SentPerSecond = float64(rep.Stored) / rep.SendSeconds
	}
	rep.Latency = lat.summary()
	for _, c := range conns {
		c.CloseNow()
	}
	rwg.Wait()
	return nil
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
