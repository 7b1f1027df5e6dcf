package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Push registrations and wake-up bookkeeping (store.PushQueue,
// spec/push.md §2, §3): every engine implements store.PushQueue on its
// Queue, and these cases hold for all alike.

// wakeInterval is the interval of the suite's claims.
const wakeInterval = time.Minute

// push returns the fixture's store as a store.PushQueue.
func (f *fixture) push() store.PushQueue {
	f.t.Helper()
	pq, ok := f.q.(store.PushQueue)
	if !ok {
		f.t.Fatalf("%T does not implement store.PushQueue", f.q)
	}
	return pq
}

// webTarget and gatewayTarget return a distinct well-formed target of
// each kind for label.
func webTarget(label string) *store.PushTarget {
	p256dh := bytes.Repeat([]byte(label), 65)[:65]
	p256dh[0] = 4
	return &store.PushTarget{
		Kind:     store.PushWeb,
		Endpoint: "https://push.example/wpush/v2/" + label,
		P256dh:   p256dh,
		Auth:     bytes.Repeat([]byte(label), 16)[:16],
	}
}

func gatewayTarget(label string) *store.PushTarget {
	return &store.PushTarget{
		Kind:     store.PushGateway,
		Endpoint: "https://gateway.example/v1/wake",
		Token:    []byte("device-token-" + label),
	}
}

func (f *fixture) setPush(addr []byte, t *store.PushTarget) {
	f.t.Helper()
	must(f.t, "SetPush", f.push().SetPush(f.ctx, addr, t))
}

// reg returns the registration of addr, failing on error.
func (f *fixture) reg(addr []byte) *store.PushRegistration {
	f.t.Helper()
	r, err := f.push().Push(f.ctx, addr)
	must(f.t, "Push", err)
	return r
}

// wantTarget checks that t holds exactly the fields of want, unused ones
// nil.
func wantTarget(t testing.TB, what string, got, want *store.PushTarget) {
	t.Helper()
	if !got.Equal(want) || (got.P256dh == nil) != (want.P256dh == nil) || (got.Auth == nil) != (want.Auth == nil) ||
		(got.Token == nil) != (want.Token == nil) {
		t.Fatalf("%s: target %+v, want %+v", what, *got, *want)
	}
}

// wantReg checks addr's registration: target want with its wake-up state.
func (f *fixture) wantReg(addr []byte, want *store.PushTarget, gen int64, next time.Time, woken int64, failures int) {
	f.t.Helper()
	r := f.reg(addr)
	if r == nil {
		f.t.Fatalf("Push(%x) = nil, want a registration", addr)
	}
	wantTarget(f.t, fmt.Sprintf("Push(%x)", addr), &r.Target, want)
	if r.Gen != gen || !r.NextWake.Equal(next) || r.Woken != woken || r.Failures != failures {
		f.t.Fatalf("Push(%x): gen %d next %v woken %v failures %d, want %d %v %v %d",
			addr, r.Gen, r.NextWake, r.Woken, r.Failures, gen, next, woken, failures)
	}
}

// wantNoReg checks that addr's mailbox has no registration.
func (f *fixture) wantNoReg(addr []byte) {
	f.t.Helper()
	if r := f.reg(addr); r != nil {
		f.t.Fatalf("Push(%x) = %+v, want nil", addr, *r)
	}
}

// mail stores one envelope for to, arrived at arrived and live until
// expiry, and returns its id.
func (f *fixture) mail(to []byte, arrived, expiry time.Time) int64 {
	f.t.Helper()
	s := f.newSend(alice, store.Item{Recipient: to, Envelope: envelope("wake", 10)})
	s.Now, s.Expiry = arrived, expiry
	return f.send(s, false, store.Stored).IDs[0]
}

// fill stores n envelopes for to, arrived at arrived and live until
// expiry, a few hundred per Send and beyond the suite's queue caps, and
// returns the last one's id.
func (f *fixture) fill(to []byte, n int, arrived, expiry time.Time) int64 {
	f.t.Helper()
	var last int64
	for n > 0 {
		items := make([]store.Item, min(n, 500))
		for i := range items {
			items[i] = store.Item{Recipient: to, Envelope: envelope("fill", 10)}
		}
		n -= len(items)
		s := f.newSend(alice, items...)
		s.Now, s.Expiry = arrived, expiry
		s.MaxQueueCount, s.MaxQueueBytes = 1<<30, 1<<40
		want := make([]store.Status, len(items))
		for i := range want {
			want[i] = store.Stored
		}
		r := f.send(s, false, want...)
		last = r.IDs[len(r.IDs)-1]
	}
	return last
}

// claim runs ClaimWakes at now with the suite's interval; both answers
// come back sorted by address, and each address is in at most one.
func (f *fixture) claim(now time.Time, addrs ...[]byte) ([]store.PushWake, []store.PushLater) {
	f.t.Helper()
	wakes, later, err := f.push().ClaimWakes(f.ctx, addrs, now, wakeInterval)
	must(f.t, "ClaimWakes", err)
	slices.SortFunc(wakes, func(a, b store.PushWake) int { return bytes.Compare(a.Addr, b.Addr) })
	slices.SortFunc(later, func(a, b store.PushLater) int { return bytes.Compare(a.Addr, b.Addr) })
	seen := map[string]bool{}
	for _, w := range wakes {
		seen[string(w.Addr)] = true
	}
	for _, l := range later {
		if seen[string(l.Addr)] {
			f.t.Fatalf("ClaimWakes: %x both claimed and later", l.Addr)
		}
	}
	return wakes, later
}

// wantNoClaim checks that a claim of addrs at now finds nothing owed.
func (f *fixture) wantNoClaim(what string, now time.Time, addrs ...[]byte) {
	f.t.Helper()
	wakes, later := f.claim(now, addrs...)
	if len(wakes) != 0 || len(later) != 0 {
		f.t.Fatalf("%s: ClaimWakes claimed %d, later %d, want none", what, len(wakes), len(later))
	}
}

// wantWake claims addr alone at now and checks the one wake-up: its
// registration gen and target, through and failures.
func (f *fixture) wantWake(now time.Time, addr []byte, gen int64, target *store.PushTarget, through int64, failures int) store.PushWake {
	f.t.Helper()
	wakes, later := f.claim(now, addr)
	if len(wakes) != 1 || len(later) != 0 {
		f.t.Fatalf("ClaimWakes(%x) at %v: claimed %d, later %d, want 1 claimed", addr, now, len(wakes), len(later))
	}
	checkWake(f.t, wakes[0], addr, gen, target, through, failures)
	return wakes[0]
}

func checkWake(t testing.TB, w store.PushWake, addr []byte, gen int64, target *store.PushTarget, through int64, failures int) {
	t.Helper()
	if !bytes.Equal(w.Addr, addr) || w.Gen != gen || w.Through != through || w.Failures != failures {
		t.Fatalf("wake-up {%x gen %d through %d failures %d}, want {%x %d %d %d}",
			w.Addr, w.Gen, w.Through, w.Failures, addr, gen, through, failures)
	}
	wantTarget(t, "wake-up", &w.Target, target)
}

// wantLater claims addr alone at now and checks that it is owed from at.
func (f *fixture) wantLater(now time.Time, addr []byte, at time.Time) {
	f.t.Helper()
	wakes, later := f.claim(now, addr)
	if len(wakes) != 0 || len(later) != 1 || !bytes.Equal(later[0].Addr, addr) || !later[0].At.Equal(at) {
		f.t.Fatalf("ClaimWakes(%x) at %v: claimed %d, later %+v, want later at %v", addr, now, len(wakes), later, at)
	}
}

// testPushSet: a registration, its repeat (nothing changes), its
// replacement (a new gen, the state reset) and its removal; gens increase
// across mailboxes and are never reused.
func testPushSet(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	f.wantNoReg(bob)
	must(t, "SetPush(nil) without a registration", f.push().SetPush(f.ctx, bob, nil))
	f.wantNoReg(bob)

	web := webTarget("a")
	f.setPush(bob, web)
	g1 := f.reg(bob).Gen
	f.wantReg(bob, web, g1, time.Time{}, 0, 0)

	// Some state: a wake-up claimed, delivered, then one failed.
	e1 := f.mail(bob, f.now, f.now.Add(time.Hour))
	f.wantWake(f.now, bob, g1, web, e1, 0)
	must(t, "WakeDone", f.push().WakeDone(f.ctx, bob, g1, e1))
	retry := f.now.Add(5 * time.Minute)
	e2 := f.mail(bob, f.now.Add(time.Second), f.now.Add(time.Hour))
	f.wantLater(f.now.Add(time.Second), bob, f.now.Add(wakeInterval))
	f.wantWake(f.now.Add(wakeInterval), bob, g1, web, e2, 0)
	n, err := f.push().WakeFailed(f.ctx, bob, g1, retry)
	must(t, "WakeFailed", err)
	if n != 1 {
		t.Fatalf("WakeFailed = %d, want 1", n)
	}
	f.wantReg(bob, web, g1, retry, e1, 1)

	// The same target again (a copy): nothing changes.
	same := *webTarget("a")
	f.setPush(bob, &same)
	f.wantReg(bob, web, g1, retry, e1, 1)

	// Another target: a new registration.
	gw := gatewayTarget("a")
	f.setPush(bob, gw)
	g2 := f.reg(bob).Gen
	if g2 <= g1 {
		t.Fatalf("replaced registration: gen %d after %d", g2, g1)
	}
	f.wantReg(bob, gw, g2, time.Time{}, 0, 0)
	// A target differing in one field only is another target too.
	gw2 := gatewayTarget("a")
	gw2.Endpoint += "/other"
	f.setPush(bob, gw2)
	g3 := f.reg(bob).Gen
	if g3 <= g2 {
		t.Fatalf("replaced registration: gen %d after %d", g3, g2)
	}
	f.wantReg(bob, gw2, g3, time.Time{}, 0, 0)

	// Another mailbox's registration gets a larger gen still.
	f.setPush(bob2, webTarget("b"))
	g4 := f.reg(bob2).Gen
	if g4 <= g3 {
		t.Fatalf("bob2's registration: gen %d after %d", g4, g3)
	}
	f.wantReg(bob, gw2, g3, time.Time{}, 0, 0)

	// Removal, twice; then the newest is removed and registered again:
	// gens are never reused.
	f.setPush(bob, nil)
	f.wantNoReg(bob)
	f.setPush(bob, nil)
	f.wantNoReg(bob)
	f.setPush(bob2, nil)
	f.setPush(bob2, webTarget("b"))
	if g := f.reg(bob2).Gen; g <= g4 {
		t.Fatalf("registration after removal: gen %d, used before up to %d", g, g4)
	}
	f.setPush(bob, web)
	if g := f.reg(bob).Gen; g <= g4 {
		t.Fatalf("registration after removal: gen %d, used before up to %d", g, g4)
	}
}

// testPushRefused: SetPush and Push without a mailbox fail with
// ErrNoMailbox; a malformed target fails with ErrInvalidPush and writes
// nothing.
func testPushRefused(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	pq := f.push()
	wantErr(t, "SetPush without a mailbox", pq.SetPush(f.ctx, carol, webTarget("a")), store.ErrNoMailbox)
	wantErr(t, "SetPush(nil) without a mailbox", pq.SetPush(f.ctx, carol, nil), store.ErrNoMailbox)
	_, err := pq.Push(f.ctx, carol)
	wantErr(t, "Push without a mailbox", err, store.ErrNoMailbox)

	web := webTarget("a")
	f.setPush(bob, web)
	e := f.mail(bob, f.now, f.now.Add(time.Hour))
	f.wantWake(f.now, bob, f.reg(bob).Gen, web, e, 0)
	before := *f.reg(bob)
	bad := []func(t *store.PushTarget){
		func(t *store.PushTarget) { t.Kind = 0 },
		func(t *store.PushTarget) { t.Kind = 1 },
		func(t *store.PushTarget) { t.Kind = 4 },
		func(t *store.PushTarget) { t.Endpoint = "" },
		func(t *store.PushTarget) { t.P256dh = t.P256dh[:64] },
		func(t *store.PushTarget) { t.P256dh = append(t.P256dh, 0) },
		func(t *store.PushTarget) { t.P256dh = nil },
		func(t *store.PushTarget) { t.Auth = t.Auth[:15] },
		func(t *store.PushTarget) { t.Auth = nil },
		func(t *store.PushTarget) { t.Token = []byte("token") },
		func(t *store.PushTarget) { t.Kind, t.Token = store.PushGateway, []byte("token") },
		func(t *store.PushTarget) { t.Kind, t.Token, t.P256dh = store.PushGateway, []byte("token"), nil },
		func(t *store.PushTarget) { t.Kind, t.Token, t.Auth = store.PushGateway, []byte("token"), nil },
		func(t *store.PushTarget) { t.Kind, t.P256dh, t.Auth = store.PushGateway, nil, nil },
		func(t *store.PushTarget) { t.Kind, t.P256dh, t.Auth, t.Token = store.PushGateway, nil, nil, []byte{} },
		func(t *store.PushTarget) {
			t.Kind, t.P256dh, t.Auth, t.Token, t.Endpoint = store.PushGateway, nil, nil, []byte("token"), ""
		},
	}
	for i, mutate := range bad {
		tg := webTarget("b")
		mutate(tg)
		wantErr(t, fmt.Sprintf("SetPush of malformed target %d", i), pq.SetPush(f.ctx, bob, tg), store.ErrInvalidPush)
		wantErr(t, fmt.Sprintf("SetPush of malformed target %d", i), pq.SetPush(f.ctx, bob2, tg), store.ErrInvalidPush)
		wantErr(t, fmt.Sprintf("SetPush of malformed target %d without a mailbox", i), pq.SetPush(f.ctx, carol, tg), store.ErrInvalidPush)
	}
	f.wantReg(bob, web, before.Gen, before.NextWake, before.Woken, before.Failures)
	f.wantNoReg(bob2)
}

// testPushNewMail: a claim finds a wake-up owed only for new mail (an
// envelope unexpired at the claim whose id is above Woken), never for an
// address without a mailbox, a registration or new mail; Through is the
// id of the newest envelope. Ids, not arrival times, say what is new.
func testPushNewMail(t *testing.T, f *fixture) {
	f.open(bob, bob2, alice)
	pq := f.push()
	web := webTarget("a")
	f.setPush(bob, web)
	f.setPush(alice, gatewayTarget("a"))
	g := f.reg(bob).Gen
	t0 := f.now

	// No mail; no registration (bob2 has mail); no mailbox.
	f.mail(bob2, t0, t0.Add(time.Hour))
	f.wantNoClaim("empty mailbox, none registered, no mailbox", t0, bob, bob2, carol, alice)

	// Mail that has expired at the claim owes nothing.
	f.mail(bob, t0, t0.Add(time.Minute))
	f.wantNoClaim("expired mail", t0.Add(time.Minute), bob)
	f.wantReg(bob, web, g, time.Time{}, 0, 0)

	// Unexpired mail: claimed. Through is the newest envelope's id, here
	// one that has expired (it owes nothing, and never will: covering it
	// changes nothing).
	f.mail(bob, t0.Add(time.Second), t0.Add(time.Hour))
	f.mail(bob, t0.Add(2*time.Second), t0.Add(3*time.Minute))
	e3 := f.mail(bob, t0.Add(3*time.Second), t0.Add(2*time.Minute))
	at := t0.Add(2 * time.Minute)
	w := f.wantWake(at, bob, g, web, e3, 0)
	f.wantReg(bob, web, g, at.Add(wakeInterval), 0, 0)

	// Delivered: the envelopes with ids up to Through owe nothing more,
	// even once the interval has passed.
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, w.Through))
	f.wantReg(bob, web, g, at.Add(wakeInterval), e3, 0)
	at = at.Add(2 * wakeInterval)
	f.wantNoClaim("mail covered by Woken", at, bob)
	// An unexpired envelope whose id is Woken exactly is covered too.
	e4 := f.mail(bob, t0.Add(4*time.Second), t0.Add(time.Hour))
	w = f.wantWake(at, bob, g, web, e4, 0)
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, w.Through))
	at = at.Add(wakeInterval)
	f.wantNoClaim("envelope with id Woken", at, bob)
	// Mail stored after the claim is new, even if its wake-up is reported
	// delivered after it arrived (it was sent meanwhile).
	e5 := f.mail(bob, t0.Add(5*time.Second), t0.Add(time.Hour))
	w = f.wantWake(at, bob, g, web, e5, 0)
	e6 := f.mail(bob, t0.Add(6*time.Second), t0.Add(time.Hour))
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, w.Through))
	at = at.Add(wakeInterval)
	w = f.wantWake(at, bob, g, web, e6, 0)
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, w.Through))
	// An envelope stored after the delivered wake-up but stamped with an
	// earlier arrival time (the storing node's clock is behind) is new.
	e7 := f.mail(bob, t0, t0.Add(time.Hour))
	at = at.Add(wakeInterval)
	f.wantWake(at, bob, g, web, e7, 0)
}

