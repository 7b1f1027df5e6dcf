package storetest

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// testCountRevoked: a revoked device's prekey count is refused, like its
// uploads, and an unknown device's is not found (spec/keyserver.md §5.7).
func testCountRevoked(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, f.fullUpload(a, 2, 3)))
	f.counts("alice", 2, 3, 3)
	f.revoke(a, 2)
	before := f.snapshot("alice")
	for _, tc := range []struct {
		what   string
		device uint32
		want   error
	}{
		{"revoked device", 2, store.ErrDeviceRevoked},
		{"unknown device", 9, store.ErrNotFound},
	} {
		c, err := f.s.CountPrekeys(f.ctx, "alice", tc.device)
		wantErr(t, tc.what, err, tc.want)
		if c != (store.Counts{}) {
			t.Fatalf("%s: counts %+v with the error", tc.what, c)
		}
	}
	_, err := f.s.CountPrekeys(f.ctx, "nobody", 1)
	wantErr(t, "unknown handle", err, store.ErrNotFound)
	f.unchanged("counts", before)
	f.counts("alice", 1, 0, 0) // the active device still counts
}

// testRevocations: the feed lists each revocation once, at the index of
// the leaf that recorded it, in index order, paged by that cursor.
func testRevocations(t *testing.T, f *fixture) {
	rs, err := f.s.Revocations(f.ctx, -1, 10)
	must(t, "Revocations of an empty store", err)
	if len(rs) != 0 {
		t.Fatalf("empty store: %+v", rs)
	}
	a := f.create("alice", 1) // 0
	f.addDevice(a, 2)         // 1
	f.addDevice(a, 3)         // 2
	b := f.create("bob", 5)   // 3
	f.addDevice(b, 6)         // 4
	f.revoke(a, 3)            // 5
	f.revoke(b, 5)            // 6
	f.addDevice(a, 4)         // 7
	f.revoke(a, 2)            // 8
	want := []store.Revocation{
		{LogIndex: 5, Handle: "alice", Device: 3},
		{LogIndex: 6, Handle: "bob", Device: 5},
		{LogIndex: 8, Handle: "alice", Device: 2},
	}
	at := f.now.Add(time.Minute) // revokeUpdate's Now
	check := func(what string, got []store.Revocation, want []store.Revocation) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d revocations %+v, want %d", what, len(got), got, len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.LogIndex != w.LogIndex || g.Handle != w.Handle || g.Device != w.Device || !g.Time.Equal(at) {
				t.Fatalf("%s: revocation %d is %+v, want %+v at %v", what, i, g, w, at)
			}
		}
	}
	rs, err = f.s.Revocations(f.ctx, -1, 10)
	must(t, "Revocations", err)
	check("all", rs, want)
	rs, err = f.s.Revocations(f.ctx, -1, 2)
	must(t, "Revocations page 1", err)
	check("page 1", rs, want[:2])
	rs, err = f.s.Revocations(f.ctx, rs[1].LogIndex, 2)
	must(t, "Revocations page 2", err)
	check("page 2", rs, want[2:])
	rs, err = f.s.Revocations(f.ctx, 8, 10)
	must(t, "Revocations past the end", err)
	check("past the end", rs, nil)
	rs, err = f.s.Revocations(f.ctx, 5, 10)
	must(t, "Revocations after 5", err)
	check("after 5", rs, want[1:])
}
