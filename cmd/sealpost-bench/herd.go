package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
)

// The reconnect delays of the herd's clients: the client library's
// (client/internal/relaylink defaults), spec/relay.md §2.5.
const (
	herdMinBackoff = 250 * time.Millisecond
	herdMaxBackoff = 2 * time.Second
	// herdDefaultWindow is the window of a relay that announces none.
	herdDefaultWindow = time.Second
)

// herdReport is what --herd measures: N authenticated connections, the
// relay stopped for --down and started again on the same store and
// address, --restarts times; per restart, when each client was back
// (seconds after the relay listened again) and how many were admitted in
// the busiest 100 ms.
type herdReport struct {
	Connections   int         `json:"connections"`
	Mode          string      `json:"mode"` // "restart" (shutting_down) or "drop" (connections cut)
	DownSeconds   float64     `json:"down_seconds"`
	ReconnectRate int         `json:"relay_reconnect_rate"`
	OpenSeconds   float64     `json:"open_seconds"` // to open the N connections at first
	Rounds        []herdRound `json:"restarts"`
	// MedianP50 is the median over the restarts of each one's median.
	MedianP50 float64 `json:"median_p50_seconds"`
}

type herdRound struct {
	Back      int     `json:"reconnected"`
	NotBack   int     `json:"not_back"`
	Min       float64 `json:"min_seconds"`
	P50       float64 `json:"p50_seconds"`
	P90       float64 `json:"p90_seconds"`
	P99       float64 `json:"p99_seconds"`
	Max       float64 `json:"max_seconds"`
	Peak100ms int     `json:"peak_admitted_per_100ms"`
	Busy      int64   `json:"busy_refusals"` // 503 with a retry hint
	Failed    int64   `json:"failed_dials"`  // refused, reset, timed out
	PerSecond []int   `json:"admitted_per_second"`
}

// herd is the run's shared state.
type herd struct {
	tg     *target
	rep    *report
	dials  chan struct{} // a slot per handshake in progress
	round  atomic.Int32
	mu     sync.Mutex
	at     [][]time.Time // [round][client]: when the client had its Hello
	back   []int         // clients back per round
	busy   atomic.Int64
	failed atomic.Int64
	change chan struct{} // poked on every connect
}

// runHerd measures reconnects (README "Load tool") against s, a relay child
// process it stops and starts again.
func runHerd(ctx context.Context, o *options, s *childRelay, rep *report, stderr io.Writer) error {
	h := &herd{tg: &s.target, rep: rep, dials: make(chan struct{}, o.dialConc), change: make(chan struct{}, 1)}
	rounds := o.restarts + 1
	h.at = make([][]time.Time, rounds)
	for r := range h.at {
		h.at[r] = make([]time.Time, o.herd)
	}
	h.back = make([]int, rounds)
	mode := "restart"
	if o.drop {
		mode = "drop"
	}
	hr := &herdReport{Connections: o.herd, Mode: mode, DownSeconds: o.down.Seconds(), ReconnectRate: o.reconnectRate}
	rep.Herd = hr

	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	fmt.Fprintf(stderr, "sealpost-bench: opening %d connections\n", o.herd)
	t0 := time.Now()
	for i := range o.herd {
		tok, err := mint(h.tg, fmt.Sprintf("herd-%d", i))
		if err != nil {
			return err
		}
		wg.Go(func() { h.client(cctx, i, tok) })
	}
	if err := h.wait(ctx, 0, o.herd, 10*time.Minute); err != nil {
		return err
	}
	hr.OpenSeconds = time.Since(t0).Seconds()
	for r := 1; r < rounds; r++ {
		time.Sleep(time.Second) // let the last connections settle
		h.round.Store(int32(r))
		busy0, failed0 := h.busy.Load(), h.failed.Load()
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.stop(sctx, o.drop)
		scancel()
		if err != nil {
			return fmt.Errorf("stopping the relay: %w", err)
		}
		fmt.Fprintf(stderr, "sealpost-bench: relay stopped (%s); starting it again in %v\n", mode, o.down)
		time.Sleep(o.down)
		if err := s.serve(); err != nil {
			return fmt.Errorf("starting the relay again: %w", err)
		}
		back := s.up
		werr := h.wait(ctx, r, o.herd, o.timeout)
		hr.Rounds = append(hr.Rounds, h.summary(r, back, h.busy.Load()-busy0, h.failed.Load()-failed0))
		if werr != nil && !errors.Is(werr, errNotBack) {
			return werr
		}
	}
	var p50s []float64
	for _, r := range hr.Rounds {
		p50s = append(p50s, r.P50)
	}
	if len(p50s) > 0 {
		slices.Sort(p50s)
		hr.MedianP50 = p50s[len(p50s)/2]
	}
	return nil
}

