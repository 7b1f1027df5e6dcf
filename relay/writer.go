package relay

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// The writer of a connection is a goroutine that runs only while there is
// something to write: queued frames, envelopes to push, or the close. An
// idle connection has none, so it costs no stack.

// writeBuffers holds encoded frames between encoding and writing; buffers
// that grew past maxPooled are dropped.
var writeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooled = 64 << 10

// batchBytes bounds the frames written together in one batch (conn.write);
// a larger frame is written on its own, straight through.
const batchBytes = 32 << 10

// enqueue queues f for the writer. An answer (SendResult) is queued while
// the connection is closing, until its close starts; other frames are not.
// It reports whether f was queued.
func (c *conn) enqueue(f *wire.Frame, answer bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if answer {
		// Answers wait for room, holding their in-flight slot: a client
		// that pipelines sends but does not read stops being read.
		for len(c.out) >= maxOutbound && !c.closed {
			c.room.Wait()
		}
	}
	if c.closed || (c.closing && !answer) {
		return false
	}
	if !answer && len(c.out) >= maxOutbound {
		c.s.m.drop("outbound_full", 1)
		return false
	}
	c.out = append(c.out, f)
	c.startWriter()
	return true
}

// poke tells the writer the mailbox may have envelopes to push.
func (c *conn) poke() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || !c.authed.Load() {
		return
	}
	c.fetch = true
	c.startWriter()
}

// fail ends the connection with Error{code, msg} (spec/relay.md §10): the
// writer answers the sends in flight, writes the Error, and closes with the
// code's status. Only the first fail or kill counts.
func (c *conn) fail(code wire.ErrorCode, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing, c.code, c.msg = true, code, msg
	c.s.m.refusal(reasonOf(code))
	c.startWriter()
}

// kill ends the connection without an Error (the peer went away or sent
// one).
func (c *conn) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing = true
	c.startWriter()
}

// startWriter starts the writer unless it runs. c.mu is held.
func (c *conn) startWriter() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop writes queued frames in order, then pushes envelopes, then,
// when closing, closes; it exits when nothing is left.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		if len(c.out) > 0 {
			// Everything queued, written together (one system call for a
			// burst of answers).
			out := c.out
			c.out = nil // no backing array kept while idle
			c.ephQueued, c.ephLast = 0, nil
			if c.room != nil {
				c.room.Broadcast()
			}
			c.mu.Unlock()
			if err := c.write(out...); err != nil {
				c.abort()
				return
			}
			continue
		}
		if c.closing {
			c.mu.Unlock()
			c.close()
			return
		}
		if room := c.s.lim.DeliveryWindow - len(c.unacked); room > 0 {
			if c.fetch {
				c.fetch = false
				c.mu.Unlock()
				if err := c.deliver(); err != nil {
					c.abort()
					return
				}
				continue
			}
			if envs := c.takePushed(room); len(envs) > 0 {
				c.mu.Unlock()
				if err := c.push(envs); err != nil {
					c.abort()
					return
				}
				continue
			}
		}
		c.writing = false
		c.mu.Unlock()
		return
	}
}

// write encodes and writes frames, in order, within the write timeout.
// Consecutive frames of up to batchBytes in all reach the connection in
// one write (batchWriter), instead of one or two writes per frame.
func (c *conn) write(fs ...*wire.Frame) error {
	// A deadline on the connection rather than a context: no per-write
	// allocations, and nothing kept after the write.
	c.nc.SetWriteDeadline(time.Now().Add(c.s.lim.WriteTimeout))
	defer c.nc.SetWriteDeadline(time.Time{})
	bp := writeBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooled {
			*bp = (*bp)[:0]
			writeBuffers.Put(bp)
		}
	}()
	batched := 0 // bytes in the open batch, 0 if none is open
	for i, f := range fs {
		fs[i] = nil
		b, err := wire.AppendEncode((*bp)[:0], f)
		*bp = b[:0]
		if err != nil {
			c.s.log.Error("relay: cannot encode a frame", "err", err)
			continue
		}
		if batched > 0 && batched+len(b) > batchBytes {
			if err := c.bw.end(); err != nil {
				return err
			}
			batched = 0
		}
		if len(b) <= batchBytes && batched == 0 {
			c.bw.begin()
		}
		if err := c.ws.Write(context.Background(), websocket.MessageBinary, b); err != nil {
			c.bw.end()
			return err
		}
		if len(b) <= batchBytes {
			batched += len(b) + 14 // a WebSocket header is at most 14 bytes
		}
	}
	if batched > 0 {
		return c.bw.end()
	}
	return nil
}