// testPushInterval: a claim sets NextWake to now+interval; within the
// interval the address is later, with At; once it has passed the wake-up
// is claimed again while the mail is not covered. One call claims several
// addresses, each once.
func testPushInterval(t *testing.T, f *fixture) {
	f.open(bob, bob2, alice)
	web, gw := webTarget("a"), gatewayTarget("b")
	f.setPush(bob, web)
	f.setPush(bob2, gw)
	f.setPush(alice, webTarget("c"))
	gb, gb2 := f.reg(bob).Gen, f.reg(bob2).Gen
	t0 := f.now
	eb := f.mail(bob, t0, t0.Add(time.Hour))
	eb2 := f.mail(bob2, t0, t0.Add(time.Hour))

	wakes, later := f.claim(t0, bob, carol, bob2, bob, alice, bob2)
	if len(wakes) != 2 || len(later) != 0 {
		t.Fatalf("ClaimWakes: claimed %d, later %d, want 2 claimed", len(wakes), len(later))
	}
	for _, w := range wakes {
		if bytes.Equal(w.Addr, bob) {
			checkWake(t, w, bob, gb, web, eb, 0)
		} else {
			checkWake(t, w, bob2, gb2, gw, eb2, 0)
		}
	}
	f.wantReg(bob, web, gb, t0.Add(wakeInterval), 0, 0)

	// Within the interval: later, at the NextWake the claim set.
	for _, now := range []time.Time{t0, t0.Add(time.Millisecond), t0.Add(wakeInterval - time.Millisecond)} {
		wakes, later = f.claim(now, bob, bob2, alice)
		if len(wakes) != 0 || len(later) != 2 {
			t.Fatalf("ClaimWakes at +%v: claimed %d, later %d, want 2 later", now.Sub(t0), len(wakes), len(later))
		}
		for _, l := range later {
			if !l.At.Equal(t0.Add(wakeInterval)) {
				t.Fatalf("later %x at %v, want %v", l.Addr, l.At, t0.Add(wakeInterval))
			}
		}
	}
	f.wantReg(bob, web, gb, t0.Add(wakeInterval), 0, 0)

	// The interval has passed and the mail is not covered: claimed again.
	t1 := t0.Add(wakeInterval)
	f.wantWake(t1, bob, gb, web, eb, 0)
	f.wantReg(bob, web, gb, t1.Add(wakeInterval), 0, 0)
	f.wantLater(t1, bob, t1.Add(wakeInterval))
	// bob2 is still owed one since t1.
	f.wantWake(t1.Add(time.Second), bob2, gb2, gw, eb2, 0)
}

