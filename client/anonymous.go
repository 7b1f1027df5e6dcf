package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
	"golang.org/x/net/proxy"
)

// SendMode says how this device hands envelopes for other accounts to the
// relay (spec/client.md §13).
type SendMode int

const (
	// SendAuthenticated sends every envelope on the device's
	// authenticated relay connection: the relay learns which device sent
	// it to whom.
	SendAuthenticated SendMode = iota
	// SendAnonymous sends every envelope for another account on an
	// anonymous relay connection, each send paid with a one-time send
	// token the key server issued blind (spec/anonymous.md): the relay
	// cannot tell which account sent it. Envelopes for this account's own
	// devices stay on the authenticated connection. It never falls back
	// to an authenticated send: without tokens or an anonymous connection
	// the envelope stays queued (EventAnonymousStalled).
	SendAnonymous
)

func (m SendMode) String() string {
	switch m {
	case SendAuthenticated:
		return "authenticated"
	case SendAnonymous:
		return "anonymous"
	}
	return fmt.Sprintf("SendMode(%d)", int(m))
}

// DialFunc opens a network connection, as net.Dialer.DialContext does.
type DialFunc = relayclient.DialFunc

// SOCKS5 returns a DialFunc through the SOCKS5 proxy at addr (host:port;
// Tor's is 127.0.0.1:9050), for Config.Dial. Host names are resolved by
// the proxy, not here.
func SOCKS5(addr string) (DialFunc, error) {
	d, err := proxy.SOCKS5("tcp", addr, nil, &net.Dialer{Timeout: 20 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("client: SOCKS5 proxy %q: %w", addr, err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, fmt.Errorf("client: SOCKS5 proxy %q: no context dialer", addr)
	}
	return cd.DialContext, nil
}

// ErrNoSendTokens reports an anonymous send that cannot be paid: the key
// server refused more send tokens (its per-account limit of the epoch) or
// could not be asked. The envelope stays queued and goes once tokens can
// be had (spec/client.md §13.2).
var ErrNoSendTokens = errors.New("client: no send token to pay for an anonymous send")

// errEnvelopeGone: a queued envelope left the queue while it was being
// paid for (another lane or Send resolved it).
var errEnvelopeGone = errors.New("client: the queued envelope is gone")

// Wallet sizes (spec/client.md §13.2).
const (
	// tokenLowWater: the wallet is refilled in the background once it
	// holds fewer usable tokens, so that a send seldom waits for
	// issuance (which would tie the issuance to the send in time).
	tokenLowWater = 25
	// tokenExpiryMargin: a token is not taken for a send when its epoch's
	// window ends within this margin (spec/anonymous.md §4.1), so that its
	// retries still verify.
	tokenExpiryMargin = 15 * time.Minute
	// tokenKeysMaxAge: the keys document is fetched again after this long.
	tokenKeysMaxAge = 10 * time.Minute
)

// Anonymous connection lifetime (spec/client.md §13.4).
const (
	// anonIdle: an anonymous connection unused this long is closed, so
	// that sends far apart in time do not share one (each connection's
	// sends are linkable to each other by the relay).
	anonIdle = 5 * time.Second
	// anonMaxAge: nor is one used for longer than this.
	anonMaxAge = 2 * time.Minute
	// anonSendTries bounds the attempts of one anonymous send over
	// failing connections or refused tokens before the envelope waits
	// for the next queue flush.
	anonSendTries = 3
)

// anonymous is the device's anonymous relay connection and send-token
// wallet state.
type anonymous struct {
	mu      sync.Mutex
	conn    *relayclient.Conn
	opened  time.Time
	idle    *time.Timer
	closed  bool
	keys    *ksclient.SendTokenKeys
	keysAt  time.Time
	seen    map[uint64]sendtoken.KeyID // epoch -> the key id first seen (§13.2)
	refill  sync.Mutex                 // one issuance at a time
	filling bool
}

// minTokenEpoch is the oldest epoch whose tokens may still pay for a send
// started at now (spec/client.md §13.2).
func minTokenEpoch(now time.Time) uint64 {
	e := sendtoken.EpochAt(now.Add(tokenExpiryMargin))
	if e == 0 {
		return 0
	}
	return e - 1
}

// anonConn returns an open anonymous connection, dialling a new one when
// there is none, the last is too old, or it ended.
func (c *Client) anonConn(ctx context.Context) (*relayclient.Conn, error) {
	a := &c.anon
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	if a.conn != nil {
		select {
		case <-a.conn.Done():
			a.conn = nil
		default:
			if time.Since(a.opened) < anonMaxAge {
				return a.conn, nil
			}
			a.conn.Close()
			a.conn = nil
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, _, err := relayclient.DialAnonymousVia(dctx, c.cfg.Relay, c.tls, c.cfg.Dial)
	if err != nil {
		return nil, err
	}
	a.conn, a.opened = conn, time.Now()
	return conn, nil
}

// anonUsed restarts the idle timer of the anonymous connection.
func (c *Client) anonUsed(conn *relayclient.Conn) {
	a := &c.anon
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.idle != nil {
		a.idle.Stop()
	}
	a.idle = time.AfterFunc(anonIdle, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.conn == conn {
			a.conn.Close()
			a.conn = nil
		}
	})
}

// dropAnonConn closes the anonymous connection: after a failure, when the
// authenticated connection dropped (the network may have changed: the
// next anonymous send must not share a connection, or an address, with
// sends before it), and on Close.
func (c *Client) dropAnonConn(final bool) {
	a := &c.anon
	a.mu.Lock()
	defer a.mu.Unlock()
	if final {
		a.closed = true
	}
	if a.idle != nil {
		a.idle.Stop()
	}
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
}

// sendTokenKeys returns the key server's send-token keys document, fetched
// again when older than tokenKeysMaxAge or when fresh is set. A key of an
// epoch that differs from the one first seen for that epoch is a security
// failure (spec/client.md §13.2): a key server handing this device its own
// key could recognise its tokens.
func (c *Client) sendTokenKeys(ctx context.Context, fresh bool) (*ksclient.SendTokenKeys, error) {
	a := &c.anon
	a.mu.Lock()
	doc, at := a.keys, a.keysAt
	a.mu.Unlock()
	if doc != nil && !fresh && time.Since(at) < tokenKeysMaxAge {
		return doc, nil
	}
	doc, err := c.ks.SendTokenKeys(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen = map[uint64]sendtoken.KeyID{}
	}
	for _, k := range doc.Keys {
		if id, ok := a.seen[k.Epoch]; ok && id != k.Key.ID() {
			return nil, fmt.Errorf("%w: the key server's send-token key of epoch %d changed", ErrSecurity, k.Epoch)
		}
	}
	for _, k := range doc.Keys {
		a.seen[k.Epoch] = k.Key.ID()
	}
	a.keys, a.keysAt = doc, time.Now()
	return doc, nil
}

// refillSendTokens asks the key server for a batch of send tokens of the
// current epoch and puts them in the wallet (spec/client.md §13.2,
// spec/anonymous.md §5): blinded requests, the issuer's answers checked
// against its published key before anything is stored.
func (c *Client) refillSendTokens(ctx context.Context) error {
	a := &c.anon
	a.refill.Lock()
	defer a.refill.Unlock()
	now := time.Now()
	var have int
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		have, err = tx.SendTokenCount(minTokenEpoch(now))
		return err
	}); err != nil {
		return storeError(err)
	}
	if have >= tokenLowWater {
		return nil // another refill ran meanwhile
	}
	wk, err := c.ks.WellKnown(ctx)
	if err != nil {
		return err
	}
	n := wk.Limits.SendTokenBatch
	if n <= 0 || n > sendtoken.MaxBatchSize {
		n = sendtoken.MaxBatchSize
	}
	tok, err := c.keyServerToken(ctx)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		doc, err := c.sendTokenKeys(ctx, try > 0)
		if err != nil {
			return err
		}
		epoch := sendtoken.EpochAt(time.Now())
		key := doc.Key(epoch)
		if key == nil {
			return fmt.Errorf("client: the key server publishes no send-token key for epoch %d", epoch)
		}
		reqs, pending, err := sendtoken.PrepareBatch(rand.Reader, key, sendtoken.Challenge{Issuer: doc.Issuer, Epoch: epoch}, n)
		if err != nil {
			return err
		}
		resps, got, err := c.ks.IssueSendTokens(ctx, tok, reqs)
		if ksclient.IsCode(err, "unknown_key") && try == 0 {
			continue // the epoch turned: fetch the keys again
		}
		if ksclient.IsCode(err, "send_token_limit") {
			return fmt.Errorf("%w: %w", ErrNoSendTokens, err)
		}
		if err != nil {
			return err
		}
		if got != epoch {
			return fmt.Errorf("client: the key server signed send tokens of epoch %d for requests of epoch %d", got, epoch)
		}
		toks, err := pending.Finalize(resps)
		if err != nil {
			// An answer that does not verify under the published key: the
			// issuer is broken or marking this device's tokens.
			return fmt.Errorf("%w: send tokens: %w", ErrSecurity, err)
		}
		enc := make([][]byte, len(toks))
		for i := range toks {
			enc[i] = toks[i].Marshal()
		}
		return storeError(c.store.Update(context.WithoutCancel(ctx), func(tx localstore.Tx) error {
			if _, err := tx.DropSendTokensBefore(minTokenEpoch(time.Now())); err != nil {
				return err
			}
			return tx.PutSendTokens(epoch, enc)
		}))
	}
}

