package ksclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// verify runs VerifyDirectoryLookup and checks that a failure returns
// nothing and that the pin is never changed.
func verify(t *testing.T, s *server, v *kt.Verifier, pinned *kt.Checkpoint, handle string, a *api.DirectoryLookup) (*kt.Entry, *kt.Checkpoint, error) {
	t.Helper()
	var before []byte
	if pinned != nil {
		before = bytes.Clone(pinned.Signed)
	}
	entry, next, err := VerifyDirectoryLookup(context.Background(), s.c, v, s.vrfKey(), pinned, fresh(), handle, a)
	if err != nil && (entry != nil || next != nil) {
		t.Errorf("VerifyDirectoryLookup failed with %v but returned an entry or pin", err)
	}
	if pinned != nil && !bytes.Equal(pinned.Signed, before) {
		t.Error("VerifyDirectoryLookup changed the pinned checkpoint")
	}
	return entry, next, err
}

func TestVerifyDirectoryLookup(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	alice, bob := s.newUser("alice"), s.newUser("bob")
	s.register(alice) // epoch 2 (epoch 1 is the empty first one)

	r1 := s.lookup("alice")
	entry, pin1, err := verify(t, s, v, nil, "alice", r1)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Handle != "alice" || entry.Version != 1 || entry.AccountKey != alice.account.Public() || len(entry.Active()) != 1 || pin1.Size != 2 || r1.Epoch != 2 {
		t.Fatalf("first lookup: %+v, pin size %d", entry, pin1.Size)
	}

	// The directory grows, an epoch per change; the pin advances with a
	// consistency proof.
	s.register(bob)
	s.addDevice(alice, 2)
	r2 := s.lookup("alice")
	proofs := s.count("/v2/log/consistency")
	entry, pin2, err := verify(t, s, v, pin1, "alice", r2)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Version != 2 || len(entry.Active()) != 2 || pin2.Size != 4 || s.count("/v2/log/consistency") != proofs+1 {
		t.Fatalf("second lookup: version %d, pin size %d", entry.Version, pin2.Size)
	}

	// The same tree again: no proof needed, the pin stays.
	if _, next, err := verify(t, s, v, pin2, "alice", r2); err != nil || !bytes.Equal(next.Signed, pin2.Signed) || s.count("/v2/log/consistency") != proofs+1 {
		t.Fatalf("same size: %v", err)
	}

	// An answer under an older checkpoint, consistent with the pin, is
	// stale (spec/client.md §6.1): its key set has been replaced since.
	entry, next, err := verify(t, s, v, pin2, "alice", r1)
	if !errors.Is(err, ErrStale) || errors.Is(err, kt.ErrSecurity) || entry != nil || next != nil {
		t.Fatalf("older answer: %v; want ErrStale", err)
	}

	// A handle nobody registered: proven absent.
	entry, next, err = verify(t, s, v, pin2, "nobody", s.lookup("nobody"))
	if err != nil || entry != nil || next == nil {
		t.Fatalf("absent handle: %+v, %v", entry, err)
	}

	// Revocations come from the committed entry.
	s.revoke(alice, 2)
	entry, _, err = verify(t, s, v, pin2, "alice", s.lookup("alice"))
	if err != nil || entry.Version != 3 || len(entry.Active()) != 1 || entry.Devices[1].Revocation == nil {
		t.Fatalf("after revoke: %v", err)
	}
}