// testPushWakeDone: WakeDone moves Woken to the larger of Woken and
// through, never back, and resets Failures; one for an old gen changes
// nothing.
func testPushWakeDone(t *testing.T, f *fixture) {
	f.open(bob)
	pq := f.push()
	web := webTarget("a")
	f.setPush(bob, web)
	g := f.reg(bob).Gen
	t0 := f.now
	e1 := f.mail(bob, t0, t0.Add(time.Hour))
	f.wantWake(t0, bob, g, web, e1, 0)
	next := t0.Add(wakeInterval)
	for i := 1; i <= 3; i++ {
		n, err := pq.WakeFailed(f.ctx, bob, g, next)
		must(t, "WakeFailed", err)
		if n != i {
			t.Fatalf("WakeFailed = %d, want %d", n, i)
		}
	}
	f.wantReg(bob, web, g, next, 0, 3)

	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, e1))
	f.wantReg(bob, web, g, next, e1, 0)
	e2 := f.mail(bob, t0.Add(time.Second), t0.Add(time.Hour))
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, e2))
	f.wantReg(bob, web, g, next, e2, 0)
	// An older through (a slow wake-up's outcome) does not move it back.
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, e1))
	f.wantReg(bob, web, g, next, e2, 0)

	// Outcomes of an old registration's wake-ups change nothing.
	f.setPush(bob, gatewayTarget("a"))
	g2 := f.reg(bob).Gen
	must(t, "WakeDone of an old gen", pq.WakeDone(f.ctx, bob, g, e2+100))
	n, err := pq.WakeFailed(f.ctx, bob, g, t0.Add(time.Hour))
	must(t, "WakeFailed of an old gen", err)
	if n != 0 {
		t.Fatalf("WakeFailed of an old gen = %d, want 0", n)
	}
	removed, err := pq.RemovePush(f.ctx, bob, g)
	must(t, "RemovePush of an old gen", err)
	if removed {
		t.Fatal("RemovePush of an old gen removed the new registration")
	}
	f.wantReg(bob, gatewayTarget("a"), g2, time.Time{}, 0, 0)
	// The new registration owes a wake-up for the mail already queued.
	f.wantWake(t0, bob, g2, gatewayTarget("a"), e2, 0)
}

