package storetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/sealpost/sealpost/keyserver/store"
)

// testBundles checks Bundles: the claim's devices with their signed and
// last-resort prekeys, no one-time prekey, nothing taken.
func testBundles(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	f.addDevice(a, 3)
	up1, up3 := f.fullUpload(a, 1, 2), f.fullUpload(a, 3, 1)
	must(t, "upload 1", f.s.UploadPrekeys(f.ctx, up1))
	must(t, "upload 3", f.s.UploadPrekeys(f.ctx, up3))
	// Device 2 published nothing: not served.
	f.create("bob", 1)
	before := f.snapshot("alice", "bob")

	bs, err := f.s.Bundles(f.ctx, "alice")
	must(t, "Bundles alice", err)
	slices.SortFunc(bs, func(a, b store.Claimed) int { return cmpID(a.Device, b.Device) })
	if len(bs) != 2 || bs[0].Device != 1 || bs[1].Device != 3 {
		t.Fatalf("Bundles gave %d devices, want devices 1 and 3", len(bs))
	}
	for i, up := range []store.Upload{up1, up3} {
		b := bs[i]
		if b.OneTime != nil || b.KEMOneTime || !bytes.Equal(b.KEM, up.LastResort.Encoded) ||
			!bytes.Equal(b.Signed, up.Signed.Encoded) || !bytes.Equal(b.Certificate, f.cert(a, b.Device)) {
			t.Fatalf("device %d: want its certificate, signed and last-resort prekeys and no one-time prekey", b.Device)
		}
	}
	f.unchanged("Bundles", before)
	f.counts("alice", 1, 2, 2)

	bs, err = f.s.Bundles(f.ctx, "bob")
	must(t, "Bundles bob", err)
	if len(bs) != 0 {
		t.Fatalf("account without prekeys gave %d bundles", len(bs))
	}
	_, err = f.s.Bundles(f.ctx, "nobody")
	wantErr(t, "Bundles unknown handle", err, store.ErrNotFound)
	f.unchanged("Bundles", before)
}

// testPrekeyIDs checks PrekeyIDs: the held one-time ids by kind,
// ascending; claimed ones gone; refused for unknown and revoked devices.
func testPrekeyIDs(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	up := f.fullUpload(a, 1, 3)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, up))
	ids := func(ps []store.Prekey) []uint32 {
		var out []uint32
		for _, p := range ps {
			out = append(out, p.ID)
		}
		slices.Sort(out)
		return out
	}
	h, err := f.s.PrekeyIDs(f.ctx, "alice", 1)
	must(t, "PrekeyIDs", err)
	if !slices.Equal(h.OneTime, ids(up.OneTime)) || !slices.Equal(h.OneTimeKEM, ids(up.OneTimeKEM)) {
		t.Fatalf("PrekeyIDs = %v / %v, want %v / %v", h.OneTime, h.OneTimeKEM, ids(up.OneTime), ids(up.OneTimeKEM))
	}
	f.claim("alice")
	h, err = f.s.PrekeyIDs(f.ctx, "alice", 1)
	must(t, "PrekeyIDs after claim", err)
	if len(h.OneTime) != 2 || len(h.OneTimeKEM) != 2 {
		t.Fatalf("after a claim PrekeyIDs holds %d / %d ids, want 2 / 2", len(h.OneTime), len(h.OneTimeKEM))
	}
	h, err = f.s.PrekeyIDs(f.ctx, "alice", 2)
	must(t, "PrekeyIDs device without prekeys", err)
	if len(h.OneTime)+len(h.OneTimeKEM) != 0 {
		t.Fatal("device without prekeys has ids")
	}
	f.revoke(a, 2)
	_, err = f.s.PrekeyIDs(f.ctx, "alice", 2)
	wantErr(t, "PrekeyIDs revoked device", err, store.ErrDeviceRevoked)
	_, err = f.s.PrekeyIDs(f.ctx, "alice", 9)
	wantErr(t, "PrekeyIDs unknown device", err, store.ErrNotFound)
	_, err = f.s.PrekeyIDs(f.ctx, "nobody", 1)
	wantErr(t, "PrekeyIDs unknown handle", err, store.ErrNotFound)
}
