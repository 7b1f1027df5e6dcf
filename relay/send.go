package relay

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// send handles a Send (spec/relay.md §7.1): the frame rate limit, then,
// beside the reader and bounded by maxInflight, the quotas (§6.1) and the
// store call; the answer is queued once the store returned (durable).
func (c *conn) send(m *wire.Send) bool {
	s := c.s
	if len(m.SendToken) != 0 {
		// Only anonymous sends carry a token (spec/relay.md §15.2), and
		// so access keys (§15.8, a frame rule the codec checks too).
		c.fail(wire.ErrorCode_ERROR_CODE_MALFORMED, "send token on an authenticated connection")
		return false
	}
	if c.link && !c.checkLinkSend(m) {
		return false
	}
	if !c.bucket.take(time.Now(), s.lim.SendsPerSecond, s.lim.SendBurst) {
		c.fail(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, "")
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
	now := s.now()
	var id [store.MessageIDSize]byte
	copy(id[:], m.MessageId)
	items := make([]store.Item, len(m.Items))
	for i, it := range m.Items {
		items[i] = store.Item{Recipient: it.Recipient, Envelope: itemEnvelope(m, it)}
	}
	p := payer{sender: []byte(c.addr), budget: c.budget, self: c.account, dedupUntil: now.Add(s.lim.DedupWindow)}
	if c.link && !c.linkToken {
		// The hard limit of a link connection without a token
		// (spec/relay.md §17.3).
		p.maxEnvelope = wire.MaxLinkEnvelope
	}
	shared := len(m.SharedBody) != 0
	go func() {
		defer s.inflight.Done()
		defer c.release()
		if ans := c.sendItems(p, id, items, now, shared); ans != nil {
			c.enqueue(&wire.Frame{Body: &wire.Frame_SendResult{SendResult: ans}}, true)
		}
	}()
	return true
}

// itemEnvelope is the envelope of item it of m: its own, or, in a shared
// send, the shared body, the same slice for every item (spec/relay.md
// §16.2). From here on a shared send's items are decided, charged to the
// quotas, stored (store.Send.Shared) and pushed as envelopes of
// len(body) bytes each.
func itemEnvelope(m *wire.Send, it *wire.Item) []byte {
	if len(m.SharedBody) != 0 {
		return m.SharedBody
	}
	return it.Envelope
}

// payer is who a send is decided for (spec/relay.md §6.1, §7.2, §15): the
// first half of its dedup key, its quota budget, its own account (exempt
// from quotas), and how long its dedup record is kept.
type payer struct {
	sender     []byte // the sending address, or the spent key of an anonymous send
	budget     senderBudget
	self       string // the sending account's handle; "" for an anonymous send
	dedupUntil time.Time
	anonymous  bool // the sender is a spent key: the dedup key is the token alone
	// maxEnvelope, if not 0, caps the envelopes below the relay's
	// max_envelope (a link connection without a token, spec/relay.md
	// §17.3).
	maxEnvelope int
}

// storeID is the message id a send is stored under: the client's, or, for
// an anonymous send, all zeros, so that the spent token alone is the dedup
// key whatever the Send's message id (spec/relay.md §15.4).
func (p payer) storeID(id [store.MessageIDSize]byte) [store.MessageIDSize]byte {
	if p.anonymous {
		return [store.MessageIDSize]byte{}
	}
	return id
}

// request is the store request for items under id.
func (c *conn) request(p payer, id [store.MessageIDSize]byte, items []store.Item, now time.Time, shared bool) *store.Send {
	s := c.s
	req := &store.Send{
		Sender:        p.sender,
		MessageID:     id,
		Items:         items,
		Now:           now,
		Expiry:        now.Add(s.lim.TTL),
		DedupUntil:    p.dedupUntil,
		MaxEnvelope:   s.lim.MaxEnvelope,
		MaxQueueCount: s.lim.MaxQueueCount,
		MaxQueueBytes: s.lim.MaxQueueBytes,
		// Anonymous sends are checked against the recipients' access
		// settings (spec/relay.md §15.8).
		CheckAccess:         p.anonymous,
		FirstContactPerHour: max(s.lim.FirstContactPerHour, 0),
		// One body, stored once (spec/relay.md §16.3).
		Shared: shared,
	}
	if p.maxEnvelope > 0 {
		req.MaxEnvelope = min(req.MaxEnvelope, p.maxEnvelope)
	}
	// Pushed in commit order, before the answer (spec/relay.md §8.2).
	req.Committed = func(res store.SendResult) { s.offer(req, &res) }
	return req
}

// storeSend runs req at the store. If it fails, the connection is failed
// and the recipients here fetch (it may have committed): ok is false.
func (c *conn) storeSend(req *store.Send) (res store.SendResult, ok bool) {
	s := c.s
	start := time.Now()
	res, err := s.q.Send(s.ctx, *req)
	s.m.store("send", start)
	if err == nil && len(res.Statuses) != len(req.Items) && !res.Duplicate {
		err = errors.New("relay: store answered the wrong number of statuses")
	}
	if err == nil && !res.Duplicate && (len(res.IDs) != len(req.Items) || len(res.Prevs) != len(req.Items)) {
		err = errors.New("relay: store answered the wrong number of ids")
	}
	if err != nil {
		s.log.Error("relay: send failed", "err", err)
		c.fail(storeFailure(err), "store failed")
		// It may have committed: the recipients here fetch.
		s.wakeRecipients(req.Items)
		return res, false
	}
	return res, true
}

// sendItems decides and stores one Send and returns its answer, or nil if
// the store failed (spec/relay.md §6.1, §7.1, §7.2).
func (c *conn) sendItems(p payer, id [store.MessageIDSize]byte, items []store.Item, now time.Time, shared bool) *wire.SendResult {
	s := c.s
	ans := c.decideItems(p, id, items, now, shared)
	if shared && ans != nil && !ans.Duplicate {
		s.m.shared(ans.Statuses, len(items[0].Envelope))
	}
	return ans
}

// decideItems is sendItems without the shared-send metrics.
func (c *conn) decideItems(p payer, id [store.MessageIDSize]byte, items []store.Item, now time.Time, shared bool) *wire.SendResult {
	s := c.s
	adm := s.quota.admit(s.ctx, p.budget, p.self, items, time.Now())
	none := func(int) bool { return false }
	if adm.over == len(items) {
		// Nothing admitted: no store call and no dedup record, so a retry
		// under the same id is decided afresh (§7.2).
		ans := &wire.SendResult{MessageId: id[:], Statuses: make([]wire.Status, len(items)), RetryAfterMs: retryMs(adm.maxWait)}
		for i := range items {
			ans.Statuses[i] = wire.Status_STATUS_QUOTA
			s.m.refusal("quota")
		}
		s.m.send(0)
		return ans
	}
	if adm.over == 0 {
		res, ok := c.storeSend(c.request(p, p.storeID(id), items, now, shared))
		if !ok {
			s.quota.settle(p.budget, adm, items, none)
			return nil
		}
		if !res.Duplicate || len(res.Statuses) > 0 || len(items) == 0 {
			return c.answer(p, id, items, adm, res)
		}
		// An empty remembered answer: an earlier attempt was split per
		// item (§7.2).
	} else {
		// Some items over quota: claim the id with an empty record (the
		// split marker), unless an earlier attempt stored the whole send.
		res, ok := c.storeSend(c.request(p, p.storeID(id), nil, now, false))
		if !ok {
			s.quota.settle(p.budget, adm, items, none)
			return nil
		}
		if res.Duplicate && len(res.Statuses) > 0 {
			s.quota.settle(p.budget, adm, items, none)
			return c.answer(p, id, items, admission{charged: adm.charged}, res)
		}
	}
	return c.sendSplit(p, id, items, now, adm)
}

// answer is the answer to a send that the store decided whole.
func (c *conn) answer(p payer, id [store.MessageIDSize]byte, items []store.Item, adm admission, res store.SendResult) *wire.SendResult {
	s := c.s
	ans := &wire.SendResult{MessageId: id[:], Statuses: make([]wire.Status, len(res.Statuses)), Duplicate: res.Duplicate}
	stored := 0
	for i, st := range res.Statuses {
		ans.Statuses[i] = wire.Status(st)
		if st == store.Stored && !res.Duplicate {
			stored++
		} else if !res.Duplicate {
			s.m.refusal(statusReason(st))
		}
	}
	if !res.Duplicate {
		s.m.firstContact(res.FirstContacts)
	}
	if adm.retry != nil {
		s.quota.settle(p.budget, adm, items, func(i int) bool {
			return !res.Duplicate && i < len(res.Statuses) && res.Statuses[i] == store.Stored
		})
	}
	s.m.send(stored)
	return ans
}

// quotaItemLabel separates the store ids of split sends (spec/relay.md
// §7.2).
const quotaItemLabel = "sealpost/v1/relay-quota-item"

// itemID is the store id of item i of a split send with id:
// SHA-256(label || 0x00 || id || u16 i)[0:16] (spec/relay.md §7.2).
func itemID(id [store.MessageIDSize]byte, i int) [store.MessageIDSize]byte {
	h := sha256.New()
	h.Write([]byte(quotaItemLabel))
	h.Write([]byte{0})
	h.Write(id[:])
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(i)))
	return [store.MessageIDSize]byte(h.Sum(nil))
}

