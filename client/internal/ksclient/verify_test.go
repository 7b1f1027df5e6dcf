package ksclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// verify runs VerifyAccount and checks that a failure returns nothing.
func verify(t *testing.T, s *server, v *kt.Verifier, pinned *kt.Checkpoint, handle string, a *api.AccountResponse) (*kt.Entry, *kt.Checkpoint, error) {
	t.Helper()
	var before []byte
	if pinned != nil {
		before = bytes.Clone(pinned.Signed)
	}
	entry, next, err := VerifyAccount(context.Background(), s.c, v, pinned, fresh(), handle, a)
	if err != nil && (entry != nil || next != nil) {
		t.Errorf("VerifyAccount failed with %v but returned an entry or pin", err)
	}
	if pinned != nil && !bytes.Equal(pinned.Signed, before) {
		t.Error("VerifyAccount changed the pinned checkpoint")
	}
	return entry, next, err
}

func TestVerifyAccount(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	alice, bob := s.newUser("alice"), s.newUser("bob")
	s.register(alice)

	r1 := s.lookup("alice")
	entry, pin1, err := verify(t, s, v, nil, "alice", r1)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Handle != "alice" || entry.Version != 1 || entry.AccountKey != alice.account.Public() || len(entry.Active()) != 1 || pin1.Size != 1 {
		t.Fatalf("first lookup: %+v, pin size %d", entry, pin1.Size)
	}

	// The log grows; the pin advances with a consistency proof.
	s.register(bob)
	s.addDevice(alice, 2)
	r2 := s.lookup("alice")
	proofs := s.count("/v1/log/consistency")
	entry, pin2, err := verify(t, s, v, pin1, "alice", r2)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Version != 2 || len(entry.Active()) != 2 || pin2.Size != 3 || s.count("/v1/log/consistency") != proofs+1 {
		t.Fatalf("second lookup: version %d, pin size %d", entry.Version, pin2.Size)
	}

	// The same tree again: no proof needed, the pin stays.
	if _, next, err := verify(t, s, v, pin2, "alice", r2); err != nil || !bytes.Equal(next.Signed, pin2.Signed) || s.count("/v1/log/consistency") != proofs+1 {
		t.Fatalf("same size: %v", err)
	}

	// An answer under an older checkpoint, consistent with the pin, is
	// stale (spec/client.md §6.1): the entry it proves may have been
	// replaced since (here it has: version 1 of 2). Nothing is returned.
	entry, next, err := verify(t, s, v, pin2, "alice", r1)
	if !errors.Is(err, ErrStale) || errors.Is(err, kt.ErrSecurity) || entry != nil || next != nil {
		t.Fatalf("older answer: %v; want ErrStale", err)
	}

	// Revocations come from the leaf.
	s.revoke(alice, 2)
	entry, _, err = verify(t, s, v, pin2, "alice", s.lookup("alice"))
	if err != nil || entry.Version != 3 || len(entry.Active()) != 1 || entry.Devices[1].Revocation == nil {
		t.Fatalf("after revoke: %v", err)
	}
}

