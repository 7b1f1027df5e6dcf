package metatest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// testCreateUploadQuota: an upload fits while Stored + Open + size stays
// within the quota, and one that would pass it is refused, recording
// nothing.
func testCreateUploadQuota(t *testing.T, s meta.Store) {
	lim := meta.Limits{Quota: 1000, MaxOpenUploads: 10}
	store(t, s, "alice", 300, T0.Add(time.Hour)) // Stored 300
	u1 := NewUpload("alice", 400)
	if err := s.CreateUpload(ctx(t), u1, lim, T0); err != nil {
		t.Fatalf("CreateUpload within quota: %v", err)
	}
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 300, Open: 400, OpenUploads: 1})

	over := NewUpload("alice", 301) // 300 + 400 + 301 > 1000
	wantErr(t, "CreateUpload over quota", s.CreateUpload(ctx(t), over, lim, T0), meta.ErrQuota)
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 300, Open: 400, OpenUploads: 1})
	_, err := s.Upload(ctx(t), "alice", over.ID, T0)
	wantErr(t, "Upload of the refused upload", err, meta.ErrNotFound)

	// Exactly the quota fits.
	exact := NewUpload("alice", 300)
	if err := s.CreateUpload(ctx(t), exact, lim, T0); err != nil {
		t.Fatalf("CreateUpload to exactly the quota: %v", err)
	}
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 300, Open: 700, OpenUploads: 2})
	wantUpload(t, s, exact, T0)

	// Another account has its own quota.
	if err := s.CreateUpload(ctx(t), NewUpload("bob", 1000), lim, T0); err != nil {
		t.Fatalf("bob's CreateUpload: %v", err)
	}
	wantErr(t, "CreateUpload with a full quota", s.CreateUpload(ctx(t), NewUpload("alice", 1), lim, T0), meta.ErrQuota)

	// Freed bytes can be used again.
	if err := s.DeleteUpload(ctx(t), u1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(ctx(t), NewUpload("alice", 400), lim, T0); err != nil {
		t.Fatalf("CreateUpload after a delete: %v", err)
	}

	// A zero quota refuses everything.
	wantErr(t, "CreateUpload with zero limits", s.CreateUpload(ctx(t), NewUpload("carol", 1), meta.Limits{}, T0), meta.ErrQuota)
	wantUsage(t, s, "carol", T0, meta.Usage{})

	// A nonsensical size is refused, recording nothing.
	for _, size := range []int64{0, -1, -1 << 40} {
		bad := NewUpload("carol", size)
		if err := s.CreateUpload(ctx(t), bad, bigLimits, T0); err == nil {
			t.Fatalf("CreateUpload of size %d: no error", size)
		}
	}
	bad := NewUpload("carol", 10)
	bad.PartSize = 0
	if err := s.CreateUpload(ctx(t), bad, bigLimits, T0); err == nil {
		t.Fatal("CreateUpload of part size 0: no error")
	}
	wantUsage(t, s, "carol", T0, meta.Usage{})
}

// testMaxOpenUploads: the account's open uploads are bounded; blobs do not
// count to the bound.
func testMaxOpenUploads(t *testing.T, s meta.Store) {
	lim := meta.Limits{Quota: 1 << 30, MaxOpenUploads: 3}
	store(t, s, "alice", 10, T0.Add(time.Hour))
	var ids [][32]byte
	for range 3 {
		u := NewUpload("alice", 10)
		if err := s.CreateUpload(ctx(t), u, lim, T0); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		ids = append(ids, u.ID)
	}
	extra := NewUpload("alice", 10)
	wantErr(t, "CreateUpload past MaxOpenUploads", s.CreateUpload(ctx(t), extra, lim, T0), meta.ErrQuota)
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 10, Open: 30, OpenUploads: 3})
	_, err := s.Upload(ctx(t), "alice", extra.ID, T0)
	wantErr(t, "Upload of the refused upload", err, meta.ErrNotFound)

	// Completing one makes room.
	u := getUpload(t, s, "alice", ids[0], T0)
	if err := s.CompleteUpload(ctx(t), u.ID, blobOf(u, T0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(ctx(t), extra, lim, T0); err != nil {
		t.Fatalf("CreateUpload after a completion: %v", err)
	}
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 20, Open: 30, OpenUploads: 3})
}

// testExpiredDoNotCount: expired blobs and uploads count neither to the
// quota nor to the open uploads, before any sweep.
func testExpiredDoNotCount(t *testing.T, s meta.Store) {
	store(t, s, "alice", 600, T0.Add(time.Minute))
	u := NewUpload("alice", 300)
	u.Expires = T0.Add(2 * time.Minute)
	create(t, s, u)
	lim := meta.Limits{Quota: 1000, MaxOpenUploads: 1}

	now := T0.Add(30 * time.Second) // neither has expired
	wantUsage(t, s, "alice", now, meta.Usage{Stored: 600, Open: 300, OpenUploads: 1})
	wantErr(t, "CreateUpload", s.CreateUpload(ctx(t), NewUpload("alice", 50), lim, now), meta.ErrQuota)

	now = T0.Add(time.Minute) // the blob expires exactly now
	wantUsage(t, s, "alice", now, meta.Usage{Open: 300, OpenUploads: 1})
	// The bytes are free, the one open upload is not.
	wantErr(t, "CreateUpload", s.CreateUpload(ctx(t), NewUpload("alice", 50), lim, now), meta.ErrQuota)

	now = T0.Add(2 * time.Minute) // the upload too
	wantUsage(t, s, "alice", now, meta.Usage{})
	big := NewUpload("alice", 1000)
	big.Expires = now.Add(time.Hour)
	if err := s.CreateUpload(ctx(t), big, lim, now); err != nil {
		t.Fatalf("CreateUpload after expiry: %v", err)
	}
	wantUsage(t, s, "alice", now, meta.Usage{Open: 1000, OpenUploads: 1})
}

// QuotaRace runs CreateUploads of one account from many goroutines, spread
// over stores (one, or several sharing one database), racing for the last
// bytes of the quota and the last open-upload slot: exactly one wins.
// Implementations call it with several Stores on one database to show that
// the quota holds across processes.
func QuotaRace(t *testing.T, stores ...meta.Store) {
	const n = 16
	const account = "racer"
	s0 := stores[0]
	store(t, s0, account, 900, T0.Add(time.Hour))
	lim := meta.Limits{Quota: 1000, MaxOpenUploads: 2}
	for round := range 2 {
		// Round 0 races for bytes (each upload takes 60 of the 100 left);
		// round 1 for the last open-upload slot (each takes 1 byte).
		size := int64(60)
		if round == 1 {
			size = 1
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = stores[i%len(stores)].CreateUpload(t.Context(), NewUpload(account, size), lim, T0)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, meta.ErrQuota):
			default:
				t.Fatalf("round %d: CreateUpload: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d CreateUploads won, want 1", round, won)
		}
	}
	wantUsage(t, s0, account, T0, meta.Usage{Stored: 900, Open: 61, OpenUploads: 2})
}
