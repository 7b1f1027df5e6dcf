package keyserver_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// claim claims handle's bundles with bearer, which must be answered 200.
func (e *env) claim(handle, bearer string) api.ClaimResponse {
	e.t.Helper()
	var c api.ClaimResponse
	e.ok("POST", "/v1/accounts/"+handle+"/claim", nil, bearer, http.StatusOK, &c)
	return c
}

// oneTimeCount is what device 1 of handle holds: one-time X25519 prekeys.
func (e *env) oneTimeCount(handle string) int {
	e.t.Helper()
	c, err := e.store.CountPrekeys(e.t.Context(), handle, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.OneTime
}

// TestClaimTargetLimit: past the target's one-time claim limit a claim
// still answers, with the signed and last-resort prekeys only, whoever
// the caller, and takes nothing (spec/keyserver.md §5.8); the limit
// refills with time; other targets are not affected.
func TestClaimTargetLimit(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		e := newEnvOn(t, open, func(c *keyserver.Config) {
			c.Limits.TargetClaimsPerHour, c.Limits.TargetClaimBurst = 60, 3
		})
		victim, other := e.newUser("victim"), e.newUser("other")
		e.register(victim)
		e.register(other)
		for _, u := range []*user{victim, other} {
			e.ok("PUT", "/v1/prekeys", e.prekeys(u, 1, 1, 10), e.token(u, 1, ""), http.StatusOK, nil)
		}
		var callers []string
		for i := range 3 {
			u := e.newUser(fmt.Sprintf("caller%d", i))
			e.register(u)
			callers = append(callers, e.token(u, 1, ""))
		}
		for i := range 3 { // the burst, from three callers
			c := e.claim("victim", callers[i])
			if c.OneTimeWithheld || len(c.Bundles) != 1 || c.Bundles[0].Exhausted {
				t.Fatalf("claim %d within the burst: %+v", i, c)
			}
		}
		before := e.snapshot("victim", "other")
		for i := range 3 {
			c := e.claim("victim", callers[i])
			if !c.OneTimeWithheld || len(c.Bundles) != 1 || !c.Bundles[0].Exhausted {
				t.Fatalf("claim %d past the target limit: withheld %v, %d bundles", i, c.OneTimeWithheld, len(c.Bundles))
			}
			b, err := keys.ParseBundle(c.Bundles[0].Bundle)
			if err != nil {
				t.Fatal(err)
			}
			if b.OneTimePrekey != nil || b.KEMPrekey.Kind != keys.LastResortKEMPrekey {
				t.Fatal("withheld claim: bundle carries a one-time prekey")
			}
		}
		e.unchanged(before, "victim", "other")
		if n := e.oneTimeCount("victim"); n != 7 {
			t.Fatalf("victim holds %d one-time prekeys, want 7", n)
		}
		// Another target has its own budget.
		if c := e.claim("other", callers[0]); c.OneTimeWithheld || c.Bundles[0].Exhausted {
			t.Fatal("another target's claim withheld")
		}
		// One claim's worth a minute at 60 / h.
		e.clock.Advance(time.Minute)
		if c := e.claim("victim", callers[1]); c.OneTimeWithheld {
			t.Fatal("limit did not refill")
		}
		if c := e.claim("victim", callers[2]); !c.OneTimeWithheld {
			t.Fatal("refilled more than one claim in a minute")
		}
		// Unknown handles still answer 404.
		r := e.do("POST", "/v1/accounts/nobody/claim", nil, callers[0])
		if r.status != http.StatusNotFound || r.code() != api.CodeUnknownHandle {
			t.Fatalf("claim of unknown handle: %d %s", r.status, r.code())
		}
	})
}

// drainResult is the outcome of a simulated drain.
type drainResult struct {
	stocked, steps       int // steps that ended with one-time prekeys left, of all
	oneTime, claims      int // attacker claims served a one-time prekey, of all
	uploads, minimumSeen int
}