// close finishes a closing connection: it waits for the sends and acks in
// flight and writes their answers, writes the Error if there is one, and
// closes the WebSocket with the Error's status.
func (c *conn) close() {
	c.pending.Wait()
	c.mu.Lock()
	c.closed = true
	out := c.out
	c.out = nil
	c.ephQueued, c.ephLast = 0, nil
	if c.room != nil {
		c.room.Broadcast()
	}
	code, msg, bye := c.code, c.msg, c.bye
	c.mu.Unlock()
	for _, f := range out {
		if err := c.write(f); err != nil {
			c.abort()
			return
		}
	}
	switch {
	case code == 0 && bye:
		// After LinkClosed (spec/relay.md §17.5).
		c.rl.Lock()
		c.ws.Close(websocket.StatusNormalClosure, "")
		c.rl.Unlock()
	case code == 0:
		c.ws.CloseNow()
	default:
		if err := c.write(&wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: code, Message: msg}}}); err != nil {
			c.abort()
			return
		}
		c.rl.Lock()
		c.ws.Close(closeStatus(code), "")
		c.rl.Unlock()
	}
	c.finish()
}

// abort closes the WebSocket at once after a write failed; the sends in
// flight finish unanswered (their senders retry).
func (c *conn) abort() {
	c.mu.Lock()
	c.closing, c.closed = true, true
	c.out = nil
	c.ephQueued, c.ephLast = 0, nil
	if c.room != nil {
		c.room.Broadcast()
	}
	c.mu.Unlock()
	c.ws.CloseNow()
	c.pending.Wait()
	c.finish()
}

// finish marks the writer done: the reader can unregister the connection.
func (c *conn) finish() {
	c.mu.Lock()
	c.writing = false
	c.unacked, c.pushed = nil, nil
	if c.gap != nil {
		c.gap.Stop()
		c.gap = nil
	}
	c.mu.Unlock()
	close(c.finished)
}

// closeStatus is the WebSocket close status of an Error code
// (spec/relay.md §10).
func closeStatus(code wire.ErrorCode) websocket.StatusCode {
	switch code {
	case wire.ErrorCode_ERROR_CODE_MALFORMED, wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME:
		return websocket.StatusProtocolError
	case wire.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE:
		return websocket.StatusMessageTooBig
	case wire.ErrorCode_ERROR_CODE_REPLACED, wire.ErrorCode_ERROR_CODE_IDLE_TIMEOUT:
		return websocket.StatusNormalClosure
	case wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN:
		return websocket.StatusGoingAway
	case wire.ErrorCode_ERROR_CODE_INTERNAL:
		return websocket.StatusInternalError
	case wire.ErrorCode_ERROR_CODE_UNAVAILABLE:
		return websocket.StatusTryAgainLater
	}
	return websocket.StatusPolicyViolation
}

// deliver fetches the envelopes above the last one delivered, as many as
// the window has room for, and pushes them (spec/relay.md §8.2).
func (c *conn) deliver() error {
	s := c.s
	c.mu.Lock()
	after := c.after
	room := min(s.lim.DeliveryWindow-len(c.unacked), wire.MaxDeliveries)
	drains := c.drains // the Drains that arrived before this fetch
	c.mu.Unlock()
	if room <= 0 {
		return nil
	}
	limit := room
	if drains > 0 {
		// One more than fits: a fetch that fills the window can then
		// still tell that the store holds nothing beyond it (spec/push.md
		// §8).
		limit++
	}
	start := time.Now()
	envs, err := s.q.Fetch(s.ctx, []byte(c.addr), after, limit, s.now())
	s.m.store("fetch", start)
	if err != nil {
		s.log.Error("relay: fetch failed", "err", err)
		c.fail(storeFailure(err), "store failed")
		return nil
	}
	if len(envs) >= limit {
		// The fetch filled the window or hit the cap: there may be more.
		c.mu.Lock()
		c.fetch = true
		c.mu.Unlock()
	}
	if len(envs) > room {
		return c.push(envs[:room])
	}
	if err := c.push(envs); err != nil {
		return err
	}
	if drains > 0 {
		c.drained(drains)
	}
	return nil
}