// testPushWakeFailed: WakeFailed counts and sets NextWake, which the next
// claim waits for; the claimed wake-up carries the count.
func testPushWakeFailed(t *testing.T, f *fixture) {
	f.open(bob)
	pq := f.push()
	gw := gatewayTarget("a")
	f.setPush(bob, gw)
	g := f.reg(bob).Gen
	t0 := f.now
	e := f.mail(bob, t0, t0.Add(time.Hour))
	f.wantWake(t0, bob, g, gw, e, 0)
	// A retry sooner than the interval, and one later.
	retry := t0.Add(10 * time.Second)
	n, err := pq.WakeFailed(f.ctx, bob, g, retry)
	must(t, "WakeFailed", err)
	if n != 1 {
		t.Fatalf("WakeFailed = %d, want 1", n)
	}
	f.wantReg(bob, gw, g, retry, 0, 1)
	f.wantLater(retry.Add(-time.Millisecond), bob, retry)
	f.wantWake(retry, bob, g, gw, e, 1)
	retry = retry.Add(10 * wakeInterval)
	if n, err = pq.WakeFailed(f.ctx, bob, g, retry); err != nil || n != 2 {
		t.Fatalf("WakeFailed = %d, %v, want 2", n, err)
	}
	f.wantLater(retry.Add(-wakeInterval), bob, retry)
	w := f.wantWake(retry, bob, g, gw, e, 2)
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, w.Through))
	f.wantReg(bob, gw, g, retry.Add(wakeInterval), e, 0)
}

