package keyserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
)

// lookupAs looks up handle in the directory with bearer ("" for none).
func (e *env) lookupAs(handle, bearer string) reply {
	e.t.Helper()
	return e.do("GET", "/v2/accounts/"+handle, nil, bearer)
}

// Kinds of lookup answers (answerKind).
const (
	answerPresent = "present" // 200 with an entry
	answerAbsent  = "absent"  // 200 without one: the handle proven absent
	answerOther   = "other"   // any other status
)

// answerKind says how a lookup was answered.
func (e *env) answerKind(r reply) string {
	e.t.Helper()
	if r.status != http.StatusOK {
		return answerOther
	}
	var l api.DirectoryLookup
	if err := json.Unmarshal(r.body, &l); err != nil {
		e.t.Fatalf("lookup answer: %v: %s", err, r.body)
	}
	if len(l.Entry) == 0 {
		return answerAbsent
	}
	return answerPresent
}

// probe looks up n unknown handles, one every interval of the test clock,
// and returns how many were answered (200, proven absent) and the index of
// the first refusal (-1 if none). Every refusal must be 429 rate_limited
// with a Retry-After of at least 1 s; nothing else may come back.
func (e *env) probe(n int, interval time.Duration, bearer string) (answered, firstRefused int) {
	e.t.Helper()
	firstRefused = -1
	for i := range n {
		r := e.lookupAs(fmt.Sprintf("probe%d", i), bearer)
		switch {
		case e.answerKind(r) == answerAbsent:
			answered++
		case r.status == http.StatusTooManyRequests && r.code() == api.CodeRateLimited:
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
				e.t.Fatalf("probe %d: 429 with Retry-After %q", i, r.header.Get("Retry-After"))
			}
			if firstRefused < 0 {
				firstRefused = i
			}
		default:
			e.t.Fatalf("probe %d: %d %s", i, r.status, r.body)
		}
		e.clock.Advance(interval)
	}
	return answered, firstRefused
}

// TestLookupProbeFromAddress: probing unknown handles at 100 a second from
// one address, without a token, is refused after the address's burst, and
// only a trickle gets through after it (spec/keyserver.md §9.1); misses
// cost LookupMissCost.
func TestLookupProbeFromAddress(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) {
		d := keyserver.DefaultLimits()
		c.Limits.AddressLookupsPerSecond, c.Limits.AddressLookupBurst = d.AddressLookupsPerSecond, d.AddressLookupBurst
		c.Limits.LookupMissCost = d.LookupMissCost
	})
	alice := e.newUser("alice")
	e.register(alice)
	e.waitSequenced()
	before := e.snapshot("alice", "probe0")
	const n = 300 // 3 s at 100 a second
	answered, first := e.probe(n, 10*time.Millisecond, "")
	t.Logf("%d of %d probes answered; first refused: #%d", answered, n, first)
	// Burst 200 at cost 5 with 20/s refilling: refused from about #41;
	// then about 20/5 = 4 a second.
	if first < 0 || first > 50 {
		t.Fatalf("first refusal at probe %d, want within the burst's 50", first)
	}
	if max := first + (n-first)/20 + 2; answered > max {
		t.Fatalf("%d probes answered, want at most %d", answered, max)
	}
	e.unchanged(before, "alice", "probe0")
	// A hit is refused too while the address is in debt, and served
	// again once the budget is back.
	if r := e.lookupAs("alice", ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("lookup while the address is limited: %d", r.status)
	}
	e.clock.Advance(20 * time.Second)
	if k := e.answerKind(e.lookupAs("alice", "")); k != answerPresent {
		t.Fatal("alice not served once the budget is back")
	}
}

// TestLookupProbeFromAccount: probing with a token at 100 a second is
// refused after the account's burst, while another account behind the
// same address, and lookups without a token, still get answers.
func TestLookupProbeFromAccount(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) {
		d := keyserver.DefaultLimits()
		c.Limits.LookupsPerSecond, c.Limits.LookupBurst, c.Limits.LookupMissCost = d.LookupsPerSecond, d.LookupBurst, d.LookupMissCost
	})
	mallory, alice := e.newUser("mallory"), e.newUser("alice")
	e.register(mallory)
	e.register(alice)
	tm, ta := e.token(mallory, 1, ""), e.token(alice, 1, "")
	e.waitSequenced()
	before := e.snapshot("mallory", "alice")
	const n = 200
	answered, first := e.probe(n, 10*time.Millisecond, tm)
	t.Logf("%d of %d probes answered; first refused: #%d", answered, n, first)
	// Burst 60 at cost 5, 5/s refilling: refused from about #13.
	if first < 0 || first > 20 {
		t.Fatalf("first refusal at probe %d, want within 20", first)
	}
	if max := first + (n-first)/50 + 2; answered > max {
		t.Fatalf("%d probes answered, want at most %d", answered, max)
	}
	if r := e.lookupAs("alice", tm); r.status != http.StatusTooManyRequests || r.code() != api.CodeRateLimited {
		t.Fatalf("hit from the limited account: %d %s", r.status, r.code())
	}
	for _, bearer := range []string{ta, ""} {
		if k := e.answerKind(e.lookupAs("mallory", bearer)); k != answerPresent {
			t.Fatalf("lookup of mallory by another account or without a token (%v) not served", bearer != "")
		}
	}
	e.unchanged(before, "mallory", "alice")
	// A token that does not verify is refused, not ignored.
	if r := e.lookupAs("alice", ta+"x"); r.status != http.StatusUnauthorized || r.code() != api.CodeInvalidToken {
		t.Fatalf("lookup with a bad token: %d %s", r.status, r.code())
	}
}