// kickRefill refills the wallet in the background when it runs low.
func (c *Client) kickRefill(left int) {
	if left >= tokenLowWater {
		return
	}
	a := &c.anon
	a.mu.Lock()
	if a.filling {
		a.mu.Unlock()
		return
	}
	a.filling = true
	a.mu.Unlock()
	done := func() {
		a.mu.Lock()
		a.filling = false
		a.mu.Unlock()
	}
	if !c.background(func() {
		defer done()
		if err := c.refillSendTokens(c.ctx); err != nil && c.ctx.Err() == nil {
			c.log.Info("client: refilling send tokens failed; will retry", "err", err)
		}
	}) {
		done()
	}
}

// maintainSendTokens drops the wallet's expired tokens and refills it in
// the background when it runs low, while sends are anonymous
// (spec/client.md §13.2).
func (c *Client) maintainSendTokens(ctx context.Context) {
	if c.cfg.SendMode != SendAnonymous {
		return
	}
	var left int
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		min := minTokenEpoch(time.Now())
		if _, err := tx.DropSendTokensBefore(min); err != nil {
			return err
		}
		var err error
		left, err = tx.SendTokenCount(min)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("client: reading the send-token wallet", "err", err)
		}
		return
	}
	c.kickRefill(left)
}

// payToken returns the token queued envelope o is paid with: the one
// recorded with it while it still verifies, else a new one from the
// wallet, recorded with the envelope in the same transaction so that every
// retry spends the same token (spec/client.md §13.3). An empty wallet is
// refilled first.
func (c *Client) payToken(ctx context.Context, o *localstore.Outgoing, renew bool) error {
	now := time.Now()
	if o.SendToken != nil && !renew && o.TokenEpoch >= minTokenEpoch(now) {
		return nil
	}
	for try := 0; ; try++ {
		var (
			epoch uint64
			tok   []byte
			left  int
		)
		var gone bool
		err := c.store.Update(ctx, func(tx localstore.Tx) error {
			var err error
			epoch, tok, err = tx.TakeSendToken(minTokenEpoch(now))
			if err != nil {
				return err
			}
			err = tx.SetOutgoingToken(o.MessageID, o.Recipient, o.Device, epoch, tok)
			if errors.Is(err, localstore.ErrNotFound) {
				// The envelope left the queue meanwhile: the token stays
				// in the wallet (this transaction does not commit).
				gone = true
				return errEnvelopeGone
			}
			if err != nil {
				return err
			}
			left, err = tx.SendTokenCount(minTokenEpoch(now))
			return err
		})
		if gone {
			return errEnvelopeGone
		}
		if errors.Is(err, localstore.ErrNotFound) && try == 0 {
			if err := c.refillSendTokens(ctx); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, localstore.ErrNotFound) {
			return ErrNoSendTokens
		}
		if err != nil {
			return storeError(err)
		}
		o.SendToken, o.TokenEpoch = tok, epoch
		c.kickRefill(left)
		return nil
	}
}

