package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/keyserver/store"
)

func testCreateAccount(t *testing.T, f *fixture) {
	_, err := f.s.Account(f.ctx, "alice")
	wantErr(t, "Account before creation", err, store.ErrNotFound)
	a := f.create("alice", 1)
	if a.logIndex != 0 {
		t.Fatalf("first leaf index = %d, want 0", a.logIndex)
	}
	f.checkAccount(a)
	b := f.create("bob", 0xffffffff)
	if b.logIndex != 1 {
		t.Fatalf("second leaf index = %d, want 1", b.logIndex)
	}
	f.checkAccount(b)
	f.checkAccount(a)
	n, err := f.s.LogSize(f.ctx)
	must(t, "LogSize", err)
	if n != 2 {
		t.Fatalf("LogSize = %d, want 2", n)
	}
}

func testCreateHandleTaken(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	other := f.newAccount("alice")
	u, _ := f.createUpdate(other, 1)
	before := f.snapshot("alice")
	_, err := f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "create taken handle", err, store.ErrHandleTaken)
	f.unchanged("create taken handle", before)
	f.checkAccount(a)
}

func testInvites(t *testing.T, f *fixture) {
	code := []byte("invite-hash-0123456789abcdef0123")
	must(t, "AddInvite", f.s.AddInvite(f.ctx, code))

	// An unknown invite.
	a := f.newAccount("alice")
	u, set := f.createUpdate(a, 1)
	u.Invite = []byte("invite-hash-unknown-0123456789ab")
	before := f.snapshot("alice")
	_, err := f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "unknown invite", err, store.ErrInvite)
	f.unchanged("unknown invite", before)

	// The known one, once.
	u.Invite = code
	f.apply(a, u, set)
	f.checkAccount(a)

	b := f.newAccount("bob")
	u, _ = f.createUpdate(b, 1)
	u.Invite = code
	before = f.snapshot("alice", "bob")
	_, err = f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "reused invite", err, store.ErrInvite)
	f.unchanged("reused invite", before)

	// Open registration (no invite) still works while invites exist.
	must(t, "AddInvite", f.s.AddInvite(f.ctx, []byte("invite-hash-another-0123456789ab")))
	c := f.create("carol", 1)
	f.checkAccount(c)

	// Concurrent registrations with one invite: exactly one succeeds.
	shared := []byte("invite-hash-shared-0123456789abc")
	must(t, "AddInvite", f.s.AddInvite(f.ctx, shared))
	const n = 8
	us := make([]store.KeySetUpdate, n)
	for i := range us {
		x := f.newAccount("racer-" + string(rune('a'+i)))
		us[i], _ = f.createUpdate(x, 1)
		us[i].Invite = shared
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range us {
		wg.Go(func() { _, errs[i] = f.s.UpdateKeySet(f.ctx, us[i]) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantErr(t, "concurrent invite "+us[i].Handle, err, store.ErrInvite)
	}
	if ok != 1 {
		t.Fatalf("%d registrations used one invite, want 1", ok)
	}
	if got := len(f.leaves()); got != 3 {
		t.Fatalf("log has %d leaves, want 3", got)
	}
}

func testInviteConsumedOnlyOnSuccess(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	code := []byte("invite-hash-0123456789abcdef0123")
	must(t, "AddInvite", f.s.AddInvite(f.ctx, code))

	// A refused registration (handle taken) keeps the invite.
	other := f.newAccount("alice")
	u, _ := f.createUpdate(other, 1)
	u.Invite = code
	before := f.snapshot("alice")
	_, err := f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "taken handle with invite", err, store.ErrHandleTaken)
	f.unchanged("taken handle with invite", before)
	f.checkAccount(a)

	b := f.newAccount("bob")
	u, set := f.createUpdate(b, 1)
	u.Invite = code
	f.apply(b, u, set)
	f.checkAccount(b)
}

func testAddDevice(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	if a.version != 2 || a.logIndex != 1 {
		t.Fatalf("after add: version %d index %d, want 2 and 1", a.version, a.logIndex)
	}
	f.checkAccount(a)
	f.addDevice(a, 3)
	f.checkAccount(a)
}

func testAddDeviceRefused(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	f.revoke(a, 2)
	handles := []string{"alice", "nobody"}

	u, _ := f.addUpdate(a, 3)
	u.ExpectedVersion = a.version - 1
	before := f.snapshot(handles...)
	_, err := f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "stale version", err, store.ErrConflict)
	f.unchanged("stale version", before)

	u.ExpectedVersion = a.version + 1
	_, err = f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "future version", err, store.ErrConflict)
	f.unchanged("future version", before)

	for _, id := range []uint32{1, 2} { // active, revoked
		u, _ := f.addUpdate(a, id)
		_, err = f.s.UpdateKeySet(f.ctx, u)
		wantErr(t, "reused device id", err, store.ErrDeviceExists)
		f.unchanged("reused device id", before)
	}

	n := f.newAccount("nobody")
	f.device(n, 1)
	n.version = 1
	u, _ = f.addUpdate(n, 2)
	_, err = f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "unknown handle", err, store.ErrNotFound)
	f.unchanged("unknown handle", before)

	f.addDevice(a, 3) // the refused update did not move the version
	f.checkAccount(a)
}

