package keyserver_test

import (
	"context"
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
// goroutines at once; the store's log of changes stays gapless and every
// handle's entries form a valid history (spec/transparency.md §7.3), and
// the directory serves each account's last key set with a verifying
// history (spec/transparency-v2.md §6.4).
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

	// The key server's internal log (spec/transparency.md §2: the store
	// still appends one entry per change, the revocation feed's order)
	// holds every change once, each a valid successor of the account's
	// previous one: the changes were serialised.
	ctx := context.Background()
	size, err := e.store.LogSize(ctx)
	if err != nil || size != n*7 {
		t.Fatalf("log size %d (%v), want %d", size, err, n*7)
	}
	leaves, err := e.store.Leaves(ctx, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]*kt.Entry{}
	for i, leaf := range leaves {
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
	// What is published: the directory serves each account's last key
	// set, and its owner's history verifies as a chain of successors.
	c := e.dirClient()
	e.waitSequenced()
	for _, u := range users {
		if a := c.mustLookup(t, u.handle); a == nil || a.Version != 7 || len(a.Devices) != 4 {
			t.Fatalf("%s: %+v, want version 7 with 4 devices", u.handle, a)
		}
		hist, _, err := c.history(u.handle, e.token(u, 1, ""))
		if err != nil || len(hist) == 0 || hist[len(hist)-1].Version != 7 {
			t.Fatalf("history of %s: %d entries, %v", u.handle, len(hist), err)
		}
	}
}