var errNotBack = errors.New("not every client came back in time")

// wait waits until n clients connected in round r, or timeout.
func (h *herd) wait(ctx context.Context, r, n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		h.mu.Lock()
		got := h.back[r]
		h.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-h.change:
		case <-deadline:
			return errNotBack
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// client is one device: the relay link's reconnect loop, reduced to
// connecting (spec/relay.md §2.5 delays).
func (h *herd) client(ctx context.Context, i int, tok string) {
	sch := relayclient.NewReconnect(herdMinBackoff, herdMaxBackoff, herdDefaultWindow)
	attempt := 0
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		// At most --dial-concurrency handshakes at once in this process:
		// N devices would each have a CPU of their own, and N handshakes
		// sharing this one would all finish late together.
		select {
		case h.dials <- struct{}{}:
		case <-ctx.Done():
			return
		}
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		c, _, err := relayclient.Dial(dctx, h.tg.url, h.tg.tls, tok)
		cancel()
		<-h.dials
		if err != nil {
			var busy *relayclient.BusyError
			var d time.Duration
			if errors.As(err, &busy) {
				h.busy.Add(1)
				d = sch.Busy(busy.RetryAfter)
			} else {
				h.failed.Add(1)
				h.rep.addError("dial: " + errKind(err))
				d = sch.Retry(attempt)
				attempt++
			}
			if !sleep(d) {
				return
			}
			continue
		}
		attempt = 0
		now := time.Now()
		r := int(h.round.Load())
		h.mu.Lock()
		if h.at[r][i].IsZero() {
			h.at[r][i] = now
			h.back[r]++
		}
		h.mu.Unlock()
		select {
		case h.change <- struct{}{}:
		default:
		}
		if w := c.ReconnectWindow(); w != 0 {
			sch.Window = w
		} else {
			sch.Window = herdDefaultWindow
		}
		select {
		case <-c.Done():
		case <-ctx.Done():
			c.CloseNow()
			return
		}
		if !sleep(sch.Spread()) {
			return
		}
	}
}

// summary is round r's distribution, relative to back.
func (h *herd) summary(r int, back time.Time, busy, failed int64) herdRound {
	h.mu.Lock()
	var ds []time.Duration
	for _, at := range h.at[r] {
		if !at.IsZero() {
			ds = append(ds, at.Sub(back))
		}
	}
	h.mu.Unlock()
	res := herdRound{Back: len(ds), NotBack: len(h.at[r]) - len(ds), Busy: busy, Failed: failed}
	if len(ds) == 0 {
		return res
	}
	slices.Sort(ds)
	q := func(p float64) float64 { return ds[int(p*float64(len(ds)-1))].Seconds() }
	res.Min, res.P50, res.P90, res.P99, res.Max = ds[0].Seconds(), q(0.5), q(0.9), q(0.99), ds[len(ds)-1].Seconds()
	slots := map[int64]int{}
	for _, d := range ds {
		slots[int64(d/(100*time.Millisecond))]++
		sec := max(int(d/time.Second), 0)
		for len(res.PerSecond) <= sec {
			res.PerSecond = append(res.PerSecond, 0)
		}
		res.PerSecond[sec]++
	}
	for _, n := range slots {
		res.Peak100ms = max(res.Peak100ms, n)
	}
	return res
}

func (r *herdReport) print(w io.Writer) {
	fmt.Fprintf(w, "herd of %d connections (opened in %.1fs), relay %s for %.1fs, reconnect rate %d/s\n",
		r.Connections, r.OpenSeconds, r.Mode, r.DownSeconds, r.ReconnectRate)
	for i, x := range r.Rounds {
		fmt.Fprintf(w, "restart %d: back %d (not back %d); seconds after the relay was back: min %.3f p50 %.3f p90 %.3f p99 %.3f max %.3f\n",
			i+1, x.Back, x.NotBack, x.Min, x.P50, x.P90, x.P99, x.Max)
		fmt.Fprintf(w, "           peak %d admitted per 100 ms; per second %v; 503 refusals %d, failed dials %d\n",
			x.Peak100ms, x.PerSecond, x.Busy, x.Failed)
	}
	fmt.Fprintf(w, "median of the restarts' p50: %.3fs\n", r.MedianP50)
}