// testPushRemove: RemovePush deletes the registration of its gen only,
// once; a removed registration owes nothing.
func testPushRemove(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	pq := f.push()
	web := webTarget("a")
	f.setPush(bob, web)
	f.setPush(bob2, webTarget("b"))
	g, g2 := f.reg(bob).Gen, f.reg(bob2).Gen
	e := f.mail(bob, f.now, f.now.Add(time.Hour))
	f.wantWake(f.now, bob, g, web, e, 0)

	removed, err := pq.RemovePush(f.ctx, bob, g2)
	must(t, "RemovePush of another mailbox's gen", err)
	if removed {
		t.Fatal("RemovePush removed a registration of another gen")
	}
	removed, err = pq.RemovePush(f.ctx, bob, g)
	must(t, "RemovePush", err)
	if !removed {
		t.Fatal("RemovePush did not remove the registration")
	}
	f.wantNoReg(bob)
	removed, err = pq.RemovePush(f.ctx, bob, g)
	must(t, "RemovePush again", err)
	if removed {
		t.Fatal("RemovePush removed twice")
	}
	f.wantNoClaim("removed registration", f.now.Add(time.Hour-time.Millisecond), bob)
	if pending, err := pq.PendingWakes(f.ctx, nil, 10, f.now); err != nil || len(pending) != 0 {
		t.Fatalf("PendingWakes after RemovePush = %x, %v", pending, err)
	}
	// The other mailbox's registration is untouched.
	f.wantReg(bob2, webTarget("b"), g2, time.Time{}, 0, 0)
}

