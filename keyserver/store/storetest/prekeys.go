package storetest

import (
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/store"
)

// counts fails unless device id of handle holds the given counts.
func (f *fixture) counts(handle string, id uint32, oneTime, kem int) {
	f.t.Helper()
	c, err := f.s.CountPrekeys(f.ctx, handle, id)
	must(f.t, "CountPrekeys", err)
	if want := (store.Counts{OneTime: oneTime, OneTimeKEM: kem}); c != want {
		f.t.Fatalf("CountPrekeys(%s, %d) = %+v, want %+v", handle, id, c, want)
	}
}

func testUploadPrekeys(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.counts("alice", 1, 0, 0)
	up := f.fullUpload(a, 1, 3) // ids 1..3 of both kinds: ids are per kind
	must(t, "upload", f.s.UploadPrekeys(f.ctx, up))
	f.counts("alice", 1, 3, 3)

	more := store.Upload{Handle: "alice", Device: 1, MaxOneTime: 100,
		OneTime: f.prekeys(a, 1, keys.OneTimePrekey, 4, 2)}
	must(t, "upload one-time", f.s.UploadPrekeys(f.ctx, more))
	f.counts("alice", 1, 5, 3)

	// New signed and last-resort prekeys replace the old ones and leave
	// the one-time ones alone.
	s2 := f.prekey(a, 1, keys.SignedPrekey, 2)
	lr2 := f.prekey(a, 1, keys.LastResortKEMPrekey, 2)
	must(t, "replace", f.s.UploadPrekeys(f.ctx, store.Upload{Handle: "alice", Device: 1, Signed: &s2, LastResort: &lr2, MaxOneTime: 100}))
	f.counts("alice", 1, 5, 3)
	c := f.claimOne("alice")
	if string(c.Signed) != string(s2.Encoded) {
		t.Fatal("claim returned the replaced signed prekey")
	}
	f.counts("alice", 1, 4, 2)

	// An empty upload changes nothing.
	must(t, "empty upload", f.s.UploadPrekeys(f.ctx, store.Upload{Handle: "alice", Device: 1, MaxOneTime: 100}))
	f.counts("alice", 1, 4, 2)
	for range 2 {
		f.claimOne("alice")
	}
	c = f.claimOne("alice")
	if c.KEMOneTime || string(c.KEM) != string(lr2.Encoded) {
		t.Fatal("fallback did not return the replacing last-resort prekey")
	}
}

func testUploadRefused(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, f.fullUpload(a, 1, 2)))
	must(t, "upload", f.s.UploadPrekeys(f.ctx, f.fullUpload(a, 2, 2)))
	f.revoke(a, 2)
	before := f.snapshot("alice", "nobody")

	up := f.fullUpload(a, 1, 1)
	up.OneTime[0].ID, up.OneTimeKEM[0].ID = 50, 50
	for _, c := range []struct {
		name   string
		handle string
		device uint32
		want   error
	}{
		{"unknown handle", "nobody", 1, store.ErrNotFound},
		{"unknown device", "alice", 3, store.ErrNotFound},
		{"revoked device", "alice", 2, store.ErrDeviceRevoked},
	} {
		u := up
		u.Handle, u.Device = c.handle, c.device
		wantErr(t, c.name, f.s.UploadPrekeys(f.ctx, u), c.want)
		f.unchanged(c.name, before)
	}
	f.counts("alice", 1, 2, 2)
}