// honestLimits are the default lookup limits.
func honestLimits(c *keyserver.Config) {
	d := keyserver.DefaultLimits()
	c.Limits.LookupsPerSecond, c.Limits.LookupBurst, c.Limits.LookupMissCost = d.LookupsPerSecond, d.LookupBurst, d.LookupMissCost
	c.Limits.AddressLookupsPerSecond, c.Limits.AddressLookupBurst = d.AddressLookupsPerSecond, d.AddressLookupBurst
	c.Limits.TokenLifetime = 2 * time.Hour
}

// contacts registers n accounts contact0, contact1, ...
func (e *env) contacts(n int) []string {
	var hs []string
	for i := range n {
		u := e.newUser(fmt.Sprintf("contact%d", i))
		e.register(u)
		hs = append(hs, u.handle)
	}
	return hs
}

// TestLookupHonestClient: an honest client's pattern — its 40 contacts at
// start, a mistyped handle, then a contact every 4 s for 10 minutes — is
// never refused under the default limits, with or without a token.
func TestLookupHonestClient(t *testing.T) {
	for _, withToken := range []bool{false, true} {
		t.Run(fmt.Sprintf("token=%v", withToken), func(t *testing.T) {
			e := newEnv(t, honestLimits)
			me := e.newUser("honest")
			e.register(me)
			bearer := ""
			if withToken {
				bearer = e.token(me, 1, "")
			}
			contacts := e.contacts(40)
			e.waitSequenced()
			for _, h := range contacts {
				if r := e.lookupAs(h, bearer); e.answerKind(r) != answerPresent {
					t.Fatalf("start-up lookup of %s: %d %s", h, r.status, r.body)
				}
			}
			if r := e.lookupAs("contact-typo", bearer); e.answerKind(r) != answerAbsent {
				t.Fatalf("mistyped handle: %d %s", r.status, r.body)
			}
			for i := range 150 {
				e.clock.Advance(4 * time.Second)
				if r := e.lookupAs(contacts[i%len(contacts)], bearer); e.answerKind(r) != answerPresent {
					t.Fatalf("lookup %d of the steady pattern: %d %s", i, r.status, r.body)
				}
			}
		})
	}
}

// BenchmarkLookupFigures gives the lookup figures: how many lookups a
// client gets in a simulated minute under the default limits when it
// tries every 10 ms (the limiter's allowance, burst included), and how
// fast one client's lookups (hits, within its budget) are served over
// TLS (lookups/s = 1e9 / ns/op):
//
//	go test ./keyserver -run '^$' -bench LookupFigures -benchtime 2000x
func BenchmarkLookupFigures(b *testing.B) {
	for _, withToken := range []bool{false, true} {
		b.Run(fmt.Sprintf("allowed-per-minute/token=%v", withToken), func(b *testing.B) {
			e := newEnvStore(b, openSQLite(b), honestLimits)
			me := e.newUser("honest")
			e.register(me)
			bearer := ""
			if withToken {
				bearer = e.token(me, 1, "")
			}
			contacts := e.contacts(10)
			e.waitSequenced()
			ok := 0
			for i := range 6000 {
				if r := e.lookupAs(contacts[i%len(contacts)], bearer); e.answerKind(r) == answerPresent {
					ok++
				}
				e.clock.Advance(10 * time.Millisecond)
			}
			b.Logf("token=%v: %d lookups answered in a minute of tries every 10 ms (%.1f/s, burst included)", withToken, ok, float64(ok)/60)
		})
	}
	b.Run("served", func(b *testing.B) {
		e := newEnvStore(b, openSQLite(b), honestLimits)
		contacts := e.contacts(10)
		e.waitSequenced()
		i := 0
		for b.Loop() {
			e.clock.Advance(time.Second) // within the budget: never refused
			if r := e.lookupAs(contacts[i%len(contacts)], ""); e.answerKind(r) != answerPresent {
				b.Fatalf("lookup refused: %d %s", r.status, r.body)
			}
			i++
		}
	})
}