// testPushPending: PendingWakes lists the registered addresses whose
// mailbox has new mail, claimed or not, in byte order, a page at a time.
func testPushPending(t *testing.T, f *fixture) {
	pq := f.push()
	t0 := f.now
	// Addresses whose byte order is not their creation order (the
	// handle's length comes first).
	var want [][]byte
	var all [][]byte
	for i, h := range []string{"zed", "a", "mm", "abcdef", "b", "zz", "q", "aa", "m"} {
		for d := uint32(3); d >= 1; d-- {
			a := Addr(h, d)
			all = append(all, a)
			f.open(a)
			switch (i*3 + int(d)) % 6 {
			case 0: // registered, new mail
				f.setPush(a, webTarget(h))
				f.mail(a, t0, t0.Add(time.Hour))
				want = append(want, a)
			case 1: // registered, new mail, claimed
				f.setPush(a, gatewayTarget(h))
				f.mail(a, t0, t0.Add(time.Hour))
				if w, _ := f.claim(t0, a); len(w) != 1 {
					t.Fatalf("claim of %x: %d wakes", a, len(w))
				}
				want = append(want, a)
			case 2: // registered, no mail
				f.setPush(a, webTarget(h))
			case 3: // registered, mail covered by a delivered wake-up
				f.setPush(a, webTarget(h))
				f.mail(a, t0, t0.Add(time.Hour))
				w, _ := f.claim(t0, a)
				if len(w) != 1 {
					t.Fatalf("claim of %x: %d wakes", a, len(w))
				}
				must(t, "WakeDone", pq.WakeDone(f.ctx, a, w[0].Gen, w[0].Through))
			case 4: // registered, only expired mail
				f.setPush(a, gatewayTarget(h))
				f.mail(a, t0.Add(-time.Hour), t0)
			case 5: // mail, no registration
				f.mail(a, t0, t0.Add(time.Hour))
			}
		}
	}
	slices.SortFunc(want, bytes.Compare)
	if len(want) < 6 {
		t.Fatalf("fixture: only %d pending", len(want))
	}
	for _, limit := range []int{1, 2, 4, len(want), len(want) + 10} {
		var got [][]byte
		var after []byte
		for pages := 0; ; pages++ {
			if pages > len(all)+1 {
				t.Fatalf("limit %d: PendingWakes does not end", limit)
			}
			page, err := pq.PendingWakes(f.ctx, after, limit, t0)
			must(t, "PendingWakes", err)
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1]
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("limit %d: PendingWakes gave\n%x\nwant\n%x", limit, got, want)
		}
	}
	// after need not be a registered address; a page starts after it.
	mid := want[len(want)/2]
	prefix := mid[:len(mid)-1]
	i, _ := slices.BinarySearchFunc(want, prefix, bytes.Compare)
	page, err := pq.PendingWakes(f.ctx, prefix, 2, t0)
	must(t, "PendingWakes", err)
	if !slices.EqualFunc(page, want[i:i+2], bytes.Equal) {
		t.Fatalf("PendingWakes after %x = %x, want %x", prefix, page, want[i:i+2])
	}
	if page, err := pq.PendingWakes(f.ctx, nil, 0, t0); err != nil || len(page) != 0 {
		t.Fatalf("PendingWakes with limit 0 = %x, %v", page, err)
	}
	// Once the mail has expired, nothing is pending.
	if page, err := pq.PendingWakes(f.ctx, nil, 100, t0.Add(time.Hour)); err != nil || len(page) != 0 {
		t.Fatalf("PendingWakes after expiry = %x, %v", page, err)
	}
	// A claim of every address finds the same ones (the claimed ones
	// later).
	wakes, later := f.claim(t0, all...)
	var owed [][]byte
	for _, w := range wakes {
		owed = append(owed, w.Addr)
	}
	for _, l := range later {
		owed = append(owed, l.Addr)
	}
	slices.SortFunc(owed, bytes.Compare)
	if !slices.EqualFunc(owed, want, bytes.Equal) {
		t.Fatalf("ClaimWakes of every address owes\n%x\nPendingWakes said\n%x", owed, want)
	}
}

// deepQueue is the queue depth of testPushDeepQueue.
const deepQueue = 10000

// testPushDeepQueue: on a mailbox of an offline device with deepQueue
// envelopes queued, a registration whose Woken covers all but the newest
// is owed one wake-up, through the newest, and once that is delivered
// none; new mail behind a long run of expired envelopes is still found,
// and nothing is owed once it has expired too. (The engines answer
// without reading the queue: BenchmarkClaimWakes.)
func testPushDeepQueue(t *testing.T, f *fixture) {
	f.open(bob)
	pq := f.push()
	web := webTarget("a")
	f.setPush(bob, web)
	g := f.reg(bob).Gen
	t0 := f.now
	covered := f.fill(bob, deepQueue-1, t0, t0.Add(time.Hour))
	w := f.wantWake(t0, bob, g, web, covered, 0)
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, w.Through))
	newest := f.fill(bob, 1, t0.Add(time.Second), t0.Add(time.Hour))
	f.wantStats(bob, deepQueue, (deepQueue-1)*10+10)

	at := t0.Add(wakeInterval)
	wakes, later := f.claim(at, bob)
	if len(wakes) != 1 || len(later) != 0 {
		t.Fatalf("deep queue: claimed %d, later %d, want 1 claimed", len(wakes), len(later))
	}
	checkWake(t, wakes[0], bob, g, web, newest, 0)
	f.wantLater(at, bob, at.Add(wakeInterval))
	if pending, err := pq.PendingWakes(f.ctx, nil, 10, at); err != nil || !slices.EqualFunc(pending, [][]byte{bob}, bytes.Equal) {
		t.Fatalf("PendingWakes = %x, %v, want bob", pending, err)
	}
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, newest))
	f.wantNoClaim("deep queue covered", at.Add(wakeInterval), bob)
	if pending, err := pq.PendingWakes(f.ctx, nil, 10, at); err != nil || len(pending) != 0 {
		t.Fatalf("PendingWakes of a covered deep queue = %x, %v", pending, err)
	}

	// New mail behind a run of envelopes that have expired at the claim.
	f.fill(bob, 2000, at, at.Add(time.Minute))
	last := f.fill(bob, 1, at, at.Add(10*time.Minute))
	at = at.Add(5 * time.Minute)
	f.wantWake(at, bob, g, web, last, 0)
	f.wantNoClaim("new mail expired", at.Add(10*time.Minute), bob)
	if pending, err := pq.PendingWakes(f.ctx, nil, 10, at.Add(10*time.Minute)); err != nil || len(pending) != 0 {
		t.Fatalf("PendingWakes after expiry = %x, %v", pending, err)
	}
}