// TestVerifyDirectoryLookupForged: every check of VerifyDirectoryLookup,
// each with an answer forged to fail it, with and without a pin.
func TestVerifyDirectoryLookupForged(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	alice, bob := s.newUser("alice"), s.newUser("bob")
	s.register(alice)
	rOld := s.lookup("alice") // epoch 2
	s.register(bob)
	s.addDevice(alice, 2)
	s.revoke(alice, 2)
	s.addDevice(bob, 2)
	ra, rb, rn := s.lookup("alice"), s.lookup("bob"), s.lookup("nobody")
	pin := s.checkpoint(v)

	// An entry the account key did sign, but the directory does not hold.
	other, err := keys.GenerateDeviceKeys(s.rand)
	if err != nil {
		t.Fatal(err)
	}
	cert9, _ := alice.account.CertifyDevice("alice", 9, other.Public(), s.clock.Now())
	forged, err := kt.ParseEntry(ra.Entry)
	if err != nil {
		t.Fatal(err)
	}
	forged.Devices = append(forged.Devices, kt.Device{Certificate: cert9})
	forgedEntry := forged.Marshal()

	// Checkpoints: one by another key, one by the log key stating a
	// false root, one by the log key for the version 1 origin.
	signCP := func(priv ed25519.PrivateKey, origin string, root tlog.Hash) string {
		signer, err := kt.NewSigner(origin, priv)
		if err != nil {
			t.Fatal(err)
		}
		b, err := kt.SignCheckpoint(signer, origin, pin.Size, root)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v2 := serverName + directory.OriginSuffix
	falseRoot := pin.Root
	falseRoot[0] ^= 1
	otherKey := ed25519.NewKeyFromSeed(read(t, s.rand, 32))

	for _, tc := range []struct {
		name   string
		handle string
		forge  func(a *api.DirectoryLookup)
	}{
		{"leaf byte flipped", "alice", func(a *api.DirectoryLookup) { a.Leaf[40] ^= 1 }},
		{"leaf of another epoch", "alice", func(a *api.DirectoryLookup) { a.Leaf = rOld.Leaf }},
		{"leaf, epoch and inclusion of another epoch", "alice", func(a *api.DirectoryLookup) {
			a.Leaf, a.Epoch, a.Inclusion = rOld.Leaf, rOld.Epoch, rOld.Inclusion
		}},
		{"epoch changed", "alice", func(a *api.DirectoryLookup) { a.Epoch-- }},
		{"inclusion byte flipped", "alice", func(a *api.DirectoryLookup) { a.Inclusion[0][5] ^= 1 }},
		{"inclusion hash dropped", "alice", func(a *api.DirectoryLookup) { a.Inclusion = a.Inclusion[:len(a.Inclusion)-1] }},
		{"inclusion hash added", "alice", func(a *api.DirectoryLookup) { a.Inclusion = append(a.Inclusion, a.Inclusion[0]) }},
		{"inclusion hash short", "alice", func(a *api.DirectoryLookup) { a.Inclusion[0] = a.Inclusion[0][:31] }},
		{"VRF proof byte flipped", "alice", func(a *api.DirectoryLookup) { a.VRFProof[40] ^= 1 }},
		{"VRF proof of another handle", "alice", func(a *api.DirectoryLookup) { a.VRFProof = rb.VRFProof }},
		{"map proof byte flipped", "alice", func(a *api.DirectoryLookup) { a.MapProof[len(a.MapProof)-1] ^= 1 }},
		{"map proof of another handle", "alice", func(a *api.DirectoryLookup) { a.MapProof = rb.MapProof }},
		{"entry with an extra device", "alice", func(a *api.DirectoryLookup) { a.Entry = forgedEntry }},
		{"entry and opening of another handle", "alice", func(a *api.DirectoryLookup) { a.Entry, a.Opening = rb.Entry, rb.Opening }},
		{"entry of an earlier version", "alice", func(a *api.DirectoryLookup) { a.Entry, a.Opening = rOld.Entry, rOld.Opening }},
		{"opening byte flipped", "alice", func(a *api.DirectoryLookup) { a.Opening[0] ^= 1 }},
		{"opening short", "alice", func(a *api.DirectoryLookup) { a.Opening = a.Opening[:31] }},
		{"entry withheld: claims absent", "alice", func(a *api.DirectoryLookup) { a.Entry, a.Opening = nil, nil }},
		{"another handle's absence", "alice", func(a *api.DirectoryLookup) {
			*a = *cloneLookup(rn)
			a.Handle = "alice"
		}},
		{"handle changed", "alice", func(a *api.DirectoryLookup) { a.Handle = "bob" }},
		{"answer for another handle", "bob", func(*api.DirectoryLookup) {}},
		{"checkpoint by another key", "alice", func(a *api.DirectoryLookup) { a.Checkpoint = signCP(otherKey, v2, pin.Root) }},
		{"checkpoint by the log key with a false root", "alice", func(a *api.DirectoryLookup) { a.Checkpoint = signCP(s.logKey, v2, falseRoot) }},
		{"checkpoint by the log key for the version 1 origin", "alice", func(a *api.DirectoryLookup) {
			a.Checkpoint = signCP(s.logKey, serverName+"/keyserver", pin.Root) // the retired log's origin
		}},
		{"checkpoint text altered", "alice", func(a *api.DirectoryLookup) {
			size := fmt.Appendf(nil, "\n%d\n", pin.Size)
			a.Checkpoint = string(bytes.Replace([]byte(a.Checkpoint), size, fmt.Appendf(nil, "\n%d\n", pin.Size+1), 1))
		}},
		{"checkpoint of an older tree", "alice", func(a *api.DirectoryLookup) { a.Checkpoint = rOld.Checkpoint }},
		{"no checkpoint", "alice", func(a *api.DirectoryLookup) { a.Checkpoint = "" }},
	} {
		for _, pinned := range []*kt.Checkpoint{nil, pin} {
			name := tc.name + "/no pin"
			if pinned != nil {
				name = tc.name + "/pinned"
			}
			t.Run(name, func(t *testing.T) {
				a := cloneLookup(ra)
				tc.forge(a)
				_, _, err := verify(t, s, v, pinned, tc.handle, a)
				if !errors.Is(err, kt.ErrSecurity) {
					t.Fatalf("got %v, want kt.ErrSecurity", err)
				}
			})
		}
	}
	// The genuine answers still pass.
	for _, a := range []*api.DirectoryLookup{ra, rb, rn} {
		if _, _, err := verify(t, s, v, pin, a.Handle, a); err != nil {
			t.Fatalf("genuine %s: %v", a.Handle, err)
		}
	}
}

// TestVerifyDirectoryLookupFork: two key servers sign with the same log
// key but sequence different directories. Alone, each view verifies;
// once a client has pinned one, the other is refused, larger, equal or
// smaller.
func TestVerifyDirectoryLookupFork(t *testing.T) {
	a := newServer(t, "A", nil)
	b := newServer(t, "B", func(c *keyserver.Config) { c.LogKey, c.VRFKey = a.logKey, a.vrf })
	v := a.verifier()
	if b.verifier().Key() != v.Key() {
		t.Fatal("the two servers have different log keys")
	}
	a.register(a.newUser("alice"))
	a.register(a.newUser("bob"))
	b.register(b.newUser("carol"))
	carolSmall := b.lookup("carol") // B at size 2
	b.register(b.newUser("dave"))
	pinA := a.checkpoint(v) // size 3

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
	c := newServer(t, "C", func(c *keyserver.Config) { c.LogKey, c.VRFKey = a.logKey, a.vrf })
	c.register(c.newUser("carol"))
	if _, _, err := verify(t, c, v, pinA, "carol", c.lookup("carol")); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("server rolled back: %v", err)
	}
	// A's own answers still pass.
	if _, _, err := verify(t, a, v, pinA, "alice", a.lookup("alice")); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDirectoryLookupPinFromAnotherLog: a pin the log's key did not
// sign (the server changed its log key) is refused.
func TestVerifyDirectoryLookupPinFromAnotherLog(t *testing.T) {
	a := newServer(t, "A", nil)
	b := newServer(t, "B", nil)
	a.register(a.newUser("alice"))
	b.register(b.newUser("alice"))
	pinA := a.checkpoint(a.verifier())
	if _, _, err := verify(t, b, b.verifier(), pinA, "alice", b.lookup("alice")); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("pin of another log: %v", err)
	}
}

// TestVerifyDirectoryLookupWrongVRFKey: a discovery document that names
// another VRF key than the directory's leaves is caught at the first
// lookup.
func TestVerifyDirectoryLookupWrongVRFKey(t *testing.T) {
	s := newServer(t, "", nil)
	s.register(s.newUser("alice"))
	other := vrfKey(t, read(t, s.rand, 32)).Public()
	_, _, err := VerifyDirectoryLookup(context.Background(), s.c, s.verifier(), other, nil, fresh(), "alice", s.lookup("alice"))
	if !errors.Is(err, kt.ErrSecurity) || !errors.Is(err, directory.ErrWrongKey) {
		t.Fatalf("another VRF key: %v", err)
	}
}

// TestVerifyDirectoryLookupNetworkError: a proof that cannot be fetched
// is not a security error, and nothing is returned.
func TestVerifyDirectoryLookupNetworkError(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	s.vrfKey() // discovery cached before the server goes
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