// drain simulates attackers claiming one victim's bundles for duration,
// each once per step, while the victim's owner follows spec/client.md
// §7.1: every poll it reads the count and, under 25, tops up to 100.
func drain(t testing.TB, e *env, attackers int, duration, step, poll time.Duration) drainResult {
	victim := e.newUser("victim")
	e.register(victim)
	owner := e.token(victim, 1, "")
	next := uint32(1)
	topUp := func(n int) {
		up := e.prekeys(victim, 1, next, n)
		if next > 1 {
			up.SignedPrekey, up.LastResortKEMPrekey = nil, nil
		}
		next += uint32(n)
		e.ok("PUT", "/v1/prekeys", up, owner, http.StatusOK, nil)
	}
	topUp(100)
	tokens := make([]string, attackers)
	for i := range tokens {
		u := e.newUser(fmt.Sprintf("attacker%d", i))
		e.register(u)
		tokens[i] = e.token(u, 1, "")
	}
	res := drainResult{minimumSeen: 100}
	lastPoll := e.clock.Now()
	for elapsed := time.Duration(0); elapsed < duration; elapsed += step {
		for _, tok := range tokens {
			c := e.claim("victim", tok)
			if len(c.Bundles) != 1 {
				t.Fatalf("claim answered %d bundles: first contact must stay possible", len(c.Bundles))
			}
			res.claims++
			if !c.Bundles[0].Exhausted {
				res.oneTime++
			}
		}
		e.clock.Advance(step)
		if e.clock.Now().Sub(lastPoll) >= poll {
			lastPoll = e.clock.Now()
			var counts api.PrekeyCounts
			e.ok("GET", "/v1/prekeys/count", nil, owner, http.StatusOK, &counts)
			if counts.OneTime < 25 {
				topUp(100 - counts.OneTime)
				res.uploads++
			}
		}
		n := e.oneTimeCount("victim")
		res.minimumSeen = min(res.minimumSeen, n)
		res.steps++
		if n > 0 {
			res.stocked++
		}
	}
	return res
}

// drainLimits are the limits of the drain simulations: the defaults for
// claims, sizes that let the owner top up to 100 in one upload.
func drainLimits(c *keyserver.Config) {
	d := keyserver.DefaultLimits()
	c.Limits.TargetClaimsPerHour, c.Limits.TargetClaimBurst = d.TargetClaimsPerHour, d.TargetClaimBurst
	c.Limits.ClaimsPerMinute, c.Limits.ClaimBurst = d.ClaimsPerMinute, d.ClaimBurst
	c.Limits.MaxOneTimePerUpload, c.Limits.MaxOneTimePerDevice = 100, 500
	c.Limits.TokenLifetime = 2 * time.Hour
	c.Limits.MaxBodyBytes = 1 << 20
}

// The drain: 50 attacker accounts, each claiming the victim every 2
// minutes for an hour (25 claims a minute, far above the target's limit);
// the owner polls every 5 minutes (spec/client.md §7.1).
const (
	drainAttackers = 50
	drainDuration  = time.Hour
	drainStep      = 2 * time.Minute
	drainPoll      = 5 * time.Minute
)

// TestDrainOneVictim: 50 attacker accounts claiming one victim's bundles
// for an hour leave it with one-time prekeys the whole time under the
// default per-target limit (60 an hour, burst 30) and the client's
// 5-minute count poll. BenchmarkDrainFigures gives the figures without
// the per-target limit for comparison.
func TestDrainOneVictim(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		r := drain(t, newEnvOn(t, open, drainLimits), drainAttackers, drainDuration, drainStep, drainPoll)
		t.Logf("per-target limit: one-time prekeys left at %d of %d steps (%.0f%%), lowest %d; %d of %d attacker claims got one (%d top-ups)",
			r.stocked, r.steps, 100*float64(r.stocked)/float64(r.steps), r.minimumSeen, r.oneTime, r.claims, r.uploads)
		if r.stocked != r.steps {
			t.Errorf("victim ran out of one-time prekeys at %d of %d steps", r.steps-r.stocked, r.steps)
		}
	})
}

