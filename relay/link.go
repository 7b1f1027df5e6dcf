package relay

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// Link connections (spec/relay.md §17). Protocol flow:
//
//	client (link connection)                 relay
//	AuthLink{secret, offer, token?}  ->  token checked as Auth's, or the
//	                                     per-IP bucket; open (create) the
//	                                     link mailbox 0x00 || LinkID(secret)
//	                                 <-  Hello, then Deliver as on any
//	                                     connection (Ack)
//	Send{items to link addresses}    ->  stored while the link mailbox lives
//	LinkFetch{link_id}               ->  (with a token only)
//	                                 <-  LinkOffer{link_id, offer, expires}
//	LinkClose                        ->  delete the mailbox and its envelopes
//	                                 <-  LinkClosed, then close
//
// Nothing about a link connection is logged beyond what any connection
// logs (the IP address and the Error code), never the secret, the link
// id or the offer.

// linkOpens is the per-IP token bucket of AuthLink frames without a token
// (spec/relay.md §17.6): LinkOpensPerMinute refilled, LinkOpenBurst held;
// in memory, per node, forgotten once full again.
type linkOpens struct {
	mu    sync.Mutex
	rate  float64 // per second
	burst float64
	ips   map[string]*linkBucket
}

type linkBucket struct {
	tokens float64
	last   time.Time
}

func newLinkOpens(perMinute, burst int) *linkOpens {
	return &linkOpens{rate: float64(perMinute) / 60, burst: float64(burst), ips: make(map[string]*linkBucket)}
}

// take takes one AuthLink from ip's bucket at now, reporting whether
// there was one.
func (l *linkOpens) take(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.ips[ip]
	if b == nil {
		b = &linkBucket{tokens: l.burst, last: now}
		l.ips[ip] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune forgets the buckets that have refilled.
func (l *linkOpens) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, b := range l.ips {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.ips, ip)
		}
	}
}

// authLink opens a link connection (spec/relay.md §17.2); false ends the
// reader.
func (c *conn) authLink(m *wire.AuthLink) bool {
	s := c.s
	now := s.now()
	if s.links == nil {
		s.log.Error("relay: the store keeps no link mailboxes")
		c.fail(wire.ErrorCode_ERROR_CODE_INTERNAL, "link mailboxes not supported")
		return false
	}
	c.expiry = farFuture
	if m.Token != "" {
		// Exactly as Auth (§2.3, §2.4): the same audience, expiry and
		// revocation check. The device's own mailbox is not opened and
		// its connection not replaced.
		tok, code := s.verifyToken(m.Token, now)
		if code != 0 {
			c.fail(code, "")
			return false
		}
		c.dev = revokedDevice(tok)
		if s.isRevoked(c.dev) {
			c.fail(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, "device revoked")
			return false
		}
		c.expiry, c.linkToken = tok.Expiry, true
		c.account, c.budget = tok.Handle, accountBudget(tok.Handle)
	} else {
		if !s.linkOpens.take(c.ip, time.Now()) {
			c.fail(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, "too many link connections")
			return false
		}
		c.budget = senderBudget(fmt.Sprintf("c:%p", c))
	}
	addr := wire.LinkAddress(m.Secret)
	expires := time.UnixMilli(now.Add(s.lim.LinkTTL).UnixMilli())
	start := time.Now()
	l, created, err := s.links.OpenLink(s.ctx, addr, m.Offer, now, expires, s.lim.MaxLinks)
	s.m.store("open_link", start)
	switch {
	case errors.Is(err, store.ErrLinkExpired):
		c.fail(wire.ErrorCode_ERROR_CODE_LINK_EXPIRED, "link mailbox expired")
		return false
	case errors.Is(err, store.ErrLinkConflict):
		c.fail(wire.ErrorCode_ERROR_CODE_LINK_CONFLICT, "link mailbox holds another offer")
		return false
	case errors.Is(err, store.ErrLinkCap):
		c.fail(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, "too many link mailboxes")
		return false
	case err != nil:
		s.log.Error("relay: open link mailbox failed", "err", err)
		c.fail(storeFailure(err), "store failed")
		return false
	}
	if created {
		s.m.link("opened", 1)
	} else {
		s.m.link("reopened", 1)
	}
	c.link, c.linkExpiry, c.addr = true, l.Expires, string(addr)
	return c.open(now)
}

