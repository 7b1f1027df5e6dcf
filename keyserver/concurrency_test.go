package keyserver_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
)

// TestDeviceIDsIncrease checks that a new device id must be above every id
// the account has used, so entries only ever grow at the end.
func TestDeviceIDsIncrease(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.newUser("alice")
	e.register(alice)
	add := func(id keys.DeviceID) reply {
		cert := e.newDevice(alice, id)
		ch := e.challenge("")
		return e.do("POST", "/v1/accounts/alice/devices", api.AddDeviceRequest{Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: e.sign(alice, id, ch)}, "")
	}
	if r := add(5); r.status != http.StatusOK {
		t.Fatalf("add 5: %d %s", r.status, r.body)
	}
	before := e.snapshot("alice")
	for _, id := range []keys.DeviceID{5, 3} {
		if r := add(id); r.status != http.StatusConflict || r.code() != api.CodeDeviceExists {
			t.Fatalf("add %d after 5: %d %s", id, r.status, r.body)
		}
	}
	e.unchanged(before, "alice")
}

// TestConcurrentChanges registers accounts and adds devices from many
// goroutines at once; the log stays gapless and every handle's entries form
// a valid history (spec/transparency.md §7.3).
func TestConcurrentChanges(t *testing.T) { onEngines(t, testConcurrentChanges) }

func testConcurrentChanges(t *testing.T, open func(*testing.T) store.Store) {
	e := newEnvOn(t, open, nil)
	const n = 8
	users := make([]*user, n)
	reqs := make([]api.RegisterRequest, n)
	adds := make([][]api.AddDeviceRequest, n)
	for i := range users {
		users[i] = e.newUser(fmt.Sprintf("user%d", i))
		reqs[i] = e.registerRequest(users[i])
		for id := keys.DeviceID(2); id <= 4; id++ {
			cert := e.newDevice(users[i], id)
			ch := e.challenge("")
			adds[i] = append(adds[i], api.AddDeviceRequest{Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: e.sign(users[i], id, ch)})
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, n*4)
	for i := range users {
		wg.Go(func() {
			if r := e.do("POST", "/v1/accounts", reqs[i], ""); r.status != http.StatusCreated {
				errs <- fmt.Sprintf("register %d: %d %s", i, r.status, r.body)
				return
			}
			for _, a := range adds[i] {
				if r := e.do("POST", "/v1/accounts/"+users[i].handle+"/devices", a, ""); r.status != http.StatusOK {
					errs <- fmt.Sprintf("add device for %d: %d %s", i, r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}

	// Revoke devices 2 to 4 of each account at once: all but one of the
	// revocations of an account meet a changed account and retry.
	errs = make(chan string, n*3)
	for _, u := range users {
		for id := keys.DeviceID(2); id <= 4; id++ {
			rev, err := u.account.RevokeDevice(u.handle, id, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			tok := e.token(u, 1, "")
			wg.Go(func() {
				r := e.do("POST", fmt.Sprintf("/v1/accounts/%s/devices/%d/revoke", u.handle, id), api.RevokeDeviceRequest{Revocation: rev.Marshal()}, tok)
				if r.status != http.StatusOK {
					errs <- fmt.Sprintf("revoke %s/%d: %d %s", u.handle, id, r.status, r.body)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}

	v := e.verifier()
	cp := e.checkpoint(v)
	if cp.Size != n*7 {
		t.Fatalf("log size %d, want %d", cp.Size, n*7)
	}
	var l api.LeavesResponse
	e.ok("GET", fmt.Sprintf("/v1/log/leaves?start=0&end=%d", cp.Size), nil, "", http.StatusOK, &l)
	last := map[string]*kt.Entry{}
	for i, leaf := range l.Leaves {
		entry, err := kt.ParseEntry(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if err := entry.Verify(); err != nil {
			t.Fatal(err)
		}
		if err := kt.CheckSuccessor(last[entry.Handle], entry); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		last[entry.Handle] = entry
	}
	for _, u := range users {
		if a, _ := e.lookup(v, u.handle); a.Version != 7 || len(a.Devices) != 4 {
			t.Fatalf("%s: version %d, %d devices", u.handle, a.Version, len(a.Devices))
		}
	}
}
