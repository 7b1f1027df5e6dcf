package storetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/store"
)

// claim claims for handle and returns the claims ordered by device.
func (f *fixture) claim(handle string) []store.Claimed {
	f.t.Helper()
	cs, err := f.s.ClaimPrekeys(f.ctx, handle)
	must(f.t, "ClaimPrekeys "+handle, err)
	slices.SortFunc(cs, func(a, b store.Claimed) int { return cmpID(a.Device, b.Device) })
	return cs
}

// claimOne claims for handle, which must have exactly one eligible device.
func (f *fixture) claimOne(handle string) store.Claimed {
	f.t.Helper()
	cs := f.claim(handle)
	if len(cs) != 1 {
		f.t.Fatalf("ClaimPrekeys(%s) returned %d claims, want 1", handle, len(cs))
	}
	return cs[0]
}

// takeOne fails unless got is one of pool's encodings, and removes it.
func takeOne(t *testing.T, what string, pool map[string]bool, got []byte) {
	t.Helper()
	if !pool[string(got)] {
		t.Fatalf("%s: claimed a prekey not uploaded or already handed out", what)
	}
	delete(pool, string(got))
}

func encodings(ps []store.Prekey) map[string]bool {
	m := map[string]bool{}
	for _, p := range ps {
		m[string(p.Encoded)] = true
	}
	return m
}

func (f *fixture) cert(a *account, id uint32) []byte {
	for _, d := range a.set {
		if d.ID == id {
			return d.Certificate
		}
	}
	f.t.Fatalf("no device %d", id)
	return nil
}

func testClaim(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	up := f.fullUpload(a, 1, 2)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, up))
	b := f.create("bob", 1)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, f.fullUpload(b, 1, 2)))
	ot, kem := encodings(up.OneTime), encodings(up.OneTimeKEM)

	for i := range 2 {
		c := f.claimOne("alice")
		if c.Device != 1 || !bytes.Equal(c.Certificate, f.cert(a, 1)) || !bytes.Equal(c.Signed, up.Signed.Encoded) {
			t.Fatalf("claim %d: wrong device, certificate or signed prekey", i)
		}
		if !c.KEMOneTime {
			t.Fatalf("claim %d: got the last-resort KEM prekey with one-time ones left", i)
		}
		takeOne(t, "one-time", ot, c.OneTime)
		takeOne(t, "one-time KEM", kem, c.KEM)
		f.counts("alice", 1, 1-i, 1-i)
	}
	for i := range 2 {
		c := f.claimOne("alice")
		if c.OneTime != nil || c.KEMOneTime || !bytes.Equal(c.KEM, up.LastResort.Encoded) ||
			!bytes.Equal(c.Signed, up.Signed.Encoded) {
			t.Fatalf("exhausted claim %d: OneTime %d bytes, KEMOneTime %v, want nil and the last-resort prekey",
				i, len(c.OneTime), c.KEMOneTime)
		}
	}
	f.counts("alice", 1, 0, 0)
	f.counts("bob", 1, 2, 2) // claims of one account leave others alone

	// One kind can run out before the other.
	f.addDevice(a, 2)
	s := f.prekey(a, 2, keys.SignedPrekey, 1)
	lr := f.prekey(a, 2, keys.LastResortKEMPrekey, 1)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, store.Upload{Handle: "alice", Device: 2, Signed: &s, LastResort: &lr,
		MaxOneTime: 10, OneTimeKEM: f.prekeys(a, 2, keys.OneTimeKEMPrekey, 1, 1)}))
	cs := f.claim("alice")
	if len(cs) != 2 || cs[1].Device != 2 || cs[1].OneTime != nil || !cs[1].KEMOneTime ||
		!bytes.Equal(cs[1].Certificate, f.cert(a, 2)) {
		t.Fatalf("claim with only a one-time KEM prekey left: %+v", cs)
	}
	f.counts("alice", 2, 0, 0)
}

func testClaimEligibility(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	for _, id := range []uint32{2, 3, 4, 5, 6} {
		f.addDevice(a, id)
	}
	full := func(id uint32) store.Upload { return f.fullUpload(a, id, 1) }
	must(t, "upload 1", f.s.UploadPrekeys(f.ctx, full(1)))
	noSigned := full(2)
	noSigned.Signed = nil
	must(t, "upload 2", f.s.UploadPrekeys(f.ctx, noSigned))
	noLR := full(3)
	noLR.LastResort = nil
	must(t, "upload 3", f.s.UploadPrekeys(f.ctx, noLR))
	must(t, "upload 4", f.s.UploadPrekeys(f.ctx, full(4)))
	f.revoke(a, 4)
	medium := full(5)
	medium.OneTime, medium.OneTimeKEM = nil, nil
	must(t, "upload 5", f.s.UploadPrekeys(f.ctx, medium))
	// Device 6 uploaded nothing.

	cs := f.claim("alice")
	if len(cs) != 2 || cs[0].Device != 1 || cs[1].Device != 5 {
		ids := []uint32{}
		for _, c := range cs {
			ids = append(ids, c.Device)
		}
		t.Fatalf("claimed devices %v, want [1 5]", ids)
	}
	if cs[0].OneTime == nil || !cs[0].KEMOneTime {
		t.Fatal("device 1: one-time prekeys not handed out")
	}
	if cs[1].OneTime != nil || cs[1].KEMOneTime || !bytes.Equal(cs[1].KEM, medium.LastResort.Encoded) ||
		!bytes.Equal(cs[1].Signed, medium.Signed.Encoded) || !bytes.Equal(cs[1].Certificate, f.cert(a, 5)) {
		t.Fatal("device 5: want its signed and last-resort prekeys and no one-time one")
	}
	f.counts("alice", 2, 1, 1) // ineligible devices keep their one-time prekeys
	f.counts("alice", 3, 1, 1)

	f.create("bob", 1)
	if cs := f.claim("bob"); len(cs) != 0 {
		t.Fatalf("account without prekeys gave %d claims", len(cs))
	}
}

func testClaimUnknown(t *testing.T, f *fixture) {
	f.create("alice", 1)
	before := f.snapshot("alice", "nobody")
	_, err := f.s.ClaimPrekeys(f.ctx, "nobody")
	wantErr(t, "claim unknown handle", err, store.ErrNotFound)
	f.unchanged("claim unknown handle", before)
}
