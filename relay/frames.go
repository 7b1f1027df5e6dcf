package relay

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// readBuffers hold a frame while it is read and decoded (wire.Decode does
// not alias its input); they grow to the largest frame read, at most
// MaxFrame+1 bytes.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// errGone is the reader's error when the connection ended.
var errGone = errors.New("relay: connection gone")

// readFrame reads and decodes one frame. A frame longer than MaxFrame is
// refused after MaxFrame+1 bytes, without reading it to its end
// (spec/relay.md §2.1). Errors are a *wire.FrameError for a refused frame,
// else errGone.
func (c *conn) readFrame() (*wire.Frame, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return nil, errGone
	}
	if typ != websocket.MessageBinary {
		return nil, &wire.FrameError{Code: wire.ErrorCode_ERROR_CODE_MALFORMED, Reason: "text message"}
	}
	maxFrame := c.s.lim.MaxFrame
	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	b := (*bp)[:0]
	lr := io.LimitedReader{R: r, N: int64(maxFrame) + 1}
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), maxFrame+1-len(b)))
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		*bp = b[:0]
		if err == io.EOF {
			if lr.N == 0 {
				// EOF of the LimitedReader: MaxFrame+1 bytes read.
				return nil, &wire.FrameError{Code: wire.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, Reason: "frame over max_frame"}
			}
			break
		}
		if err != nil {
			return nil, errGone
		}
	}
	return wire.Decode(b, maxFrame)
}

// auth authenticates the connection (spec/relay.md §2.3); false ends the
// reader.
func (c *conn) auth(text string) bool {
	s := c.s
	now := s.now()
	tok, code := s.verifyToken(text, now)
	if code != 0 {
		c.fail(code, "")
		return false
	}
	dev := revokedDevice(tok)
	if s.isRevoked(dev) {
		// Refused before its mailbox is opened (spec/relay.md §2.4).
		c.fail(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, "device revoked")
		return false
	}
	addr := wire.FormatAddress(tok.Handle, uint32(tok.Device))
	start := time.Now()
	err := s.q.OpenMailbox(s.ctx, addr, now)
	s.m.store("open", start)
	if err != nil {
		s.log.Error("relay: open mailbox failed", "err", err)
		c.fail(storeFailure(err), "store failed")
		return false
	}
	c.addr, c.expiry, c.dev = string(addr), tok.Expiry, dev
	c.account, c.budget = tok.Handle, accountBudget(tok.Handle)
	if !c.open(now) {
		return false
	}
	s.log.Debug("relay: connection authenticated", "ip", c.ip, "handle", tok.Handle, "device", uint32(tok.Device))
	return true
}

// verifyToken verifies an access token as Auth does (spec/relay.md §2.3):
// the code refusing it, or 0.
func (s *Server) verifyToken(text string, now time.Time) (*token.Token, wire.ErrorCode) {
	tok, err := s.verifier.Verify(text, now)
	if err != nil {
		code := wire.ErrorCode_ERROR_CODE_INVALID_TOKEN
		switch {
		case errors.Is(err, token.ErrExpired), errors.Is(err, token.ErrNotYetValid):
			code = wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED
		case errors.Is(err, token.ErrWrongAudience):
			code = wire.ErrorCode_ERROR_CODE_WRONG_AUDIENCE
		}
		return nil, code
	}
	return tok, 0
}

// open makes c the connection of c.addr, replacing an older one
// (spec/relay.md §8.4), answers Hello and starts pushing its queue; false
// ends the reader.
func (c *conn) open(now time.Time) bool {
	s := c.s
	c.mu.Lock()
	c.room = sync.NewCond(&c.mu)
	c.mu.Unlock()
	old, b, code := s.bind(c)
	if code != 0 {
		c.fail(code, "")
		return false
	}
	c.bucket = b
	if old != nil {
		old.fail(wire.ErrorCode_ERROR_CODE_REPLACED, "")
	}
	c.lastPing.Store(s.mono())
	// The Hello is queued and the connection marked authenticated in one
	// step: once the client reads the Hello, frames for it (deliveries,
	// ephemeral envelopes) are taken, and none is queued before it.
	hello := &wire.Frame{Body: &wire.Frame_Hello{Hello: &wire.Hello{
		ServerTimeUnixMs:    uint64(max(now.UnixMilli(), 1)),
		HeartbeatIntervalMs: uint32(s.lim.HeartbeatInterval.Milliseconds()),
		IdleTimeoutMs:       uint32(s.lim.IdleTimeout.Milliseconds()),
		Limits:              s.hello,
	}}}
	c.mu.Lock()
	if !c.closed && !c.closing {
		c.out = append(c.out, hello)
		c.startWriter()
	}
	c.authed.Store(true)
	c.mu.Unlock()
	c.timer.Reset(0) // tick schedules the heartbeat, idle and expiry checks
	c.poke()
	return true
}