// TestVerifyAccountForged: every check of VerifyAccount, each with an
// answer forged to fail it, with and without a pin.
func TestVerifyAccountForged(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	alice, bob := s.newUser("alice"), s.newUser("bob")
	s.register(alice)
	cpOld := s.checkpoint(v) // size 1, without alice's current entry
	s.register(bob)
	s.addDevice(alice, 2)
	s.revoke(alice, 2)
	s.addDevice(bob, 2)
	ra, rb := s.lookup("alice"), s.lookup("bob") // alice at index 3 of 5
	pin := s.checkpoint(v)

	// Keys the account key did sign, but the log does not hold.
	other, err := keys.GenerateDeviceKeys(s.rand)
	if err != nil {
		t.Fatal(err)
	}
	cert9, _ := alice.account.CertifyDevice("alice", 9, other.Public(), s.clock.Now())
	cert1, _ := alice.account.CertifyDevice("alice", 1, other.Public(), s.clock.Now())
	rev1, _ := alice.account.RevokeDevice("alice", 1, s.clock.Now())
	bobKey := bob.account.Public()

	// Checkpoints: one by another key, one by the log key stating a
	// false root.
	signCP := func(priv ed25519.PrivateKey, root tlog.Hash) string {
		signer, err := kt.NewSigner(serverName+"/keyserver", priv)
		if err != nil {
			t.Fatal(err)
		}
		b, err := kt.SignCheckpoint(signer, serverName+"/keyserver", pin.Size, root)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	falseRoot := pin.Root
	falseRoot[0] ^= 1
	otherKey := ed25519.NewKeyFromSeed(read(t, s.rand, 32))

	for _, tc := range []struct {
		name   string
		handle string
		forge  func(a *api.AccountResponse)
	}{
		{"leaf byte flipped", "alice", func(a *api.AccountResponse) { a.Leaf[len(a.Leaf)/2] ^= 1 }},
		{"another account's leaf", "alice", func(a *api.AccountResponse) { a.Leaf = rb.Leaf }},
		{"another account's leaf, index and proof", "alice", func(a *api.AccountResponse) {
			a.Leaf, a.LogIndex, a.Inclusion = rb.Leaf, rb.LogIndex, rb.Inclusion
		}},
		{"wrong index", "alice", func(a *api.AccountResponse) { a.LogIndex-- }},
		{"index past the tree", "alice", func(a *api.AccountResponse) { a.LogIndex = 100 }},
		{"negative index", "alice", func(a *api.AccountResponse) { a.LogIndex = -1 }},
		{"proof byte flipped", "alice", func(a *api.AccountResponse) { a.Inclusion[0][5] ^= 1 }},
		{"proof hash dropped", "alice", func(a *api.AccountResponse) { a.Inclusion = a.Inclusion[:len(a.Inclusion)-1] }},
		{"proof hash added", "alice", func(a *api.AccountResponse) { a.Inclusion = append(a.Inclusion, a.Inclusion[0]) }},
		{"proof hash short", "alice", func(a *api.AccountResponse) { a.Inclusion[0] = a.Inclusion[0][:31] }},
		{"extra device", "alice", func(a *api.AccountResponse) {
			a.Devices = append(a.Devices, api.DeviceEntry{ID: 9, Certificate: cert9.Marshal()})
		}},
		{"device withheld", "alice", func(a *api.AccountResponse) { a.Devices = a.Devices[:1] }},
		{"device key swapped", "alice", func(a *api.AccountResponse) { a.Devices[0].Certificate = cert1.Marshal() }},
		{"device id changed", "alice", func(a *api.AccountResponse) { a.Devices[0].ID = 5 }},
		{"revocation withheld", "alice", func(a *api.AccountResponse) { a.Devices[1].Revocation = nil }},
		{"revocation added", "alice", func(a *api.AccountResponse) { a.Devices[0].Revocation = rev1.Marshal() }},
		{"account key changed", "alice", func(a *api.AccountResponse) { a.AccountKey = bobKey[:] }},
		{"version changed", "alice", func(a *api.AccountResponse) { a.Version++ }},
		{"handle changed", "alice", func(a *api.AccountResponse) { a.Handle = "bob" }},
		{"answer for another handle", "bob", func(*api.AccountResponse) {}},
		{"checkpoint by another key", "alice", func(a *api.AccountResponse) { a.Checkpoint = signCP(otherKey, pin.Root) }},
		{"checkpoint by the log key with a false root", "alice", func(a *api.AccountResponse) { a.Checkpoint = signCP(s.logKey, falseRoot) }},
		{"checkpoint text altered", "alice", func(a *api.AccountResponse) {
			a.Checkpoint = string(bytes.Replace([]byte(a.Checkpoint), []byte("\n5\n"), []byte("\n6\n"), 1))
		}},
		{"checkpoint of a tree without the leaf", "alice", func(a *api.AccountResponse) { a.Checkpoint = string(cpOld.Signed) }},
		{"no checkpoint", "alice", func(a *api.AccountResponse) { a.Checkpoint = "" }},
	} {
		for _, pinned := range []*kt.Checkpoint{nil, pin} {
			name := tc.name + "/no pin"
			if pinned != nil {
				name = tc.name + "/pinned"
			}
			t.Run(name, func(t *testing.T) {
				a := cloneAccount(ra)
				tc.forge(a)
				_, _, err := verify(t, s, v, pinned, tc.handle, a)
				if !errors.Is(err, kt.ErrSecurity) {
					t.Fatalf("got %v, want kt.ErrSecurity", err)
				}
			})
		}
	}
	// The genuine answers still pass.
	for _, a := range []*api.AccountResponse{ra, rb} {
		if _, _, err := verify(t, s, v, pin, a.Handle, a); err != nil {
			t.Fatalf("genuine %s: %v", a.Handle, err)
		}
	}
}

// TestVerifyAccountFork: two key servers sign with the same log key but
// log different things. Alone, each view verifies (spec/transparency.md
// §8: split views that never meet); once a client has pinned one, the
// other is refused, larger, equal or smaller.
func TestVerifyAccountFork(t *testing.T) {
	a := newServer(t, "A", nil)
	b := newServer(t, "B", func(c *keyserver.Config) { c.LogKey = a.logKey })
	v := a.verifier()
	if b.verifier().Key() != v.Key() {
		t.Fatal("the two servers have different log keys")
	}
	a.register(a.newUser("alice"))
	a.register(a.newUser("bob"))
	b.register(b.newUser("carol"))
	carolSmall := b.lookup("carol") // B at size 1
	b.register(b.newUser("dave"))
	pinA := a.checkpoint(v) // size 2

	// B alone verifies.
	if _, _, err := verify(t, b, v, nil, "carol", b.lookup("carol")); err != nil {
		t.Fatalf("B alone: %v", err)
	}
	// Same size, other root.
	if _, _, err := verify(t, b, v, pinA, "carol", b.lookup("carol")); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("fork of equal size: %v", err)
	}
	// B larger: its consistency proof does not reach A's root.
	b.register(b.newUser("erin"))
	if _, _, err := verify(t, b, v, pinA, "carol", b.lookup("carol")); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("larger fork: %v", err)
	}
	// B's older, smaller tree: not a prefix of the pinned one.
	if _, _, err := verify(t, b, v, pinA, "carol", carolSmall); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("rollback to a smaller inconsistent tree: %v", err)
	}
	// A server whose log is smaller than the pin cannot prove anything
	// and refuses: a rollback too.
	c := newServer(t, "C", func(c *keyserver.Config) { c.LogKey = a.logKey })
	c.register(c.newUser("carol"))
	if _, _, err := verify(t, c, v, pinA, "carol", c.lookup("carol")); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("server rolled back: %v", err)
	}
	// A's own answers still pass.
	if _, _, err := verify(t, a, v, pinA, "alice", a.lookup("alice")); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyAccountPinFromAnotherLog: a pin the log's key did not sign
