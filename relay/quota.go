package relay

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// senderBudget names who pays for a send's envelopes (spec/relay.md §6.1):
// for an authenticated connection, its account. Anonymous sends (a later
// version) will name the budget of the tokens they spend; the accounting
// below keys everything by budget, never by connection.
type senderBudget string

// accountBudget is the budget of an authenticated account.
func accountBudget(handle string) senderBudget { return senderBudget("a:" + handle) }

// reconcileEvery bounds how often the share of one mailbox is checked
// against the store's queue depth (spec/relay.md §6.1).
const reconcileEvery = time.Second

// maxReconcile bounds the mailboxes whose depth one send reads.
const maxReconcile = 8

// quotas is a relay node's per-recipient accounting (spec/relay.md §6.1),
// in memory: per (budget, recipient account) a token bucket of envelopes
// and bytes, and per (budget, recipient device) the envelopes and bytes
// this node stored that may still be queued.
type quotas struct {
	rate, burst         float64 // envelopes
	byteRate, byteBurst float64 // bytes
	shareCount          int
	shareBytes          int64
	shareAll            bool // 100%: the queue caps are the share
	maxEnvelope         int
	shareRetry          time.Duration
	ttl                 time.Duration
	stats               func(ctx context.Context, addr []byte) (store.Stats, error)

	mu     sync.Mutex
	pairs  map[pairKey]*pairBucket
	shares map[string]*mailboxShare // by recipient device address
}

type pairKey struct {
	b  senderBudget
	to string // recipient handle
}

type pairBucket struct {
	env, bytes float64
	last       time.Time
}

// mailboxShare is what each budget holds of one mailbox, as far as this
// node knows: an upper bound (spec/relay.md §6.1).
type mailboxShare struct {
	held    map[senderBudget]*held
	checked time.Time // last reconcile
}

type held struct {
	count int
	bytes int64
	last  time.Time // last charge
	// Charged by sends whose store call has not returned: not yet in the
	// store's depth (clamp).
	pendCount int
	pendBytes int64
}

func newQuotas(l Limits, stats func(context.Context, []byte) (store.Stats, error)) *quotas {
	return &quotas{
		rate: float64(l.QuotaRate), burst: float64(l.QuotaBurst),
		byteRate: float64(l.QuotaBytesRate), byteBurst: float64(l.QuotaBytesBurst),
		shareCount:  max(1, l.MaxQueueCount*l.QuotaSharePercent/100),
		shareBytes:  max(1, l.MaxQueueBytes/100*int64(l.QuotaSharePercent)),
		shareAll:    l.QuotaSharePercent >= 100,
		shareRetry:  l.QuotaShareRetry,
		maxEnvelope: l.MaxEnvelope, ttl: l.TTL, stats: stats,
		pairs: make(map[pairKey]*pairBucket), shares: make(map[string]*mailboxShare),
	}
}

// admission is the quota decision for a send's items: retry[i] is 0 for
// an admitted item, else its retry-after; charged[i] says whether item i
// was charged to a share (refunded by settle unless stored).
type admission struct {
	retry   []time.Duration
	charged []bool
	over    int           // items refused
	maxWait time.Duration // longest retry
}

// Why admitLocked refused an item.
const (
	notRefused = iota
	refusedRate
	refusedShare
)

// admit decides every item of a send from budget b, whose own account is
// self ("" for none), at now (spec/relay.md §6.1, §7.1 step 2). Items to
// self's own devices, items over max_envelope and malformed recipients are
// admitted uncharged (the store decides them).
func (q *quotas) admit(ctx context.Context, b senderBudget, self string, items []store.Item, now time.Time) admission {
	a := admission{retry: make([]time.Duration, len(items)), charged: make([]bool, len(items))}
	why := make([]uint8, len(items))
	var recheck []string
	q.mu.Lock()
	for i, it := range items {
		why[i] = q.admitLocked(&a, i, b, self, it, now)
		if why[i] == refusedShare && len(recheck) < maxReconcile {
			ms := q.shares[string(it.Recipient)]
			if ms != nil && now.Sub(ms.checked) >= reconcileEvery && !slices.Contains(recheck, string(it.Recipient)) {
				ms.checked = now
				recheck = append(recheck, string(it.Recipient))
			}
		}
	}
	q.mu.Unlock()
	if len(recheck) > 0 {
		// The share is an upper bound: no budget holds more of a mailbox
		// than the mailbox holds. Tighten it and decide again.
		for _, r := range recheck {
			st, err := q.stats(ctx, []byte(r))
			if err != nil {
				continue
			}
			q.clamp(r, st)
		}
		q.mu.Lock()
		for i, it := range items {
			if why[i] == refusedShare && slices.Contains(recheck, string(it.Recipient)) {
				why[i] = q.admitLocked(&a, i, b, self, it, now)
			}
		}
		q.mu.Unlock()
	}
	for i := range items {
		switch why[i] {
		case refusedRate:
			// a.retry[i] set by admitLocked
		case refusedShare:
			a.retry[i] = q.shareRetry
		default:
			a.retry[i] = 0
			continue
		}
		a.over++
		a.maxWait = max(a.maxWait, a.retry[i])
	}
	return a
}