// sendAnonymous hands queued envelope o to the relay on the anonymous
// connection, paid with its token (spec/client.md §13.3, spec/relay.md
// §15), and returns the relay's status. A connection that fails before
// the answer is replaced and the same token sent again (the relay answers
// a retry with the first answer); a token the relay calls stale or
// invalid is replaced by a new one; an item answered quota is paid again
// with a new token after the relay's wait.
func (c *Client) sendAnonymous(ctx context.Context, id [wire.MessageIDSize]byte, o *localstore.Outgoing, item *wire.Item) (wire.Status, error) {
	// The recipient device's access key, if it gave one (spec/client.md
	// §13.6): without it the relay may admit the envelope only as a
	// first contact.
	err := c.store.View(ctx, func(tx localstore.Tx) error {
		k, err := tx.PeerAccessKey(o.Recipient, o.Device)
		if err == nil {
			item.AccessKey = k
		}
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, storeError(err)
	}
	renew := false
	quotaTry := 1
	var lastErr error
	for try := 0; try < anonSendTries; {
		if err := c.payToken(ctx, o, renew); err != nil {
			return 0, err
		}
		renew = false
		conn, err := c.anonConn(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			lastErr = fmt.Errorf("client: anonymous relay connection: %w", err)
			try++
			continue
		}
		r, err := conn.SendAnonymous(ctx, id, o.SendToken, []*wire.Item{item})
		if err == nil && len(r.Statuses) != 1 {
			err = fmt.Errorf("client: the relay answered %d statuses for one envelope", len(r.Statuses))
		}
		if err != nil {
			c.dropAnonConn(false)
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			var re *relayclient.RemoteError
			if errors.As(err, &re) && (re.Code == wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE || re.Code == wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID) {
				// Worthless now: pay with another (spec/relay.md §15.3).
				renew = true
				if re.Code == wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE {
					c.sendTokenKeys(ctx, true) //nolint:errcheck // a hint only
				}
			}
			if errors.As(err, &re) && re.Code == wire.ErrorCode_ERROR_CODE_ANONYMOUS_DISABLED {
				return 0, fmt.Errorf("client: the relay takes no anonymous sends: %w", err)
			}
			lastErr = err
			try++
			continue
		}
		c.anonUsed(conn)
		st := r.Statuses[0]
		wait := time.Duration(r.RetryAfterMs) * time.Millisecond
		if st != wire.Status_STATUS_QUOTA || quotaTry == quotaTries || wait > maxQuotaWait {
			return st, nil
		}
		// The token's budget is spent: another token, after the wait
		// (spec/relay.md §15.5).
		quotaTry++
		renew = true
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
	}
	return 0, lastErr
}