// (the server changed its log key) is refused.
func TestVerifyAccountPinFromAnotherLog(t *testing.T) {
	a := newServer(t, "A", nil)
	b := newServer(t, "B", nil)
	a.register(a.newUser("alice"))
	b.register(b.newUser("alice"))
	pinA := a.checkpoint(a.verifier())
	if _, _, err := verify(t, b, b.verifier(), pinA, "alice", b.lookup("alice")); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("pin of another log: %v", err)
	}
}

// TestVerifyAccountNetworkError: a proof that cannot be fetched is not a
// security error, and nothing is returned.
func TestVerifyAccountNetworkError(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	s.register(s.newUser("alice"))
	pin := s.checkpoint(v)
	s.register(s.newUser("bob"))
	r := s.lookup("alice")
	s.ts.Close()
	_, _, err := verify(t, s, v, pin, "alice", r)
	if err == nil || errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("network failure: %v", err)
	}
}

// bundleOf builds a bundle for device keys dev certified by cert, with
// prekeys it signs.
func bundleOf(t *testing.T, s *server, dev *keys.DevicePrivateKeys, cert *keys.DeviceCertificate) api.Bytes {
	t.Helper()
	_, spk, err := dev.GeneratePrekey(s.rand, keys.SignedPrekey, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, kem, err := dev.GeneratePrekey(s.rand, keys.LastResortKEMPrekey, 1)
	if err != nil {
		t.Fatal(err)
	}
	return (&keys.Bundle{Certificate: cert, SignedPrekey: spk, KEMPrekey: kem}).Marshal()
}

func TestCheckClaim(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	v := s.verifier()
	alice, bob := s.newUser("alice"), s.newUser("bob")
	s.register(alice)
	s.register(bob)
	s.addDevice(alice, 2)
	s.addDevice(alice, 3)
	for id := uint32(1); id <= 3; id++ {
		if _, err := s.c.UploadPrekeys(ctx, s.tokenFor(alice, id), s.prekeys(alice, id, 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.c.UploadPrekeys(ctx, s.tokenFor(bob, 1), s.prekeys(bob, 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	tokB := s.tokenFor(bob, 1)
	claim, err := s.c.Claim(ctx, tokB, "alice")
	if err != nil || len(claim.Bundles) != 3 {
		t.Fatalf("claim: %v", err)
	}
	entry, _, err := verify(t, s, v, nil, "alice", s.lookup("alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range claim.Bundles {
		b, err := CheckClaim(entry, cb)
		if err != nil {
			t.Fatalf("device %d: %v", cb.Device, err)
		}
		if uint32(b.Certificate.Device) != cb.Device || b.OneTimePrekey == nil {
			t.Fatalf("device %d: %+v", cb.Device, b)
		}
	}
	bobClaim, err := s.c.Claim(ctx, s.tokenFor(alice, 1), "bob")
	if err != nil || len(bobClaim.Bundles) != 1 {
		t.Fatalf("claim bob: %v", err)
	}

	// Keys alice's account key signed that the log does not show.
	other, err := keys.GenerateDeviceKeys(s.rand)
	if err != nil {
		t.Fatal(err)
	}
	cert1, _ := alice.account.CertifyDevice("alice", 1, other.Public(), s.clock.Now())
	cert9, _ := alice.account.CertifyDevice("alice", 9, other.Public(), s.clock.Now())

	for _, tc := range []struct {
		name   string
		cb     api.ClaimedBundle
		keyErr error
	}{
		{"another key for device 1", api.ClaimedBundle{Device: 1, Bundle: bundleOf(t, s, other, cert1)}, nil},
		{"a device the log does not show", api.ClaimedBundle{Device: 9, Bundle: bundleOf(t, s, other, cert9)}, nil},
		{"device id differs from the bundle's", api.ClaimedBundle{Device: 2, Bundle: claim.Bundles[0].Bundle}, nil},
		{"another account's bundle", api.ClaimedBundle{Device: 1, Bundle: bobClaim.Bundles[0].Bundle}, keys.ErrWrongAccount},
		{"garbage", api.ClaimedBundle{Device: 1, Bundle: []byte("garbage")}, keys.ErrMalformed},
		{"empty", api.ClaimedBundle{Device: 1}, keys.ErrMalformed},
		{"prekey signature broken", api.ClaimedBundle{Device: 1, Bundle: func() []byte {
			b := bytes.Clone(claim.Bundles[0].Bundle)
			b[len(b)-1] ^= 1
			return b
		}()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := CheckClaim(entry, tc.cb)
			if !errors.Is(err, kt.ErrSecurity) || b != nil {
				t.Fatalf("got %v, want kt.ErrSecurity", err)
			}
			if tc.keyErr != nil && !errors.Is(err, tc.keyErr) {
				t.Fatalf("got %v, want also %v", err, tc.keyErr)
			}
		})
	}

	// After device 3 is revoked, its bundle (claimed before) is refused
	// against the new entry.
	s.revoke(alice, 3)
	entry2, _, err := verify(t, s, v, nil, "alice", s.lookup("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckClaim(entry2, claim.Bundles[2]); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("bundle of a revoked device: %v", err)
	}
	if _, err := CheckClaim(entry2, claim.Bundles[0]); err != nil {
		t.Fatalf("device 1 after revoking 3: %v", err)
	}
}