// admitLocked decides item i; q.mu is held.
func (q *quotas) admitLocked(a *admission, i int, b senderBudget, self string, it store.Item, now time.Time) uint8 {
	if len(it.Envelope) > q.maxEnvelope || wire.CheckAddress(it.Recipient) != nil {
		return notRefused
	}
	handle := it.Recipient[1 : 1+int(it.Recipient[0])]
	if string(handle) == self {
		return notRefused // own devices (spec/relay.md §6.1)
	}
	size := float64(len(it.Envelope))
	ms := q.shares[string(it.Recipient)]
	var h *held
	if ms != nil {
		h = ms.held[b]
	}
	if h != nil && !q.shareAll && (h.count+1 > q.shareCount || h.bytes+int64(len(it.Envelope)) > q.shareBytes) {
		return refusedShare
	}
	pk := pairKey{b, string(handle)}
	pb := q.pairs[pk]
	if pb == nil {
		pb = &pairBucket{env: q.burst, bytes: q.byteBurst, last: now}
		q.pairs[pk] = pb
	}
	pb.refill(now, q)
	if pb.env < 1 || pb.bytes < size {
		wait := max((1-pb.env)/q.rate, (size-pb.bytes)/q.byteRate)
		a.retry[i] = max(time.Millisecond, time.Duration(math.Ceil(wait*1000))*time.Millisecond)
		return refusedRate
	}
	pb.env--
	pb.bytes -= size
	if ms == nil {
		ms = &mailboxShare{held: make(map[senderBudget]*held, 1)}
		q.shares[string(it.Recipient)] = ms
	}
	if h == nil {
		h = &held{}
		ms.held[b] = h
	}
	h.count++
	h.bytes += int64(len(it.Envelope))
	h.pendCount++
	h.pendBytes += int64(len(it.Envelope))
	h.last = now
	a.charged[i] = true
	return notRefused
}

func (pb *pairBucket) refill(now time.Time, q *quotas) {
	if d := now.Sub(pb.last).Seconds(); d > 0 {
		pb.env = min(q.burst, pb.env+d*q.rate)
		pb.bytes = min(q.byteBurst, pb.bytes+d*q.byteRate)
		pb.last = now
	}
}

// settle ends the charges of a send once its store call returned: each
// charged item is no longer pending, and the share of one not stored (a
// duplicate, a refusal by the store, a failed store call) is given back.
func (q *quotas) settle(b senderBudget, a admission, items []store.Item, stored func(i int) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, it := range items {
		if !a.charged[i] {
			continue
		}
		ms := q.shares[string(it.Recipient)]
		if ms == nil {
			continue
		}
		h := ms.held[b]
		if h == nil {
			continue
		}
		n := int64(len(it.Envelope))
		h.pendCount = max(0, h.pendCount-1)
		h.pendBytes = max(0, h.pendBytes-n)
		if !stored(i) {
			h.count = max(0, h.count-1)
			h.bytes = max(0, h.bytes-n)
		}
	}
}

// clamp tightens the shares of mailbox addr to its depth st, plus what
// sends in flight charged.
func (q *quotas) clamp(addr string, st store.Stats) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ms := q.shares[addr]
	if ms == nil {
		return
	}
	for _, h := range ms.held {
		h.count = min(h.count, st.Count+h.pendCount)
		h.bytes = min(h.bytes, st.Bytes+h.pendBytes)
	}
}

// drained forgets the shares of mailbox addr: its device acked everything
// delivered and nothing more waits (spec/relay.md §6.1).
func (q *quotas) drained(addr string) {
	q.mu.Lock()
	delete(q.shares, addr)
	q.mu.Unlock()
}

// prune forgets refilled pair buckets and shares whose envelopes have all
// expired (the last charge is older than the TTL).
func (q *quotas) prune(now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, pb := range q.pairs {
		pb.refill(now, q)
		if pb.env >= q.burst && pb.bytes >= q.byteBurst {
			delete(q.pairs, k)
		}
	}
	for a, ms := range q.shares {
		for b, h := range ms.held {
			if now.Sub(h.last) > q.ttl || h.count == 0 {
				delete(ms.held, b)
			}
		}
		if len(ms.held) == 0 {
			delete(q.shares, a)
		}
	}
}

// forget drops budget b's accounting toward the recipients of items: the
// budget of a spent send token, which pays for nothing more once its send
// is answered (spec/relay.md §15.5), so keeping it would only hold memory.
func (q *quotas) forget(b senderBudget, items []store.Item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range items {
		if ms := q.shares[string(it.Recipient)]; ms != nil {
			delete(ms.held, b)
			if len(ms.held) == 0 {
				delete(q.shares, string(it.Recipient))
			}
		}
		if wire.CheckAddress(it.Recipient) == nil {
			delete(q.pairs, pairKey{b, string(it.Recipient[1 : 1+int(it.Recipient[0])])})
		}
	}
}