// handleLink acts on one frame of a link connection (spec/relay.md §17.2):
// Send, Ack, LinkFetch (opened with a token), LinkClose, Ping, Pong and
// Error only.
func (c *conn) handleLink(f *wire.Frame) bool {
	switch b := f.Body.(type) {
	case *wire.Frame_Send:
		return c.send(b.Send)
	case *wire.Frame_Ack:
		return c.ack(b.Ack.Ids)
	case *wire.Frame_LinkFetch:
		if c.linkToken {
			return c.linkFetch(b.LinkFetch)
		}
	case *wire.Frame_LinkClose:
		return c.linkClose()
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
	c.fail(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, "frame not allowed on a link connection")
	return false
}

// checkLinkSend applies the rules of a Send on a link connection
// (spec/relay.md §17.3): link addresses only, and, without a token, at
// most MaxLinkItems items over the connection's life. False ends the
// reader (the connection is failed).
func (c *conn) checkLinkSend(m *wire.Send) bool {
	for _, it := range m.Items {
		if !wire.IsLinkAddress(it.Recipient) {
			c.fail(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, "a link connection sends to link addresses only")
			return false
		}
	}
	if !c.linkToken {
		if c.linkItems+len(m.Items) > wire.MaxLinkItems {
			c.fail(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, "link connection item limit")
			return false
		}
		c.linkItems += len(m.Items)
	}
	return true
}

// linkFetch answers a LinkFetch (spec/relay.md §17.4), in order with the
// connection's other ordered answers.
func (c *conn) linkFetch(m *wire.LinkFetch) bool {
	s := c.s
	id := [wire.LinkIDSize]byte(m.LinkId)
	return c.inOrder("link_fetch", func() (*wire.Frame, error) {
		ans := &wire.LinkOffer{LinkId: id[:]}
		l, err := s.links.Link(s.ctx, wire.LinkAddressOf(id), s.now())
		switch {
		case errors.Is(err, store.ErrNoMailbox):
		case err != nil:
			return nil, err
		default:
			ans.Offer, ans.ExpiresUnixMs = l.Offer, uint64(max(l.Expires.UnixMilli(), 1))
		}
		s.m.linkFetch(ans.ExpiresUnixMs != 0)
		return &wire.Frame{Body: &wire.Frame_LinkOffer{LinkOffer: ans}}, nil
	})
}

// linkClose deletes the connection's link mailbox (spec/relay.md §17.5),
// answers LinkClosed and closes the connection normally. It runs on the
// reader, after the connection's ordered answers before it: nothing is
// read after a LinkClose. It always ends the reader.
func (c *conn) linkClose() bool {
	s := c.s
	if prev := c.accessDone; prev != nil {
		<-prev
	}
	if !s.beginOp() {
		c.fail(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, "")
		return false
	}
	defer s.inflight.Done()
	start := time.Now()
	found, err := s.links.CloseLink(s.ctx, []byte(c.addr))
	s.m.store("close_link", start)
	if err != nil {
		s.log.Error("relay: close link mailbox failed", "err", err)
		c.fail(storeFailure(err), "store failed")
		return false
	}
	if found {
		s.m.link("closed", 1)
	}
	c.mu.Lock()
	c.bye = true
	c.mu.Unlock()
	c.enqueue(&wire.Frame{Body: &wire.Frame_LinkClosed{LinkClosed: &wire.LinkClosed{}}}, false)
	return false
}

// linkFetchOpen answers a LinkFetch on an open connection.
func (c *conn) linkFetchOpen(m *wire.LinkFetch) bool {
	if c.s.links == nil {
		c.fail(wire.ErrorCode_ERROR_CODE_INTERNAL, "link mailboxes not supported")
		return false
	}
	return c.linkFetch(m)
}