func testTooManyPrekeys(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	up := f.fullUpload(a, 1, 3)
	up.MaxOneTime = 5
	must(t, "upload", f.s.UploadPrekeys(f.ctx, up))
	before := f.snapshot("alice")

	s2 := f.prekey(a, 1, keys.SignedPrekey, 2)
	lr2 := f.prekey(a, 1, keys.LastResortKEMPrekey, 2)
	over := store.Upload{Handle: "alice", Device: 1, Signed: &s2, LastResort: &lr2, MaxOneTime: 5,
		OneTime: f.prekeys(a, 1, keys.OneTimePrekey, 4, 3)}
	wantErr(t, "one-time over the cap", f.s.UploadPrekeys(f.ctx, over), store.ErrTooManyPrekeys)
	f.unchanged("one-time over the cap", before)

	over.OneTime = f.prekeys(a, 1, keys.OneTimePrekey, 4, 2) // fits
	over.OneTimeKEM = f.prekeys(a, 1, keys.OneTimeKEMPrekey, 4, 3)
	wantErr(t, "KEM over the cap", f.s.UploadPrekeys(f.ctx, over), store.ErrTooManyPrekeys)
	f.unchanged("KEM over the cap", before)

	fresh := f.create("bob", 1)
	big := f.fullUpload(fresh, 1, 6)
	big.MaxOneTime = 5
	before = f.snapshot("alice", "bob")
	wantErr(t, "one upload over the cap", f.s.UploadPrekeys(f.ctx, big), store.ErrTooManyPrekeys)
	f.unchanged("one upload over the cap", before)
	if cs, err := f.s.ClaimPrekeys(f.ctx, "bob"); err != nil || len(cs) != 0 {
		t.Fatalf("refused upload left claimable prekeys: %d claims, %v", len(cs), err)
	}

	// Exactly up to the cap is allowed.
	over.OneTimeKEM = over.OneTimeKEM[:2]
	must(t, "upload to the cap", f.s.UploadPrekeys(f.ctx, over))
	f.counts("alice", 1, 5, 5)
	c := f.claimOne("alice")
	if string(c.Signed) != string(s2.Encoded) {
		t.Fatal("signed prekey not replaced by the accepted upload")
	}
}

func testDuplicatePrekey(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	s1 := f.prekey(a, 1, keys.SignedPrekey, 1)
	lr1 := f.prekey(a, 1, keys.LastResortKEMPrekey, 1)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, store.Upload{Handle: "alice", Device: 1, Signed: &s1, LastResort: &lr1,
		MaxOneTime: 100, OneTime: f.prekeys(a, 1, keys.OneTimePrekey, 1, 3)}))
	before := f.snapshot("alice")

	s2 := f.prekey(a, 1, keys.SignedPrekey, 2)
	dupIn := f.prekeys(a, 1, keys.OneTimePrekey, 4, 2)
	dupIn[1] = f.prekey(a, 1, keys.OneTimePrekey, 4)
	cases := []struct {
		name string
		u    store.Upload
	}{
		{"repeated id in one upload", store.Upload{OneTime: dupIn}},
		{"id already stored", store.Upload{OneTime: f.prekeys(a, 1, keys.OneTimePrekey, 3, 2)}},
		{"repeated KEM id in one upload", store.Upload{OneTimeKEM: []store.Prekey{
			f.prekey(a, 1, keys.OneTimeKEMPrekey, 7), f.prekey(a, 1, keys.OneTimeKEMPrekey, 7)}}},
	}
	for _, c := range cases {
		u := c.u
		u.Handle, u.Device, u.Signed, u.MaxOneTime = "alice", 1, &s2, 100
		wantErr(t, c.name, f.s.UploadPrekeys(f.ctx, u), store.ErrDuplicatePrekey)
		f.unchanged(c.name, before)
	}

	// Ids are per kind and per device: the same id of the other kind, or
	// on another device or account, is not a duplicate.
	must(t, "same id, other kind", f.s.UploadPrekeys(f.ctx, store.Upload{Handle: "alice", Device: 1, MaxOneTime: 100,
		OneTimeKEM: f.prekeys(a, 1, keys.OneTimeKEMPrekey, 1, 3)}))
	f.addDevice(a, 2)
	must(t, "same id, other device", f.s.UploadPrekeys(f.ctx, store.Upload{Handle: "alice", Device: 2, MaxOneTime: 100,
		OneTime: f.prekeys(a, 2, keys.OneTimePrekey, 1, 3)}))
	b := f.create("bob", 1)
	must(t, "same id, other account", f.s.UploadPrekeys(f.ctx, store.Upload{Handle: "bob", Device: 1, MaxOneTime: 100,
		OneTime: f.prekeys(b, 1, keys.OneTimePrekey, 1, 3)}))
	f.counts("alice", 1, 3, 3)
	f.counts("alice", 2, 3, 0)
	f.counts("bob", 1, 3, 0)
	c := f.claimOne("alice")
	if string(c.Signed) != string(s1.Encoded) {
		t.Fatal("a refused upload replaced the signed prekey")
	}
}
