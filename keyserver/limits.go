package keyserver

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
)

// The rate limits each endpoint applies (spec/keyserver.md §4). Every
// limit is checked before the endpoint's first public-key operation and
// its first store write, so a refused request costs a token-bucket lookup
// (and at most a token verification) and changes nothing.

// clientIP is the address a request came from, the key of the per-address
// rate limits (spec/keyserver.md §4).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimited is the 429 answer for a refusal that frees up after wait.
func rateLimited(wait time.Duration, message string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: api.CodeRateLimited, message: message, retry: retryAfter(wait)}
}

// limitIP applies the per-address rate limit of challenges, registrations,
// tokens, device additions and revocations.
func (s *Server) limitIP(r *http.Request) *apiError {
	if ok, wait := s.ipLimit.allow(clientIP(r), s.now()); !ok {
		return rateLimited(wait, "too many requests from this address")
	}
	return nil
}

// limitUpload applies the per-device prekey upload limit.
func (s *Server) limitUpload(handle string, device uint32) *apiError {
	if ok, wait := s.uploadLim.allow(deviceKey(handle, device), s.now()); !ok {
		return rateLimited(wait, "too many prekey uploads from this device")
	}
	return nil
}

// deviceKey names a device in a limiter.
func deviceKey(handle string, device uint32) string {
	return handle + "/" + strconv.FormatUint(uint64(device), 10)
}

// lookupCharge is whom a lookup was charged to: its address and, when it
// carried a token, that account ("" when not).
type lookupCharge struct {
	ip, account string
}

// limitLookup charges a lookup's base cost, 1, to its address and, when it
// carries a token, to the token's account (spec/keyserver.md §4, §9.1):
// a lookup with a token must pass both. A token that does not verify is
// refused (401) rather than ignored. It returns the verified token, nil
// when there was none.
func (s *Server) limitLookup(r *http.Request) (lookupCharge, *token.Token, *apiError) {
	c := lookupCharge{ip: clientIP(r)}
	now := s.now()
	if ok, wait := s.lookupIPLim.allow(c.ip, now); !ok {
		return c, nil, rateLimited(wait, "too many lookups from this address")
	}
	if r.Header.Get("Authorization") == "" {
		return c, nil, nil
	}
	t, e := s.authenticate(r)
	if e != nil {
		return c, nil, e
	}
	c.account = t.Handle
	if ok, wait := s.lookupAcctLim.allow(c.account, now); !ok {
		return c, nil, rateLimited(wait, "too many lookups from this account")
	}
	return c, t, nil
}

// chargeMiss charges a lookup that found no account the rest of
// LookupMissCost.
func (s *Server) chargeMiss(c lookupCharge) {
	extra := float64(s.limits.LookupMissCost - 1)
	now := s.now()
	s.lookupIPLim.charge(c.ip, extra, now)
	if c.account != "" {
		s.lookupAcctLim.charge(c.account, extra, now)
	}
}

// targetAllowsOneTime reports whether a claim of handle may take one-time
// prekeys: the per-target limit of spec/keyserver.md §5.8, charged
// whoever claims.
func (s *Server) targetAllowsOneTime(handle string) bool {
	ok, _ := s.targetLim.allow(handle, s.now())
	return ok
}
