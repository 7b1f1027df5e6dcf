package relay

import (
	"container/heap"
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// pusher decides when to wake which device and sends the wake-ups
// (spec/push.md §3). Flow:
//
//	Send committed ─► note(recipient) for each recipient not connected here
//	connection ends ─► note(address)          (mail it did not ack)
//	relay starts ───► note(each address store.PendingWakes lists)
//	     │  O(1) under p.mu, never blocks: the address is due at
//	     │  now+Delay unless it is due already (then it is coalesced)
//	     ▼
//	loop (one goroutine): takes due addresses in batches, skips those
//	     connected here, and asks the store to claim them (ClaimWakes: new
//	     mail, and NextWake passed); an address owed a wake-up that is not
//	     claimable yet is due again at its NextWake
//	     ▼
//	workers (Workers goroutines): send each claimed wake-up, bounded by
//	     Timeout; delivered ─► WakeDone; gone ─► RemovePush; failed ─►
//	     WakeFailed with back-off, due again then; MaxFailures in a row ─►
//	     RemovePush
//
// Nothing here is on the path of a Send: note only marks an address. The
// store holds what must survive a restart (spec/push.md §3.4); the map
// and heap below are a schedule rebuilt from it at start.
type pusher struct {
	s   *Server
	q   store.PushQueue
	cfg PushConfig

	mu       sync.Mutex
	due      map[string]dueAt // addresses to look at, by when (wall clock)
	sched    dueHeap          // the same, ordered; stale entries skipped
	overflow bool             // notes were dropped: scan the store again
	// Addresses with a wake-up claimed and not yet settled: not claimed
	// again meanwhile (a send may outlast the interval); the value says
	// whether it was noted meanwhile, and is noted again once settled.
	inflight map[string]bool
	kick     chan struct{} // capacity 1: the loop has something new
	jobs     chan store.PushWake
	gateways map[string]bool
	// minBackoff is the delay after a first failure (minWakeBackoff;
	// tests shorten it before the first wake-up).
	minBackoff time.Duration

	// ctx bounds the wake-ups in flight; cancelled when the relay stops,
	// so that Shutdown does not wait for a push service that hangs.
	ctx    context.Context
	cancel context.CancelFunc

	gmu     sync.Mutex
	gates   map[string]*hostGate // push services with wake-ups in flight, by host
	perHost int                  // wake-ups in flight to one push service at most
}

// hostGate is what one push service (the host of an endpoint, or a
// gateway) has in flight and waiting (spec/push.md §3.3): one that hangs
// holds at most perHost workers, and the others go on.
type hostGate struct {
	busy    int
	waiting []store.PushWake
}

// maxHostWaiting bounds the wake-ups waiting for one push service; more
// wait for their registration's next claim.
const maxHostWaiting = 4096

// maxDue bounds the addresses waiting in the schedule; beyond it notes
// are dropped and the store is scanned again once the schedule empties,
// so nothing owed is lost (spec/push.md §3.4).
const maxDue = 1 << 20

// claimBatch is the most addresses one ClaimWakes call takes.
const claimBatch = 1000

func newPusher(s *Server, q store.PushQueue, cfg PushConfig) *pusher {
	p := &pusher{
		s: s, q: q, cfg: cfg,
		due: make(map[string]dueAt), kick: make(chan struct{}, 1), inflight: make(map[string]bool),
		jobs: make(chan store.PushWake, cfg.Workers), gateways: make(map[string]bool),
		minBackoff: minWakeBackoff,
		gates:      make(map[string]*hostGate), perHost: max(1, cfg.Workers/4),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, g := range cfg.Gateways {
		p.gateways[g] = true
	}
	return p
}

// start runs the loop, the workers and the scan of the store; they end
// when s.stop closes.
func (p *pusher) start() {
	p.s.bgDone.Add(2 + p.cfg.Workers)
	go func() {
		defer p.s.bgDone.Done()
		<-p.s.stop
		p.cancel()
	}()
	go p.loop()
	for range p.cfg.Workers {
		go p.worker()
	}
	p.s.bgDone.Add(1)
	go func() {
		defer p.s.bgDone.Done()
		p.scan()
	}()
}

// note marks addr as maybe owed a wake-up, Delay from now, unless it is
// due already. Safe to call from any goroutine; it never blocks on I/O.
func (p *pusher) note(addr []byte) {
	if wire.IsLinkAddress(addr) {
		return // a link mailbox is never woken (spec/relay.md §17.3)
	}
	p.noteAt(string(addr), time.Now().Add(p.cfg.Delay), false)
}

// dueAt is when an address is due, and whether that time came from the
// store (its next claim, or a back-off): a note does not move such a
// time earlier, since the store would only answer it with the same.
type dueAt struct {
	at   time.Time
	firm bool
}

func (p *pusher) noteAt(addr string, at time.Time, firm bool) {
	p.mu.Lock()
	if old, ok := p.due[addr]; ok {
		if (old.firm && !firm) || !at.Before(old.at) {
			p.mu.Unlock()
			p.s.m.wakeCoalesced()
			return
		}
	} else if len(p.due) >= maxDue {
		p.overflow = true
		p.mu.Unlock()
		p.s.m.drop("wake_schedule_full", 1)
		return
	}
	p.due[addr] = dueAt{at: at, firm: firm}
	heap.Push(&p.sched, dueEntry{addr: addr, at: at})
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// scan notes every address the store says is owed a wake-up: at start,
// and after notes were dropped.
func (p *pusher) scan() {
	var after []byte
	for {
		addrs, err := p.q.PendingWakes(p.s.ctx, after, claimBatch, p.s.now())
		if err != nil {
			if !p.s.isClosing() {
				p.s.log.Error("relay: scan for owed wake-ups failed", "err", err)
			}
			return
		}
		for _, a := range addrs {
			p.noteAt(string(a), time.Now(), false)
		}
		if len(addrs) < claimBatch {
			return
		}
		after = addrs[len(addrs)-1]
	}
}

// loop takes due addresses and claims their wake-ups.
func (p *pusher) loop() {
	defer p.s.bgDone.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch, next, rescan := p.take(time.Now())
		if rescan {
			p.scan()
		}
		if len(batch) > 0 {
			p.claim(batch)
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
		}
		timer.Reset(wait)
		select {
		case <-p.s.stop:
			return
		case <-p.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// take removes from the schedule up to claimBatch addresses due at now
// and not connected to this node, and returns them with the time the
// next one is due (zero if none), and whether the store must be scanned
// again.
func (p *pusher) take(now time.Time) (batch [][]byte, next time.Time, rescan bool) {
	p.mu.Lock()
	for p.sched.Len() > 0 && len(batch) < claimBatch {
		e := p.sched[0]
		if d, ok := p.due[e.addr]; !ok || !d.at.Equal(e.at) {
			heap.Pop(&p.sched) // stale: taken already, or due sooner
			continue
		}
		if e.at.After(now) {
			next = e.at
			break
		}
		heap.Pop(&p.sched)
		delete(p.due, e.addr)
		if _, ok := p.inflight[e.addr]; ok {
			p.inflight[e.addr] = true // looked at again once it settles
			continue
		}
		batch = append(batch, []byte(e.addr))
	}
	if p.overflow && len(p.due) == 0 {
		p.overflow, rescan = false, true
	}
	if p.sched.Len() == 0 {
		p.sched = nil // no backing array kept while idle
	}
	p.mu.Unlock()
	// Not under p.mu: note is called under s.mu.
	kept := batch[:0]
	for _, a := range batch {
		if !p.s.connected(string(a)) {
			kept = append(kept, a) // connected ones get their mail, and are noted again when they leave
		}
	}
	return kept, next, rescan
}

// claim asks the store which of addrs are owed a wake-up now and hands
// those to the workers; the others owed one later are due again then.
func (p *pusher) claim(addrs [][]byte) {
	now := p.s.now()
	start := time.Now()
	wakes, later, err := p.q.ClaimWakes(p.s.ctx, addrs, now, p.cfg.Interval)
	p.s.m.store("claim_wakes", start)
	if err != nil {
		if p.s.isClosing() {
			return
		}
		p.s.log.Error("relay: claiming wake-ups failed", "err", err)
		// Look again after a while: the store may be back.
		for _, a := range addrs {
			p.noteAt(string(a), time.Now().Add(minWakeBackoff), false)
		}
		return
	}
	for _, l := range later {
		p.noteAt(string(l.Addr), time.Now().Add(l.At.Sub(now)), true)
	}
	p.mu.Lock()
	for _, w := range wakes {
		p.inflight[string(w.Addr)] = false
	}
	p.mu.Unlock()
	for _, w := range wakes {
		select {
		case p.jobs <- w:
		case <-p.s.stop:
			// Claimed and not sent: the registration's NextWake holds it
			// back one interval, then the scan at start finds it.
			return
		}
	}
}

// worker sends claimed wake-ups and records their outcome.
func (p *pusher) worker() {
	defer p.s.bgDone.Done()
	for {
		select {
		case <-p.s.stop:
			return
		case w := <-p.jobs:
			host := wakeHost(w.Target)
			for ok := p.admit(host, w); ok && p.ctx.Err() == nil; {
				p.send(w)
				p.settled(w.Addr)
				w, ok = p.next(host)
			}
		}
	}
}

// settled ends addr's wake-up in flight, and notes addr again if it was
// noted meanwhile.
func (p *pusher) settled(addr []byte) {
	p.mu.Lock()
	again := p.inflight[string(addr)]
	delete(p.inflight, string(addr))
	p.mu.Unlock()
	if again {
		p.note(addr)
	}
}

// admit takes a slot of w's push service for w, or, when it has perHost
// in flight, queues w behind them (false).
func (p *pusher) admit(host string, w store.PushWake) bool {
	p.gmu.Lock()
	defer p.gmu.Unlock()
	g := p.gates[host]
	if g == nil {
		g = &hostGate{}
		p.gates[host] = g
	}
	if g.busy < p.perHost {
		g.busy++
		return true
	}
	if len(g.waiting) >= maxHostWaiting {
		// Claimed, not sent: the registration's next claim (one interval
		// on) sends it.
		p.s.m.drop("wake_host_backlog", 1)
		p.settled(w.Addr)
		p.noteAt(string(w.Addr), time.Now().Add(p.cfg.Interval), true)
		return false
	}
	g.waiting = append(g.waiting, w)
	return false
}

// next hands the worker leaving host's slot the next wake-up waiting for
// host, keeping the slot, or frees the slot (false).
func (p *pusher) next(host string) (store.PushWake, bool) {
	p.gmu.Lock()
	defer p.gmu.Unlock()
	g := p.gates[host]
	if len(g.waiting) > 0 {
		w := g.waiting[0]
		g.waiting[0] = store.PushWake{}
		g.waiting = g.waiting[1:]
		return w, true
	}
	if g.busy--; g.busy == 0 {
		delete(p.gates, host)
	}
	return store.PushWake{}, false
}

// wakeHost names the push service of t: the host of its endpoint (a Web
// Push service) or its gateway.
func wakeHost(t store.PushTarget) string {
	if u, err := url.Parse(t.Endpoint); err == nil {
		return u.Host
	}
	return t.Endpoint
}

// send sends one wake-up and records its outcome (spec/push.md §3.3).
func (p *pusher) send(w store.PushWake) {
	s := p.s
	kind := pushKindLabel(w.Target.Kind)
	waker := p.waker(w.Target)
	if waker == nil {
		// The relay no longer sends to this target (its kind was turned
		// off, or its gateway removed): the device registers again and is
		// told.
		p.remove(w, "unsupported")
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.Timeout)
	err := waker.Wake(ctx, w.Target)
	cancel()
	if err != nil && p.ctx.Err() != nil {
		// The relay is stopping: not the push service's fault. The claim
		// holds the registration back one interval; the scan at start
		// finds it owed.
		return
	}
	var retry *PushRetryError
	switch {
	case err == nil:
		s.m.wake(kind, "delivered")
		if err := p.q.WakeDone(s.ctx, w.Addr, w.Gen, w.Through); err != nil && !s.isClosing() {
			s.log.Error("relay: recording a wake-up failed", "err", err)
		}
		return
	case errors.Is(err, ErrPushGone):
		s.m.wake(kind, "gone")
		p.remove(w, "gone")
		return
	case errors.As(err, &retry):
		s.m.wake(kind, "retry")
	default:
		s.m.wake(kind, "failed")
	}
	if s.isClosing() {
		return
	}
	s.log.Debug("relay: wake-up failed", "kind", kind, "failures", w.Failures+1, "err", redactURL(err))
	if w.Failures+1 >= p.cfg.MaxFailures {
		p.remove(w, "failures")
		return
	}
	backoff := wakeBackoff(p.minBackoff, w.Failures, retry)
	if _, err := p.q.WakeFailed(s.ctx, w.Addr, w.Gen, s.now().Add(backoff)); err != nil {
		s.log.Error("relay: recording a failed wake-up failed", "err", err)
	}
	p.noteAt(string(w.Addr), time.Now().Add(backoff), true)
}

// remove deletes w's registration, unless the device registered another
// meanwhile.
func (p *pusher) remove(w store.PushWake, why string) {
	ok, err := p.q.RemovePush(p.s.ctx, w.Addr, w.Gen)
	if err != nil {
		if !p.s.isClosing() {
			p.s.log.Error("relay: removing a push registration failed", "err", err)
		}
		return
	}
	if ok {
		p.s.m.pushRemoved(why)
	}
}

// waker returns what sends to t, or nil if this relay no longer does.
func (p *pusher) waker(t store.PushTarget) Waker {
	switch t.Kind {
	case store.PushWeb:
		return p.cfg.WebPush
	case store.PushGateway:
		if p.gateways[t.Endpoint] {
			return p.cfg.Gateway
		}
	}
	return nil
}

// wakeBackoff is the delay before trying a registration again after its
// failure number failures+1: base (5 s) doubling to 1 h, and never sooner
// than the push service asked.
func wakeBackoff(base time.Duration, failures int, retry *PushRetryError) time.Duration {
	d := maxWakeBackoff
	if failures < 10 {
		d = min(base<<failures, maxWakeBackoff)
	}
	if retry != nil && retry.After > d {
		d = min(retry.After, maxWakeBackoff)
	}
	return d
}

// redactURL drops the URL from err: a push endpoint is a capability, kept
// out of logs (spec/push.md §10).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func pushKindLabel(k store.PushKind) string {
	switch k {
	case store.PushWeb:
		return "web_push"
	case store.PushGateway:
		return "gateway"
	}
	return "unknown"
}

// dueEntry is an address of the schedule and when it is due.
type dueEntry struct {
	addr string
	at   time.Time
}

// dueHeap orders entries by due time (container/heap).
type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
