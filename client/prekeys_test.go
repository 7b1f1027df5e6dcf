package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
)

// serverCounts returns c's one-time prekey counts at the key server.
func serverCounts(t *testing.T, c *Client) *api.PrekeyCounts {
	t.Helper()
	tok, err := c.keyServerToken(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.ks.PrekeyCount(ctxT(t), tok)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrekeyTopUp: when claims drain bob's one-time prekeys below the low
// mark, his client publishes new ones (spec/client.md §7.1).
func TestPrekeyTopUp(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	if n := serverCounts(t, bob); n.OneTime != oneTimeTarget || n.OneTimeKEM != oneTimeTarget {
		t.Fatalf("after registration: %+v", n)
	}
	tok, err := alice.keyServerToken(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for range oneTimeTarget - oneTimeLow + 5 {
		if _, err := alice.ks.Claim(ctxT(t), tok, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	if n := serverCounts(t, bob); n.OneTime >= oneTimeLow {
		t.Fatalf("claims left %+v", n)
	}
	// A message that uses one of them wakes bob's maintenance.
	send(t, alice, "bob", "uses a one-time prekey")
	recv(t, bob)
	// The drain leaves oneTimeLow-5 of each unless bob tops up. Bob's poll
	// may run while the claims are still being made (it tops up whenever
	// a count is under oneTimeLow), so the count it ends at need not be
	// oneTimeTarget: at least oneTimeLow shows it replenished.
	waitToppedUp(t, bob)
	// The private halves are stored: the claimed-and-used one is gone,
	// the rest and the new ones are there.
	var x int
	bob.store.View(ctxT(t), func(tx localstore.Tx) error {
		x, err = tx.CountPrekeys(uint8(keys.OneTimePrekey))
		return err
	})
	// 80 claimed by the test and 1 by alice's send leave 19 at the
	// server; bob used (and deleted) 1 and published 81.
	claimed := oneTimeTarget - oneTimeLow + 5 + 1
	if want := oneTimeTarget - 1 + claimed; x != want {
		t.Fatalf("bob stores %d one-time prekeys, want %d", x, want)
	}
}

// TestSignedPrekeyRotation: a signed prekey older than its lifetime is
// replaced, and the replaced one is kept for messages in flight.
func TestSignedPrekeyRotation(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	old := time.Now().Add(-signedPrekeyLifetime - time.Hour)
	var oldID uint32
	err := bob.store.Update(ctxT(t), func(tx localstore.Tx) error {
		ps, err := tx.Prekeys(uint8(keys.SignedPrekey))
		if err != nil || len(ps) != 1 {
			t.Fatalf("%d signed prekeys, %v", len(ps), err)
		}
		ps[0].Created = old
		oldID = ps[0].ID
		return tx.PutPrekey(ps[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.maintainPrekeys(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	bob.store.View(ctxT(t), func(tx localstore.Tx) error {
		ps, err := tx.Prekeys(uint8(keys.SignedPrekey))
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		return err
	})
	if len(ids) != 2 {
		t.Fatalf("after rotation bob holds signed prekeys %v, want the old and a new one", ids)
	}
	// A session started now uses the new signed prekey.
	send(t, alice, "bob", "after rotation")
	if m := recv(t, bob); string(m.Plaintext) != "after rotation" {
		t.Fatal(m)
	}
	b, err := alice.ks.Claim(ctxT(t), mustToken(t, alice), "bob")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := keys.ParseBundle(b.Bundles[0].Bundle)
	if err != nil || bundle.SignedPrekey.ID == oldID {
		t.Fatalf("the key server still hands out the old signed prekey (%v)", err)
	}
}

func mustToken(t *testing.T, c *Client) string {
	t.Helper()
	tok, err := c.keyServerToken(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestExpiredPrekeys: with weekly rotation, a replaced prekey goes once
// its successor is older than the grace period; the newest always stays.
func TestExpiredPrekeys(t *testing.T) {
	now := time.Now()
	var ps []localstore.Prekey
	for w := range 11 { // made 0, 1, … 10 weeks ago
		ps = append(ps, localstore.Prekey{ID: uint32(w + 1), Created: now.Add(-time.Duration(w) * 7 * 24 * time.Hour)})
	}
	got := expiredPrekeys(ps, now)
	// Prekey w+1 (made w weeks ago) was replaced w-1 weeks ago: expired
	// when (w-1) weeks > 35 days, i.e. w ≥ 7.
	want := []uint32{8, 9, 10, 11}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("expired %v, want %v", got, want)
	}
	if got := expiredPrekeys(ps[:1], now.Add(1000*24*time.Hour)); len(got) != 0 {
		t.Fatalf("the only prekey expired: %v", got)
	}
}

// TestPrekeyPollTopsUp: claims by others drain bob's one-time prekeys
// without any message reaching him; his client's count poll sees it and
// tops up (spec/client.md §7.1, spec/keyserver.md §5.8).
func TestPrekeyPollTopsUp(t *testing.T) {
	was := prekeyCheckInterval
	prekeyCheckInterval = 100 * time.Millisecond
	t.Cleanup(func() { prekeyCheckInterval = was })
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	tok, err := alice.keyServerToken(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for range oneTimeTarget - oneTimeLow + 5 {
		if _, err := alice.ks.Claim(ctxT(t), tok, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	// The drain leaves oneTimeLow-5 of each unless bob tops up. Bob's poll
	// may run while the claims are still being made (it tops up whenever
	// a count is under oneTimeLow), so the count it ends at need not be
	// oneTimeTarget: at least oneTimeLow shows it replenished.
	waitToppedUp(t, bob)
}

// waitToppedUp waits until the key server holds at least oneTimeLow
// one-time prekeys of each kind for bob: his maintenance replenished them.
func waitToppedUp(t *testing.T, bob *Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := serverCounts(t, bob)
		if n.OneTime >= oneTimeLow && n.OneTimeKEM >= oneTimeLow {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not topped up: %+v", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