func testRevoke(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, f.fullUpload(a, 2, 3)))
	f.revoke(a, 2)
	if a.version != 3 || a.logIndex != 2 {
		t.Fatalf("after revoke: version %d index %d, want 3 and 2", a.version, a.logIndex)
	}
	f.checkAccount(a)
	_, err := f.s.CountPrekeys(f.ctx, "alice", 2)
	wantErr(t, "CountPrekeys of revoked device", err, store.ErrDeviceRevoked)
	f.revoke(a, 1) // the last active device may go too
	f.checkAccount(a)
}

func testRevokeRefused(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	f.addDevice(a, 2)
	must(t, "upload", f.s.UploadPrekeys(f.ctx, f.fullUpload(a, 1, 2)))
	f.revoke(a, 2)
	handles := []string{"alice", "nobody"}
	before := f.snapshot(handles...)

	u, _ := f.revokeUpdate(a, 1)
	u.ExpectedVersion--
	_, err := f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "stale revoke", err, store.ErrConflict)
	f.unchanged("stale revoke", before)

	u, _ = f.revokeUpdate(a, 2)
	_, err = f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "revoke twice", err, store.ErrDeviceRevoked)
	f.unchanged("revoke twice", before)

	u, _ = f.revokeUpdate(a, 9)
	_, err = f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "revoke unknown device", err, store.ErrNotFound)
	f.unchanged("revoke unknown device", before)

	n := f.newAccount("nobody")
	f.device(n, 1)
	n.set = []store.Device{{ID: 1, Certificate: []byte("c")}}
	n.version = 1
	u, _ = f.revokeUpdate(n, 1)
	_, err = f.s.UpdateKeySet(f.ctx, u)
	wantErr(t, "revoke on unknown handle", err, store.ErrNotFound)
	f.unchanged("revoke on unknown handle", before)
	f.checkAccount(a)
}

func testDevicesSorted(t *testing.T, f *fixture) {
	a := f.create("alice", 7)
	for _, id := range []uint32{3, 0xffffffff, 12, 1, 0x80000000, 100} {
		f.addDevice(a, id)
	}
	f.revoke(a, 12)
	f.checkAccount(a) // a.set is sorted numerically
}

func testConcurrentSameAccount(t *testing.T, f *fixture) {
	a := f.create("alice", 1)
	const n = 8
	us := make([]store.KeySetUpdate, n)
	sets := make([][]store.Device, n)
	for i := range us {
		us[i], sets[i] = f.addUpdate(a, uint32(10+i))
	}
	idx := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range us {
		wg.Go(func() { idx[i], errs[i] = f.s.UpdateKeySet(f.ctx, us[i]) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		if err == nil {
			if won >= 0 {
				t.Fatalf("updates %d and %d both applied at version %d", won, i, a.version)
			}
			won = i
			continue
		}
		wantErr(t, "concurrent add", err, store.ErrConflict)
	}
	if won < 0 {
		t.Fatal("no concurrent update applied")
	}
	a.version++
	a.logIndex = idx[won]
	a.set = sets[won]
	f.checkAccount(a)
	if got := len(f.leaves()); got != 2 {
		t.Fatalf("log has %d leaves, want 2", got)
	}
}

func testConcurrentCreateSameHandle(t *testing.T, f *fixture) {
	const n = 8
	as := make([]*account, n)
	us := make([]store.KeySetUpdate, n)
	sets := make([][]store.Device, n)
	for i := range us {
		as[i] = f.newAccount("alice")
		us[i], sets[i] = f.createUpdate(as[i], 1)
	}
	idx := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range us {
		wg.Go(func() { idx[i], errs[i] = f.s.UpdateKeySet(f.ctx, us[i]) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("two registrations of one handle succeeded")
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrHandleTaken):
			t.Fatalf("concurrent create: %v, want %v", err, store.ErrHandleTaken)
		}
	}
	if won < 0 {
		t.Fatal("no registration succeeded")
	}
	w := as[won]
	w.version, w.logIndex, w.set = 1, idx[won], sets[won]
	f.checkAccount(w)
	if got := len(f.leaves()); got != 1 {
		t.Fatalf("log has %d leaves, want 1", got)
	}
}