// Sizes of the concurrent claims.
const (
	concClaimers    = 12
	concRegistered  = 6
	concClaimRounds = 3
)

// concurrentClaims runs concClaimers claims of addrs at once at now,
// spread over the stores of fs in turn, each in its own address order,
// and checks that every address was claimed exactly once and found later,
// at now+interval, by every other claim.
func concurrentClaims(t *testing.T, fs []*fixture, addrs [][]byte, now time.Time) {
	t.Helper()
	var mu sync.Mutex
	claimed := map[string]int{}
	errs := make(chan error, concClaimers)
	var wg sync.WaitGroup
	for c := range concClaimers {
		wg.Go(func() {
			f := fs[c%len(fs)]
			order := slices.Clone(addrs)
			if c%2 == 1 {
				slices.Reverse(order)
			}
			wakes, later, err := f.push().ClaimWakes(f.ctx, order, now, wakeInterval)
			if err == nil && len(wakes)+len(later) != len(addrs) {
				err = fmt.Errorf("%d claimed, %d later, of %d owed", len(wakes), len(later), len(addrs))
			}
			for _, l := range later {
				if err == nil && !l.At.Equal(now.Add(wakeInterval)) {
					err = fmt.Errorf("later %x at %v, want %v", l.Addr, l.At, now.Add(wakeInterval))
				}
			}
			if err != nil {
				errs <- fmt.Errorf("claimer %d: %w", c, err)
				return
			}
			mu.Lock()
			for _, w := range wakes {
				claimed[string(w.Addr)]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n := claimed[string(a)]; n != 1 {
			t.Fatalf("%x claimed %d times at %v, want once", a, n, now)
		}
	}
}

// registerMany opens and registers concRegistered mailboxes with new mail
// through f, returning them and the ids of their envelopes.
func registerMany(f *fixture) ([][]byte, []int64) {
	var addrs [][]byte
	var ids []int64
	for i := range concRegistered {
		a := Addr("claimed", uint32(i+1))
		addrs = append(addrs, a)
		f.open(a)
		f.setPush(a, webTarget(fmt.Sprint(i)))
		ids = append(ids, f.mail(a, f.now, f.now.Add(time.Hour)))
	}
	return addrs, ids
}

// testPushConcurrentClaims: claims at once from many goroutines claim
// each registration once per interval.
func testPushConcurrentClaims(t *testing.T, f *fixture) {
	addrs, _ := registerMany(f)
	for r := range concClaimRounds {
		concurrentClaims(t, []*fixture{f}, addrs, f.now.Add(time.Duration(r)*wakeInterval))
	}
}

// testPushAcrossStores: a registration written through one store holds
// for another on the same database at the same time (another relay
// node): claims from both at once claim each registration once per
// interval, and the outcomes reported through one are seen by the other.
func testPushAcrossStores(t *testing.T, open func() store.Queue) {
	a := newFixture(t, open())
	b := newFixture(t, open())
	t.Cleanup(func() { a.q.Close(); b.q.Close() })
	b.ids.n.Store(1 << 32)
	b.now = a.now
	addrs, ids := registerMany(a)
	for r := range concClaimRounds {
		concurrentClaims(t, []*fixture{a, b}, addrs, a.now.Add(time.Duration(r)*wakeInterval))
	}
	last := a.now.Add((concClaimRounds - 1) * wakeInterval)
	g := b.reg(addrs[0]).Gen
	must(t, "WakeDone", b.push().WakeDone(b.ctx, addrs[0], g, ids[0]))
	a.wantReg(addrs[0], webTarget("0"), g, last.Add(wakeInterval), ids[0], 0)
	a.wantNoClaim("mail covered through the other store", last.Add(wakeInterval), addrs[0])
	b.setPush(addrs[1], gatewayTarget("1"))
	if g2 := a.reg(addrs[1]).Gen; g2 <= g {
		t.Fatalf("registration through the other store: gen %d after %d", g2, g)
	}
	a.wantWake(last, addrs[1], a.reg(addrs[1]).Gen, gatewayTarget("1"), ids[1], 0)
}

// testPushReopen: registrations and their wake-up state survive closing
// the store and opening the database again, and gens keep increasing.
func testPushReopen(t *testing.T, open func() store.Queue) {
	f := newFixture(t, open())
	f.open(bob, bob2, alice)
	pq := f.push()
	web, gw := webTarget("a"), gatewayTarget("b")
	f.setPush(bob, web)
	f.setPush(bob2, gw)
	f.setPush(alice, webTarget("c"))
	newest := f.reg(alice).Gen
	f.setPush(alice, nil)
	t0 := f.now
	eb := f.mail(bob, t0, t0.Add(time.Hour))
	eb2 := f.mail(bob2, t0, t0.Add(time.Hour))
	wakes, _ := f.claim(t0, bob, bob2)
	if len(wakes) != 2 {
		t.Fatalf("claimed %d, want 2", len(wakes))
	}
	g, g2 := f.reg(bob).Gen, f.reg(bob2).Gen
	must(t, "WakeDone", pq.WakeDone(f.ctx, bob, g, eb))
	retry := t0.Add(3 * wakeInterval)
	if n, err := pq.WakeFailed(f.ctx, bob2, g2, retry); err != nil || n != 1 {
		t.Fatalf("WakeFailed = %d, %v", n, err)
	}
	must(t, "Close", f.q.Close())

	f.q = open()
	t.Cleanup(func() { f.q.Close() })
	f.ids.n.Store(1 << 32)
	f.wantReg(bob, web, g, t0.Add(wakeInterval), eb, 0)
	f.wantReg(bob2, gw, g2, retry, 0, 1)
	f.wantNoReg(alice)
	f.wantNoClaim("covered mail after reopening", t0.Add(wakeInterval), bob)
	f.wantLater(t0.Add(wakeInterval), bob2, retry)
	f.wantWake(retry, bob2, g2, gw, eb2, 1)
	f.setPush(alice, webTarget("c"))
	if ga := f.reg(alice).Gen; ga <= max(g, g2, newest) {
		t.Fatalf("registration after reopening: gen %d, used before up to %d", ga, max(g, g2, newest))
	}
}

// testPushClose: after Close every push method fails with ErrClosed.
func testPushClose(t *testing.T, f *fixture) {
	f.open(bob)
	f.setPush(bob, webTarget("a"))
	g := f.reg(bob).Gen
	must(t, "Close", f.q.Close())
	pq, ctx, now := f.push(), f.ctx, f.now
	wantErr(t, "SetPush after Close", pq.SetPush(ctx, bob, gatewayTarget("a")), store.ErrClosed)
	_, err := pq.Push(ctx, bob)
	wantErr(t, "Push after Close", err, store.ErrClosed)
	_, _, err = pq.ClaimWakes(ctx, [][]byte{bob}, now, wakeInterval)
	wantErr(t, "ClaimWakes after Close", err, store.ErrClosed)
	_, _, err = pq.ClaimWakes(ctx, nil, now, wakeInterval)
	wantErr(t, "ClaimWakes of nothing after Close", err, store.ErrClosed)
	wantErr(t, "WakeDone after Close", pq.WakeDone(ctx, bob, g, 1), store.ErrClosed)
	_, err = pq.WakeFailed(ctx, bob, g, now)
	wantErr(t, "WakeFailed after Close", err, store.ErrClosed)
	_, err = pq.RemovePush(ctx, bob, g)
	wantErr(t, "RemovePush after Close", err, store.ErrClosed)
	_, err = pq.PendingWakes(ctx, nil, 10, now)
	wantErr(t, "PendingWakes after Close", err, store.ErrClosed)
}

// testPushMailKinds: the envelopes of a shared send (spec/relay.md §16)
// are new mail like any other; mail acked or swept owes nothing.
func testPushMailKinds(t *testing.T, f *fixture) {
	f.open(bob, bob2, alice)
	pq := f.push()
	web, gw := webTarget("a"), gatewayTarget("b")
	f.setPush(bob, web)
	f.setPush(bob2, gw)
	f.setPush(alice, webTarget("c"))
	g, g2 := f.reg(bob).Gen, f.reg(bob2).Gen
	t0 := f.now
	r := f.send(f.sharedSend(alice, envelope("group", 100), bob, bob2, alice), false, store.Stored, store.Stored, store.Stored)
	wakes, later := f.claim(t0, bob, bob2)
	if len(wakes) != 2 || len(later) != 0 {
		t.Fatalf("shared send: claimed %d, later %d, want 2 claimed", len(wakes), len(later))
	}
	for _, w := range wakes {
		if bytes.Equal(w.Addr, bob) {
			checkWake(t, w, bob, g, web, r.IDs[0], 0)
		} else {
			checkWake(t, w, bob2, g2, gw, r.IDs[1], 0)
		}
	}

	// Acked mail owes nothing, whatever NextWake says.
	es := f.fetchAll(bob, t0)
	n, err := f.q.Ack(f.ctx, bob, ids(es))
	must(t, "Ack", err)
	if n != len(es) || n == 0 {
		t.Fatalf("Ack deleted %d of %d", n, len(es))
	}
	f.wantNoClaim("acked mail", t0.Add(wakeInterval), bob)
	// Nor does swept mail.
	f.wantWake(t0.Add(wakeInterval), bob2, g2, gw, r.IDs[1], 0)
	if _, err := f.q.Sweep(f.ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.wantNoClaim("swept mail", t0.Add(wakeInterval+time.Hour), bob2, alice)
	if pending, err := pq.PendingWakes(f.ctx, nil, 10, t0); err != nil || len(pending) != 0 {
		t.Fatalf("PendingWakes after Ack and Sweep = %x, %v", pending, err)
	}
}
