package client

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A sendTrace times the phases of one send, for the debug log: where a
// Send spends its time (directory lookups, proof checks, encryption,
// store commits, the relay's answer). It records names and durations
// only, never what is sent. A send carries one in its context only when
// the logger takes debug records, so that it costs nothing otherwise.
type sendTrace struct {
	start time.Time
	mu    sync.Mutex
	spans []traceSpan
}

// traceSpan is one timed phase of a send.
type traceSpan struct {
	name string
	d    time.Duration
}

// sendTraceKey is the context key of a send's *sendTrace.
type sendTraceKey struct{}

// startTrace returns ctx with a new sendTrace if the client's logger
// takes debug records, else ctx and nil.
func (c *Client) startTrace(ctx context.Context) (context.Context, *sendTrace) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return ctx, nil
	}
	tr := &sendTrace{start: time.Now()}
	return context.WithValue(ctx, sendTraceKey{}, tr), tr
}

// span starts timing the phase name of the send ctx carries, if any; the
// returned function ends it.
func span(ctx context.Context, name string) func() {
	tr, _ := ctx.Value(sendTraceKey{}).(*sendTrace)
	if tr == nil {
		return func() {}
	}
	t0 := time.Now()
	return func() {
		d := time.Since(t0)
		tr.mu.Lock()
		tr.spans = append(tr.spans, traceSpan{name, d})
		tr.mu.Unlock()
	}
}

// log writes the trace to the client's debug log: the total and each
// phase in the order it ended, in milliseconds.
func (tr *sendTrace) log(c *Client, ctx context.Context, what string) {
	if tr == nil {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var b strings.Builder
	for i, s := range tr.spans {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.name)
		b.WriteByte('=')
		b.WriteString(ms(s.d))
	}
	c.log.Debug("client: send phases", "what", what, "total_ms", ms(time.Since(tr.start)), "phases", b.String())
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// debugSince writes how long what took since t0 to the client's debug
// log, if it takes debug records: the phases of a send that run outside
// the Send call, in a device's lane.
func (c *Client) debugSince(what string, t0 time.Time) {
	if c.log.Enabled(c.ctx, slog.LevelDebug) {
		c.log.Debug("client: send phases", "what", what, "total_ms", ms(time.Since(t0)))
	}
}