// BenchmarkDrainFigures logs the drain's figures (SQLite) with and without
// the per-target limit, with the 5-minute poll and the former hourly one:
//
//	go test ./keyserver -run '^$' -bench DrainFigures -benchtime 1x
func BenchmarkDrainFigures(b *testing.B) {
	for _, c := range []struct {
		name   string
		target bool
		poll   time.Duration
	}{
		{"per-target limit", true, drainPoll},
		{"per-target limit, hourly poll", true, time.Hour},
		{"per-caller limit only", false, drainPoll},
		{"per-caller limit only, hourly poll", false, time.Hour},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				e := newEnvStore(b, openSQLite(b), func(cfg *keyserver.Config) {
					drainLimits(cfg)
					if !c.target {
						cfg.Limits.TargetClaimsPerHour, cfg.Limits.TargetClaimBurst = 1e6, 1e6
					}
				})
				r := drain(b, e, drainAttackers, drainDuration, drainStep, c.poll)
				b.Logf("%s: one-time prekeys left at %d of %d steps (%.0f%% of the hour), lowest %d; %d of %d attacker claims got one",
					c.name, r.stocked, r.steps, 100*float64(r.stocked)/float64(r.steps), r.minimumSeen, r.oneTime, r.claims)
			}
		})
	}
}

// TestSealKeys: GET /v1/accounts/{handle}/seal-keys answers every active
// device's signed and last-resort KEM prekeys, takes no one-time prekey
// and spends none of the target's claim budget (spec/keyserver.md §5.11);
// it needs a token of an active device and shares the caller's claim
// rate.
func TestSealKeys(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		e := newEnvOn(t, open, func(c *keyserver.Config) {
			c.Limits.TargetClaimsPerHour, c.Limits.TargetClaimBurst = 60, 1
			c.Limits.ClaimsPerMinute, c.Limits.ClaimBurst = 1, 4
		})
		victim, caller := e.newUser("victim"), e.newUser("caller")
		e.register(victim)
		e.register(caller)
		e.ok("PUT", "/v1/prekeys", e.prekeys(victim, 1, 1, 10), e.token(victim, 1, ""), http.StatusOK, nil)
		bearer := e.token(caller, 1, "")
		before := e.snapshot("victim")
		for range 2 {
			var c api.ClaimResponse
			e.ok("GET", "/v1/accounts/victim/seal-keys", nil, bearer, http.StatusOK, &c)
			if !c.OneTimeWithheld || len(c.Bundles) != 1 || c.Bundles[0].Device != 1 || !c.Bundles[0].Exhausted {
				t.Fatalf("seal keys: %+v", c)
			}
			b, err := keys.ParseBundle(c.Bundles[0].Bundle)
			if err != nil {
				t.Fatal(err)
			}
			if b.OneTimePrekey != nil || b.KEMPrekey.Kind != keys.LastResortKEMPrekey {
				t.Fatal("seal keys: a one-time prekey was handed out")
			}
		}
		e.unchanged(before, "victim")
		// The target's claim budget (burst 1) is untouched.
		if c := e.claim("victim", bearer); c.OneTimeWithheld {
			t.Fatal("seal-keys requests spent the target's claim budget")
		}
		before = e.snapshot("victim")
		// The caller's claim rate (burst 4) is shared: 3 spent.
		e.ok("GET", "/v1/accounts/victim/seal-keys", nil, bearer, http.StatusOK, nil)
		r := e.do("GET", "/v1/accounts/victim/seal-keys", nil, bearer)
		if r.status != http.StatusTooManyRequests || r.code() != api.CodeRateLimited {
			t.Fatalf("past the caller's rate: %d %s", r.status, r.code())
		}
		e.clock.Advance(time.Minute)
		for _, tc := range []struct {
			path, bearer string
			status       int
			code         string
		}{
			{"/v1/accounts/victim/seal-keys", "", http.StatusUnauthorized, api.CodeInvalidToken},
			{"/v1/accounts/nobody/seal-keys", bearer, http.StatusNotFound, api.CodeUnknownHandle},
		} {
			r := e.do("GET", tc.path, nil, tc.bearer)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("GET %s: %d %s, want %d %s", tc.path, r.status, r.code(), tc.status, tc.code)
			}
		}
		e.unchanged(before, "victim")
	})
}
