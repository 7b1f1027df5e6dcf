package keyserver_test

import (
	"net/http"
	"strconv"
	"testing"

	"time"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// TestRefusedUploadVerifiesNothing: an upload refused for what needs no
// signature — ids repeated or already held, the device's cap, a prekey of
// the wrong kind, the rate limit — verifies no signature and changes
// nothing (spec/keyserver.md §5.7). Before, each such refusal verified
// every prekey first (~24 ms of CPU for a full upload).
func TestRefusedUploadVerifiesNothing(t *testing.T) {
	onEngines(t, func(t *testing.T, open func(*testing.T) store.Store) {
		e := newEnvOn(t, open, func(c *keyserver.Config) {
			c.Limits.UploadsPerHour, c.Limits.UploadBurst = 60, 7
		})
		alice := e.newUser("alice")
		e.register(alice)
		tok := e.token(alice, 1, "")
		first := e.prekeys(alice, 1, 1, 20) // MaxOneTimePerUpload 20, MaxOneTimePerDevice 30
		e.ok("PUT", "/v1/prekeys", first, tok, http.StatusOK, nil)

		fresh := e.prekeys(alice, 1, 100, 20)
		repeated := e.prekeys(alice, 1, 200, 2)
		repeated.OneTimeKEMPrekeys[1] = repeated.OneTimeKEMPrekeys[0]
		wrongKind := e.prekeys(alice, 1, 300, 2)
		wrongKind.OneTimePrekeys[1] = wrongKind.OneTimeKEMPrekeys[1]
		heldOne := e.prekeys(alice, 1, 400, 3)
		heldOne.OneTimePrekeys[2] = first.OneTimePrekeys[5]

		before := e.snapshot("alice")
		for _, c := range []struct {
			name   string
			up     api.PrekeyUpload
			status int
			code   string
		}{
			{"ids already held (the same upload again)", first, http.StatusConflict, api.CodeDuplicatePrekey},
			{"one id already held", heldOne, http.StatusConflict, api.CodeDuplicatePrekey},
			{"id repeated in the upload", repeated, http.StatusConflict, api.CodeDuplicatePrekey},
			{"over the device's cap", fresh, http.StatusConflict, api.CodeTooManyPrekeys},
			{"wrong kind", wrongKind, http.StatusBadRequest, api.CodeWrongPrekeyKind},
		} {
			checks := keyserver.SignatureChecks(e.srv)
			r := e.do("PUT", "/v1/prekeys", c.up, tok)
			if r.status != c.status || r.code() != c.code {
				t.Fatalf("%s: %d %s, want %d %s", c.name, r.status, r.code(), c.status, c.code)
			}
			if n := keyserver.SignatureChecks(e.srv) - checks; n != 0 {
				t.Errorf("%s: %d signatures verified for a refused upload, want 0", c.name, n)
			}
			e.unchanged(before, "alice")
		}
		// The seventh upload in the burst; then 429 before anything.
		bad := e.prekeys(alice, 1, 500, 2)
		bad.OneTimePrekeys[1][len(bad.OneTimePrekeys[1])-1] ^= 1
		if r := e.do("PUT", "/v1/prekeys", bad, tok); r.code() != api.CodeBadSignature {
			t.Fatalf("bad signature: %d %s", r.status, r.body)
		}
		checks := keyserver.SignatureChecks(e.srv)
		r := e.do("PUT", "/v1/prekeys", fresh, tok)
		if r.status != http.StatusTooManyRequests || r.code() != api.CodeRateLimited {
			t.Fatalf("upload past the rate limit: %d %s", r.status, r.body)
		}
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		if n := keyserver.SignatureChecks(e.srv) - checks; n != 0 {
			t.Errorf("rate-limited upload verified %d signatures", n)
		}
		e.unchanged(before, "alice")
		// The device's limit is its own: another device uploads.
		e.addDevice(alice, 2)
		e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 2, 1, 1), e.token(alice, 2, ""), http.StatusOK, nil)
		// A minute later one upload is allowed again.
		e.clock.Advance(time.Minute)
		var counts api.PrekeyCounts
		e.ok("PUT", "/v1/prekeys", e.prekeys(alice, 1, 600, 5), tok, http.StatusOK, &counts)
		if counts.OneTime != 25 {
			t.Fatalf("after the refill: %d one-time prekeys, want 25", counts.OneTime)
		}
	})
}
