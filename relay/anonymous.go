package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// Anonymous connections (spec/relay.md §15). Protocol flow:
//
//	client                                   relay
//	AuthAnonymous            ->
//	                         <-  Hello (limits; no mailbox, no deliveries)
//	Send{id, items, token}   ->  verify token (spec/anonymous.md §6 1–5),
//	                             decide as §7 with the spent token as the
//	                             dedup key and the quota budget
//	                         <-  SendResult (a retry with the same token:
//	                             the first answer, duplicate)
//
// Nothing on such a connection names an account or a device, and nothing
// about an anonymous send is logged.

// spentKeyPrefix starts every spent key. A device address starts with its
// handle's length (1 to 32, spec/relay.md §4), so no address starts with
// 0x00 and a spent key never names a mailbox's sender.
const spentKeyPrefix = 0x00

// spentKey is the store's name of a spent send token: 0x00 || epoch
// (uint64, big-endian) || nonce, 41 bytes (spec/relay.md §15.4). It is the
// sender half of the dedup key of the send the token paid for.
func spentKey(sp sendtoken.Spent) []byte {
	k := make([]byte, 0, 1+8+sendtoken.NonceSize)
	k = append(k, spentKeyPrefix)
	k = binary.BigEndian.AppendUint64(k, sp.Epoch)
	return append(k, sp.Nonce[:]...)
}

// farFuture is the "token expiry" of an anonymous connection: it has no
// access token to expire.
var farFuture = time.Unix(1<<40, 0)

// authAnonymous opens an anonymous connection (spec/relay.md §15.1): no
// mailbox, no address, no revocation check; a send bucket of its own.
func (c *conn) authAnonymous() bool {
	s := c.s
	if s.tokens == nil {
		c.fail(wire.ErrorCode_ERROR_CODE_ANONYMOUS_DISABLED, "anonymous sends not enabled")
		return false
	}
	now := s.now()
	c.anon = true
	c.expiry = farFuture
	c.bucket = newBucket(s.lim.SendBurst, time.Now())
	// Ephemeral signals (spec/relay.md §15.1 rule 3, §7.4): the
	// connection's own bucket, and its own pair buckets toward each
	// recipient account, as there is no sending account to key them by.
	c.ebucket = newBucket(s.lim.EphemeralBurst, time.Now())
	c.budget = senderBudget(fmt.Sprintf("c:%p", c))
	c.mu.Lock()
	c.room = sync.NewCond(&c.mu)
	c.mu.Unlock()
	c.enqueue(&wire.Frame{Body: &wire.Frame_Hello{Hello: &wire.Hello{
		ServerTimeUnixMs:    uint64(max(now.UnixMilli(), 1)),
		HeartbeatIntervalMs: uint32(s.lim.HeartbeatInterval.Milliseconds()),
		IdleTimeoutMs:       uint32(s.lim.IdleTimeout.Milliseconds()),
		Limits:              s.hello,
	}}}, false)
	c.lastPing.Store(s.mono())
	c.authed.Store(true)
	c.timer.Reset(0) // heartbeat and idle checks
	return true
}

// handleAnonymous acts on one frame of an anonymous connection: Send,
// SendEphemeral, Ping, Pong and Error only (spec/relay.md §15.1).
func (c *conn) handleAnonymous(f *wire.Frame) bool {
	switch b := f.Body.(type) {
	case *wire.Frame_Send:
		return c.sendAnonymous(b.Send)
	case *wire.Frame_SendEphemeral:
		c.sendEphemeral(b.SendEphemeral.Items)
		return true
	case *wire.Frame_Ping:
		c.clientPings.Store(true)
		c.enqueue(&wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: b.Ping.Nonce}}}, false)
		return true
	case *wire.Frame_Pong:
		return true
	case *wire.Frame_Error:
		c.kill()
		return false
	}
	c.fail(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, "frame not allowed on an anonymous connection")
	return false
}

// tokenRefusal maps a verification error to its metric reason (the name
// of spec/errors.md §3.18) and the Error code the sender gets
// (spec/relay.md §15.3).
func tokenRefusal(err error) (string, wire.ErrorCode) {
	switch {
	case errors.Is(err, sendtoken.ErrUnknownKey):
		return "unknown_key", wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE
	case errors.Is(err, sendtoken.ErrWrongEpoch):
		return "wrong_epoch", wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE
	case errors.Is(err, sendtoken.ErrBadSignature):
		return "bad_signature", wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID
	case errors.Is(err, sendtoken.ErrWrongChallenge):
		return "wrong_challenge", wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID
	}
	return "malformed", wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID
}

// sendAnonymous handles a Send on an anonymous connection (spec/relay.md
// §15.2–§15.5): the connection's frame rate limit, the token's
// verification, then §7 with the spent token as the dedup key and the
// quota budget.
func (c *conn) sendAnonymous(m *wire.Send) bool {
	s := c.s
	if len(m.SendToken) == 0 {
		c.fail(wire.ErrorCode_ERROR_CODE_MALFORMED, "send without a send token on an anonymous connection")
		return false
	}
	if !c.bucket.take(time.Now(), s.lim.SendsPerSecond, s.lim.SendBurst) {
		c.fail(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, "")
		return false
	}
	now := s.now()
	sp, err := s.tokens.Verify(m.SendToken, now)
	if err != nil {
		reason, code := tokenRefusal(err)
		s.m.tokenRefusal(reason)
		c.fail(code, "send token refused")
		return false
	}
	if !c.acquire() {
		return false
	}
	if !s.beginOp() {
		c.release()
		c.fail(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, "")
		return false
	}
	key := spentKey(sp)
	p := payer{
		sender: key, budget: senderBudget(key), anonymous: true,
		// The spent set of epoch e is kept until no token of e verifies
		// (spec/anonymous.md §6.1).
		dedupUntil: time.Unix(sendtoken.EpochStart(sp.Epoch+2)+sendtoken.ClockSkew, 0),
	}
	var id [store.MessageIDSize]byte
	copy(id[:], m.MessageId)
	items := accessItems(m)
	shared := len(m.SharedBody) != 0
	go func() {
		defer s.inflight.Done()
		defer c.release()
		ans := c.sendItems(p, id, items, now, shared)
		s.quota.forget(p.budget, items)
		if ans != nil {
			s.m.anonymousSend(ans.Duplicate)
			c.enqueue(&wire.Frame{Body: &wire.Frame_SendResult{SendResult: ans}}, true)
		}
	}()
	return true
}