// sendSplit stores each admitted item of a split send under an id of its
// own, so that the items over quota can be stored by a retry of the same
// send (spec/relay.md §7.2). The stores run at once: the engine commits
// them together.
func (c *conn) sendSplit(p payer, id [store.MessageIDSize]byte, items []store.Item, now time.Time, adm admission) *wire.SendResult {
	s := c.s
	ans := &wire.SendResult{MessageId: id[:], Statuses: make([]wire.Status, len(items)), Duplicate: true}
	res := make([]store.SendResult, len(items))
	ok := make([]bool, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		if adm.retry[i] > 0 {
			continue
		}
		// One item each: a shared send's admitted items are stored as
		// envelopes of their own (spec/relay.md §16.3).
		wg.Go(func() {
			res[i], ok[i] = c.storeSend(c.request(p, itemID(p.storeID(id), i), []store.Item{it}, now, false))
		})
	}
	wg.Wait()
	stored, failed := 0, false
	for i := range items {
		switch {
		case adm.retry[i] > 0:
			ans.Statuses[i] = wire.Status_STATUS_QUOTA
			s.m.refusal("quota")
		case !ok[i]:
			failed = true // storeSend failed the connection
		case len(res[i].Statuses) != 1:
			failed = true
			s.log.Error("relay: send failed", "err", "store answered the wrong number of statuses")
			c.fail(wire.ErrorCode_ERROR_CODE_INTERNAL, "store failed")
		case res[i].Duplicate:
			ans.Statuses[i] = wire.Status(res[i].Statuses[0])
		default:
			ans.Duplicate = false
			ans.Statuses[i] = wire.Status(res[i].Statuses[0])
			s.m.firstContact(res[i].FirstContacts)
			if res[i].Statuses[0] == store.Stored {
				stored++
			} else {
				s.m.refusal(statusReason(res[i].Statuses[0]))
			}
		}
	}
	s.quota.settle(p.budget, adm, items, func(i int) bool {
		return ok[i] && !res[i].Duplicate && len(res[i].Statuses) == 1 && res[i].Statuses[0] == store.Stored
	})
	if failed {
		return nil
	}
	ans.RetryAfterMs = retryMs(adm.maxWait)
	s.m.send(stored)
	return ans
}

// retryMs is a retry-after in whole milliseconds, at least 1 when d > 0.
func retryMs(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(min(max(1, (d+time.Millisecond-1)/time.Millisecond), 1<<31))
}
