package client

import (
	"context"
	"errors"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
)

// Background work of conversation content (spec/client.md §12): sending
// queued receipts in batches, and deleting messages whose disappearing
// timer ran out.

const (
	// receiptDelay is how long the receipt loop waits after being woken
	// before sending, so that receipts of messages acked or read together
	// go in one batch; receiptRetry how long it waits after a failure.
	receiptDelay = 300 * time.Millisecond
	receiptRetry = 30 * time.Second
	// expiryCheck bounds the wait between two expiry checks.
	expiryCheck = time.Minute
)

func (c *Client) kickReceipts() {
	select {
	case c.receipts <- struct{}{}:
	default:
	}
}

func (c *Client) kickExpiry() {
	select {
	case c.expiry <- struct{}{}:
	default:
	}
}

// receiptLoop sends the queued receipts (spec/client.md §12.2): at start,
// when woken, and every receiptRetry while some wait.
func (c *Client) receiptLoop() {
	defer c.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.receipts:
			select {
			case <-time.After(receiptDelay):
			case <-c.ctx.Done():
				return
			}
		case <-t.C:
		}
		if err := c.sendReceipts(c.ctx, false); err != nil && c.ctx.Err() == nil {
			c.log.Info("client: sending receipts failed; will retry", "err", err)
		}
		t.Reset(receiptRetry)
	}
}

// SendReceipts sends the delivery and read receipts waiting for their
// batch (spec/client.md §12.2) now, and returns once the relay has them.
// The client sends them by itself within a second; an application about
// to Close calls it so that they do not wait for the next Open.
func (c *Client) SendReceipts(ctx context.Context) error {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	// Receipts of messages acked a moment ago are queued by the ack's
	// commit: wait for those first.
	for c.acksPending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return c.sendReceipts(ctx, true)
}

// sendReceipts sends every queued receipt, in batches of up to
// content.MaxReceiptIDs per account and type, waiting for the relay if
// wait. A batch leaves the queue in the transaction that queues its
// message.
func (c *Client) sendReceipts(ctx context.Context, wait bool) error {
	for {
		var batch *localstore.PendingReceipts
		err := c.store.View(ctx, func(tx localstore.Tx) error {
			var err error
			batch, err = tx.PendingReceiptBatch(content.MaxReceiptIDs)
			return err
		})
		if err != nil || batch == nil {
			return storeError(err)
		}
		typ := contentpb.Receipt_TYPE_DELIVERED
		if batch.Type == localstore.ReceiptRead {
			typ = contentpb.Receipt_TYPE_READ
		}
		ct := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Receipt{Receipt: &contentpb.Receipt{
			Type: typ, TargetIds: batch.IDs, Timestamp: uint64(time.Now().UnixMilli()),
		}}}}
		body, err := content.Marshal(ct)
		if err != nil {
			return err
		}
		// No access key: a receipt goes to whoever wrote, and a device
		// hands its key only to accounts it writes to (spec/client.md
		// §13.6).
		m := &outMessage{
			version: payloadVersion2, body: body, kind: content.KindReceipt, cachedKeys: true,
			// Delivery receipts go to the sender; read receipts to the
			// sender (unless turned off) and this account's other
			// devices, which keep read state too (§12.2).
			noOwn:  batch.Type == localstore.ReceiptDelivered,
			noPeer: batch.Type == localstore.ReceiptRead && c.cfg.NoReadReceipts,
			wait:   wait,
			apply: func(tx localstore.Tx, _ MessageID, _ time.Time) error {
				return tx.DeleteReceipts(batch.Peer, batch.Type, batch.IDs)
			},
		}
		_, err = c.send(ctx, batch.Peer, m, nil)
		if errors.Is(err, errNoTargets) || errors.Is(err, ErrUnknownHandle) || errors.Is(err, ErrInvalidHandle) ||
			errors.Is(err, ErrKeyChanged) || errors.Is(err, ErrSecurity) {
			// Nobody to send them to, or not now that the contact's key
			// changed: receipts are not worth holding up the others.
			c.log.Info("client: receipts dropped", "err", err)
			err = c.store.Update(ctx, func(tx localstore.Tx) error {
				return tx.DeleteReceipts(batch.Peer, batch.Type, batch.IDs)
			})
		}
		if err != nil {
			return storeError(err)
		}
	}
}

// expiryLoop deletes expired messages (spec/client.md §12.5): at start
// (also those that ran out while the application was not running), at
// the next expiry, when woken, and at least every expiryCheck; and drops
// held content older than heldLifetime.
func (c *Client) expiryLoop() {
	defer c.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.expiry:
		case <-t.C:
		}
		next, err := c.expire(c.ctx, time.Now())
		if err != nil && c.ctx.Err() == nil {
			c.log.Warn("client: deleting expired messages failed; will retry", "err", err)
		}
		wait := expiryCheck
		if !next.IsZero() && time.Until(next) < wait {
			wait = max(time.Until(next), 0)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// expire deletes the messages whose expiry is at or before now, and the
// held content older than heldLifetime, then truncates the store's
// write-ahead log so that nothing of them stays on disk (secure_delete
// overwrites the rows). It returns the next expiry.
func (c *Client) expire(ctx context.Context, now time.Time) (time.Time, error) {
	var (
		next    time.Time
		gone    = map[string][]MessageID{}
		dropped []localstore.HeldContent
	)
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		clear(gone)
		for {
			rows, err := tx.HistoryExpired(now, 256)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if err := tx.DeleteHistory(r.Conversation, r.ID); err != nil {
					return err
				}
				if id, ok := toMessageID(r.ID); ok {
					gone[r.Conversation] = append(gone[r.Conversation], id)
				}
			}
			if len(rows) < 256 {
				break
			}
		}
		var err error
		if dropped, err = tx.DropHeldContent("", now.Add(-heldLifetime), 0); err != nil {
			return err
		}
		next, err = tx.NextExpiry()
		return err
	})
	if err != nil {
		return time.Time{}, storeError(err)
	}
	if len(gone) > 0 || len(dropped) > 0 {
		if err := c.store.Checkpoint(); err != nil {
			return next, storeError(err)
		}
	}
	for conv, ids := range gone {
		c.emit(Event{Kind: EventMessageExpired, Handle: conv, Messages: ids})
	}
	for _, h := range dropped {
		c.emit(Event{Kind: EventContentDropped, Handle: h.Sender, Device: h.SenderDevice, Err: errHeldTooLong})
	}
	return next, nil
}