// maxQueuedAcks bounds the acked ids a connection queues while its store
// Ack runs; beyond it, further Ack frames each take an in-flight slot of
// their own, so a flood of acks stops the reader (backpressure).
const maxQueuedAcks = 4096

// ack handles an Ack (spec/relay.md §8.3): the acked ids free their window
// slots at once, and the writer pushes more; the store deletes them beside
// the reader. Acks that arrive while a store Ack of the connection runs
// are queued and deleted together by its next one, so that the store sees
// one Ack per connection at a time, however small the client's Ack frames.
func (c *conn) ack(ids []uint64) bool {
	c.mu.Lock()
	n := len(c.acks)
	for _, id := range ids {
		if id > 1<<63-1 {
			continue // no such envelope
		}
		c.acks = append(c.acks, int64(id))
		if i, ok := slices.BinarySearch(c.unacked, int64(id)); ok {
			c.unacked = slices.Delete(c.unacked, i, i+1)
		}
	}
	drained := false
	if len(c.unacked) == 0 {
		c.unacked = nil
		// Everything delivered is acked and nothing more waits: the
		// mailbox is empty, and so are its shares (spec/relay.md §6.1).
		drained = !c.fetch && len(c.pushed) == 0
	}
	if len(c.acks) == n {
		c.mu.Unlock()
		return true
	}
	if drained {
		c.s.quota.drained(c.addr)
	}
	// The freed slots take what waits (spec/relay.md §8.2); the store is
	// read again only if it may hold more than what was pushed (c.fetch).
	if !c.closing && (c.fetch || len(c.pushed) > 0) {
		c.startWriter()
	}
	var del []int64
	switch {
	case !c.acking:
		c.acking = true // the loop below takes c.acks
	case len(c.acks) >= maxQueuedAcks:
		del, c.acks = c.acks, nil
	default:
		c.mu.Unlock()
		return true // the running loop takes them
	}
	c.mu.Unlock()
	if !c.acquire() {
		return false
	}
	if !c.s.beginOp() {
		// Lost acks only cause redelivery.
		c.release()
		c.fail(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, "")
		return false
	}
	go func() {
		defer c.s.inflight.Done()
		defer c.release()
		if del != nil {
			c.storeAck(del)
			return
		}
		for {
			c.mu.Lock()
			del, c.acks = c.acks, nil
			if len(del) == 0 {
				c.acking = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			if !c.storeAck(del) {
				c.mu.Lock()
				c.acking, c.acks = false, nil
				c.mu.Unlock()
				return
			}
		}
	}()
	return true
}

// storeAck deletes acked ids from the store; false if it failed (the
// connection is failed).
func (c *conn) storeAck(ids []int64) bool {
	s := c.s
	start := time.Now()
	n, err := s.q.Ack(s.ctx, []byte(c.addr), ids)
	s.m.store("ack", start)
	if err != nil {
		s.log.Error("relay: ack failed", "err", err)
		c.fail(storeFailure(err), "store failed")
		return false
	}
	s.m.acked(n)
	return true
}

// statusReason is the refusal metric label of a send status: its name
// (spec/errors.md §3.11).
func statusReason(st store.Status) string {
	return st.String()
}

// reasonOf is the refusal metric label of an Error code.
func reasonOf(code wire.ErrorCode) string {
	name := wire.ErrorCode_name[int32(code)]
	if len(name) > len("ERROR_CODE_") {
		name = name[len("ERROR_CODE_"):]
	}
	return strings.ToLower(name)
}