// push writes envs, in increasing id order and above every id delivered
// before, in Deliver frames within MaxFrame, counting them outstanding
// first; then it forgets the pushed envelopes they cover.
func (c *conn) push(envs []store.Envelope) error {
	s := c.s
	for len(envs) > 0 {
		d := &wire.Deliver{Deliveries: make([]*wire.Delivery, 0, min(len(envs), wire.MaxDeliveries))}
		size := 16
		for len(envs) > 0 && len(d.Deliveries) < wire.MaxDeliveries {
			e := envs[0]
			n := len(e.Data) + 48 // a Delivery's overhead is at most 34 bytes
			if len(d.Deliveries) > 0 && size+n > s.lim.MaxFrame {
				break
			}
			size += n
			d.Deliveries = append(d.Deliveries, &wire.Delivery{
				Id: uint64(e.ID), Envelope: e.Data, ArrivedUnixMs: uint64(max(e.Arrived.UnixMilli(), 1)),
			})
			envs = envs[1:]
		}
		// Outstanding before written: an ack may come back at once.
		c.mu.Lock()
		for _, dl := range d.Deliveries {
			c.unacked = append(c.unacked, int64(dl.Id))
		}
		c.after = int64(d.Deliveries[len(d.Deliveries)-1].Id)
		c.dropPushed()
		c.mu.Unlock()
		if err := c.write(&wire.Frame{Body: &wire.Frame_Deliver{Deliver: d}}); err != nil {
			return err
		}
		s.m.delivered(len(d.Deliveries))
	}
	return nil
}

// pushed is an envelope a Send of this relay stored for the connection's
// mailbox, with the Prev its store answered (store.SendResult): it can be
// delivered without a fetch once every envelope up to Prev has been.
type pushed struct {
	env  store.Envelope
	prev int64
}

// offer hands the connection an envelope just stored for its mailbox
// (spec/relay.md §8.2: pushed when a send stores into the mailbox). It is
// kept for the writer if the window has room for it and nothing waits in
// the store before it; otherwise the writer fetches it when there is room.
func (c *conn) offer(p pushed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || p.env.ID <= c.after {
		return // going, or fetched already
	}
	if !c.authed.Load() {
		c.fetch = true // Auth pokes the writer once it has queued Hello
		return
	}
	if c.fetch || len(c.unacked)+len(c.pushed) >= c.s.lim.DeliveryWindow {
		c.fetch = true
		c.startWriter()
		return
	}
	// Sends answered concurrently may offer out of order.
	i := len(c.pushed)
	for i > 0 && c.pushed[i-1].env.ID > p.env.ID {
		i--
	}
	if i < len(c.pushed) && c.pushed[i].env.ID == p.env.ID {
		return
	}
	c.pushed = slices.Insert(c.pushed, i, p)
	c.startWriter()
}

// gapWait is how long a pushed envelope waits for the offer of one before
// it (Sends answered together offer concurrently, in any order) before the
// writer fetches instead.
const gapWait = 2 * time.Millisecond

// takePushed returns the pushed envelopes that follow on from c.after, at
// most room (and wire.MaxDeliveries). If the first one does not, the
// envelope before it is still being offered, or is only in the store
// (stored by another node, or not offered when the window was full): it
// returns none, and the writer fetches unless the offer arrives within
// gapWait. c.mu is held.
func (c *conn) takePushed(room int) []store.Envelope {
	c.dropPushed()
	var envs []store.Envelope
	last := c.after
	for _, p := range c.pushed {
		if len(envs) >= min(room, wire.MaxDeliveries) || p.prev > last {
			break
		}
		envs = append(envs, p.env)
		last = p.env.ID
	}
	switch {
	case len(envs) > 0 || len(c.pushed) == 0:
		if c.gap != nil {
			c.gap.Stop()
			c.gap = nil
		}
	case c.gap == nil:
		c.gap = time.AfterFunc(gapWait, c.gapExpired)
	}
	return envs
}

// gapExpired makes the writer fetch: the gap takePushed found may not
// close by itself.
func (c *conn) gapExpired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gap = nil
	if c.closing || len(c.pushed) == 0 {
		return
	}
	c.fetch = true
	c.startWriter()
}

// dropPushed forgets the pushed envelopes up to c.after. c.mu is held.
func (c *conn) dropPushed() {
	i := 0
	for i < len(c.pushed) && c.pushed[i].env.ID <= c.after {
		i++
	}
	if i == len(c.pushed) {
		c.pushed = nil
	} else if i > 0 {
		c.pushed = slices.Delete(c.pushed, 0, i)
	}
}
