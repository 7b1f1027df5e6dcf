package keyserver_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
)

func TestIPRateLimit(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.Limits.RequestsPerSecond, c.Limits.RequestBurst = 1, 3 })
	for range 3 {
		e.challenge("")
	}
	r := e.do("POST", "/v1/challenges", api.ChallengeRequest{}, "")
	if r.status != http.StatusTooManyRequests || r.code() != api.CodeRateLimited || r.header.Get("Retry-After") != "1" {
		t.Fatalf("fourth challenge: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Lookups and the log are not limited by it.
	e.waitSequenced()
	e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, nil)
	e.ok("GET", "/v2/accounts/alice", nil, "", http.StatusOK, nil)
	e.clock.Advance(time.Second)
	e.challenge("")
}

// counter returns the value of the counter family name with the given
// labels, 0 if absent.
func counter(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *keyserver.Config) { c.Registerer = reg })
	alice, bob := e.newUser("alice"), e.newUser("bob")
	e.register(alice)
	e.register(bob)
	tokA, tokB := e.token(alice, 1, ""), e.token(bob, 1, "")
	e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 1, 1, 1), tokA, http.StatusOK, nil)
	e.ok("POST", "/v1/accounts/alice/claim", nil, tokB, http.StatusOK, nil)
	e.ok("POST", "/v1/accounts/alice/claim", nil, tokB, http.StatusOK, nil)
	e.waitSequenced()
	e.ok("GET", "/v2/accounts/nobody", nil, "", http.StatusOK, nil)
	e.do("GET", "/v1/accounts/nobody", nil, "") // retired: counted under "/"
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sealpost_keyserver_requests_total", map[string]string{"route": "/v1/accounts", "status": "201"}, 2},
		{"sealpost_keyserver_requests_total", map[string]string{"route": "/v2/accounts/{handle}", "status": "200"}, 1},
		{"sealpost_keyserver_requests_total", map[string]string{"route": "/", "status": "404"}, 1},
		{"sealpost_keyserver_requests_total", map[string]string{"route": "/v1/accounts/{handle}"}, 0},
		{"sealpost_keyserver_claimed_bundles_total", map[string]string{"outcome": "one_time"}, 1},
		{"sealpost_keyserver_claimed_bundles_total", map[string]string{"outcome": "exhausted"}, 1},
		{"sealpost_keyserver_tokens_issued_total", map[string]string{"audience": "keyserver"}, 2},
		{"sealpost_keyserver_log_appends_total", nil, 2},
	} {
		if got := counter(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
