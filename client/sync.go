package client

import (
	"context"
	"errors"
	"sync"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
)

// Sync for background wake-ups (spec/client.md §16, spec/push.md §8).
//
// An app woken by a push (or a background job) has a few seconds:
//
//	wake ─► Open ─► Sync(ctx) ─► read Messages() / History ─► Close
//
// Sync asks the relay for everything queued (Drain) and returns once every
// envelope the relay held is processed, stored in the local inbox and
// acked at the relay. Normally the relay is acked only after the
// application took a message (§5.2); while a Sync runs, messages are
// stored and acked at once, and handed to the application from the inbox
// afterwards, in order, before anything received later (§16.2). So the
// application need not read Messages during Sync, and the relay's
// mailbox is empty when Sync returns.

// errSyncStarted: a Sync started while a message waited to be taken;
// it stays in the inbox.
var errSyncStarted = errors.New("client: a sync started")

// closedChan is a closed channel.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// syncState counts the Syncs running.
type syncState struct {
	mu      sync.Mutex
	running int
	started chan struct{} // closed and replaced when a Sync starts
}

func (s *syncState) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running > 0
}

// watch reports whether a Sync runs and returns a channel that closes
// when the next one starts.
func (s *syncState) watch() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started == nil {
		s.started = make(chan struct{})
	}
	return s.running > 0, s.started
}

// handoff is the hand-over of messages from the inbox (deferHandOver):
// active while messages wait there to be handed over before any new one;
// gen counts the deferrals; running while its goroutine runs.
type handoff struct {
	mu      sync.Mutex
	active  bool
	running bool
	gen     uint64
}

// Sync receives everything the relay holds for this device and returns
// the number of messages waiting for the application (spec/client.md
// §16): those in the local inbox it has not acked yet, new ones and any
// left by an earlier run. It waits for the relay
// connection (the client connects on Open), sends Drain, and returns once
// every envelope delivered before the relay's Drained is processed
// through the normal durable receive path (§5.1: decrypted and stored in
// one local transaction) and its ack written to the relay. The messages
// are then in the local inbox: the application reads them from
// Messages() (and History) as always, after Sync returns or while it
// runs.
//
// Sync is bounded by ctx (an iOS notification extension gets about 30 s):
// when ctx ends first it returns ctx's error, and nothing is lost: what
// was stored is offered by Messages, what was not acked is delivered
// again on the next connection. ErrNotRegistered before Register,
// ErrDeviceRevoked once this device is revoked, ErrClosed after Close.
func (c *Client) Sync(ctx context.Context) (int, error) {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	if link == nil {
		return 0, ErrNotRegistered
	}
	c.sync.mu.Lock()
	c.sync.running++
	if c.sync.started != nil {
		close(c.sync.started)
	}
	c.sync.started = make(chan struct{})
	c.sync.mu.Unlock()
	defer func() {
		c.sync.mu.Lock()
		c.sync.running--
		c.sync.mu.Unlock()
	}()
	err = link.Drain(ctx)
	switch {
	case errors.Is(err, relaylink.ErrClosed):
		return 0, ErrClosed
	case errors.Is(err, relaylink.ErrRevoked):
		return 0, ErrDeviceRevoked
	case err != nil && ctx.Err() != nil:
		return 0, ctx.Err()
	case err != nil:
		return 0, err
	}
	var n int
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		n, err = tx.CountUndelivered()
		return err
	})
	return n, storeError(err)
}

// deferHandOver decides, for a delivery whose messages are stored (some:
// whether it has any), whether they are handed over from the inbox later
// instead of now (true): while a Sync runs, and while messages deferred
// before wait in the inbox, so that the order holds. It starts the
// hand-over from the inbox if messages wait and it does not run.
//
// force defers whatever the state: a message not taken waits in the inbox.
func (c *Client) deferHandOver(some, force bool) bool {
	syncing := c.sync.active()
	h := &c.handoff
	h.mu.Lock()
	defer h.mu.Unlock()
	if !syncing && !h.active && !force {
		return false
	}
	if !some {
		return true
	}
	h.active = true
	h.gen++
	if !h.running {
		h.running = c.background(c.handOverInbox)
	}
	return true
}

// handOverInbox hands over the inbox's messages, in arrival order, until
// none waits (spec/client.md §16.2). A message handed over meanwhile (by
// offerReleased) is skipped.
func (c *Client) handOverInbox() {
	h := &c.handoff
	stop := func() {
		h.mu.Lock()
		h.running = false
		h.mu.Unlock()
	}
	for {
		h.mu.Lock()
		gen := h.gen
		h.mu.Unlock()
		var batch []localstore.InboxMessage
		err := c.store.View(c.ctx, func(tx localstore.Tx) error {
			var err error
			batch, err = tx.Undelivered(64)
			return err
		})
		if err != nil {
			if c.ctx.Err() == nil {
				c.log.Warn("client: reading the inbox", "err", err)
			}
			stop()
			return
		}
		for i := range batch {
			err := func() error {
				c.trust.handMu.Lock()
				defer c.trust.handMu.Unlock()
				stored := false
				c.store.View(c.ctx, func(tx localstore.Tx) error {
					m, err := tx.Inbox(batch[i].ID)
					stored = err == nil && !m.Held
					return nil
				})
				if !stored {
					return nil
				}
				return c.handOverLocked(c.ctx, &batch[i], nil)
			}()
			if err != nil {
				stop()
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		h.mu.Lock()
		if h.gen == gen {
			// Nothing deferred since the inbox was read empty: later
			// deliveries are handed over directly again, unless a Sync
			// still runs (it defers, and starts this again).
			h.active = c.sync.active()
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}
