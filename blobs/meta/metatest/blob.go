package metatest

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// testFindBlob: the dedup finds the account's own unexpired blob of that
// size and digest, and nothing of another account's.
func testFindBlob(t *testing.T, s meta.Store) {
	b := store(t, s, "alice", 500, T0.Add(time.Hour))
	got, err := s.FindBlob(ctx(t), "alice", 500, b.Digest, T0)
	if err != nil {
		t.Fatalf("FindBlob: %v", err)
	}
	if !sameBlob(got, b) {
		t.Fatalf("FindBlob = %+v, want %+v", got, b)
	}
	for _, tc := range []struct {
		name    string
		account string
		size    int64
		digest  [32]byte
		now     time.Time
	}{
		{"another account", "bob", 500, b.Digest, T0},
		{"another size", "alice", 501, b.Digest, T0},
		{"another digest", "alice", 500, rand32(), T0},
		{"expired", "alice", 500, b.Digest, T0.Add(time.Hour)},
	} {
		_, err := s.FindBlob(ctx(t), tc.account, tc.size, tc.digest, tc.now)
		wantErr(t, "FindBlob of "+tc.name, err, meta.ErrNotFound)
	}

	// bob's equal blob is his own, and alice's stays hers.
	u := NewUpload("bob", 500)
	u.Digest = b.Digest
	create(t, s, u)
	bb := blobOf(u, T0.Add(2*time.Hour))
	if err := s.CompleteUpload(ctx(t), u.ID, bb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []meta.Blob{b, bb} {
		got, err := s.FindBlob(ctx(t), want.Account, 500, b.Digest, T0)
		if err != nil || !sameBlob(got, want) {
			t.Fatalf("FindBlob(%s) = %+v, %v; want %+v", want.Account, got, err, want)
		}
	}
	// An open upload of the same bytes is not a blob.
	open := NewUpload("carol", 500)
	open.Digest = b.Digest
	create(t, s, open)
	_, err = s.FindBlob(ctx(t), "carol", 500, b.Digest, T0)
	wantErr(t, "FindBlob of an open upload", err, meta.ErrNotFound)
}

// testExtendBlob: the expiry only moves later.
func testExtendBlob(t *testing.T, s meta.Store) {
	b := store(t, s, "alice", 500, T0.Add(time.Hour))
	if err := s.ExtendBlob(ctx(t), b.ID, T0.Add(time.Minute), T0); err != nil {
		t.Fatalf("ExtendBlob earlier: %v", err)
	}
	wantBlob(t, s, b, T0)
	b.Expires = T0.Add(3 * time.Hour)
	if err := s.ExtendBlob(ctx(t), b.ID, b.Expires, T0); err != nil {
		t.Fatalf("ExtendBlob later: %v", err)
	}
	wantBlob(t, s, b, T0.Add(2*time.Hour))
	wantErr(t, "ExtendBlob of an unknown blob", s.ExtendBlob(ctx(t), rand32(), T0.Add(time.Hour), T0), meta.ErrNotFound)
	_, err := s.Blob(ctx(t), b.ID, b.Expires)
	wantErr(t, "Blob at expiry", err, meta.ErrNotFound)
	// An expired blob is not revived: the sweeper may be deleting it.
	wantErr(t, "ExtendBlob at expiry", s.ExtendBlob(ctx(t), b.ID, b.Expires.Add(time.Hour), b.Expires), meta.ErrNotFound)
	_, err = s.Blob(ctx(t), b.ID, b.Expires)
	wantErr(t, "Blob after a refused ExtendBlob", err, meta.ErrNotFound)
}

// testBlobExpiry: a blob is found until its expiry, not at it or after.
func testBlobExpiry(t *testing.T, s meta.Store) {
	b := store(t, s, "alice", 500, T0.Add(time.Hour))
	wantBlob(t, s, b, T0.Add(time.Hour-time.Nanosecond))
	for _, now := range []time.Time{T0.Add(time.Hour), T0.Add(48 * time.Hour)} {
		_, err := s.Blob(ctx(t), b.ID, now)
		wantErr(t, "Blob after expiry", err, meta.ErrNotFound)
	}
	_, err := s.Blob(ctx(t), rand32(), T0)
	wantErr(t, "Blob of an unknown id", err, meta.ErrNotFound)
}

// testExpired: the sweeper's listing, limit honoured.
func testExpired(t *testing.T, s meta.Store) {
	bs, us, err := s.Expired(ctx(t), T0.Add(time.Hour), 10)
	if err != nil || len(bs) != 0 || len(us) != 0 {
		t.Fatalf("Expired of an empty store = %d, %d, %v", len(bs), len(us), err)
	}
	var blobs []meta.Blob
	var uploads []meta.Upload
	for i := range 3 {
		blobs = append(blobs, store(t, s, "alice", 10, T0.Add(time.Duration(i+1)*time.Minute)))
		u := NewUpload("bob", 10)
		u.Expires = T0.Add(time.Duration(i+1) * time.Minute)
		create(t, s, u)
		uploads = append(uploads, u)
	}
	live := store(t, s, "alice", 10, T0.Add(time.Hour))
	liveUp := NewUpload("alice", 10)
	liveUp.Expires = T0.Add(time.Hour)
	create(t, s, liveUp)

	now := T0.Add(3 * time.Minute)
	bs, us, err = s.Expired(ctx(t), now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 || len(us) != 3 {
		t.Fatalf("Expired = %d blobs, %d uploads; want 3, 3", len(bs), len(us))
	}
	for i := range 3 {
		if !sameBlob(bs[i], blobs[i]) {
			t.Fatalf("expired blob %d = %+v, want %+v", i, bs[i], blobs[i])
		}
		if !sameUpload(us[i], uploads[i]) {
			t.Fatalf("expired upload %d = %+v, want %+v", i, us[i], uploads[i])
		}
	}
	bs, us, err = s.Expired(ctx(t), now, 2)
	if err != nil || len(bs) != 2 || len(us) != 2 {
		t.Fatalf("Expired with limit 2 = %d, %d, %v", len(bs), len(us), err)
	}
	if !sameBlob(bs[0], blobs[0]) || !sameUpload(us[0], uploads[0]) {
		t.Fatal("Expired with limit 2 did not start with the soonest expired")
	}
	bs, us, err = s.Expired(ctx(t), now, 0)
	if err != nil || len(bs) != 0 || len(us) != 0 {
		t.Fatalf("Expired with limit 0 = %d, %d, %v", len(bs), len(us), err)
	}

	// The sweep: delete them, and the next listing is empty.
	bs, us, _ = s.Expired(ctx(t), now, 10)
	for _, b := range bs {
		if err := s.DeleteBlob(ctx(t), b.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range us {
		if err := s.DeleteUpload(ctx(t), u.ID); err != nil {
			t.Fatal(err)
		}
	}
	bs, us, err = s.Expired(ctx(t), now, 10)
	if err != nil || len(bs) != 0 || len(us) != 0 {
		t.Fatalf("Expired after the sweep = %d, %d, %v", len(bs), len(us), err)
	}
	wantBlob(t, s, live, now)
	wantUpload(t, s, liveUp, now)
}

// testExpiredLeased: an expired upload whose lease is held is not swept
// until the lease runs out.
func testExpiredLeased(t *testing.T, s meta.Store) {
	u := NewUpload("alice", 10)
	u.Expires = T0.Add(time.Minute)
	create(t, s, u)
	if err := s.Lease(ctx(t), u.ID, 0, rand16(), T0.Add(10*time.Minute), T0); err != nil {
		t.Fatal(err)
	}
	_, us, err := s.Expired(ctx(t), T0.Add(5*time.Minute), 10)
	if err != nil || len(us) != 0 {
		t.Fatalf("Expired with the lease held = %d uploads, %v", len(us), err)
	}
	_, us, err = s.Expired(ctx(t), T0.Add(10*time.Minute), 10)
	if err != nil || len(us) != 1 || us[0].ID != u.ID {
		t.Fatalf("Expired after the lease = %d uploads, %v", len(us), err)
	}
}

// testDelete: DeleteBlob and DeleteUpload remove their rows and free the
// quota; deleting what is not there is ErrNotFound.
func testDelete(t *testing.T, s meta.Store) {
	b := store(t, s, "alice", 100, T0.Add(time.Hour))
	u := NewUpload("alice", 50)
	create(t, s, u)
	commit(t, s, u.ID, 0, meta.Part{Number: 1, Size: 5, Tag: "t1"}, T0.Add(time.Hour))
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 100, Open: 50, OpenUploads: 1})

	if err := s.DeleteBlob(ctx(t), b.ID); err != nil {
		t.Fatalf("DeleteBlob: %v", err)
	}
	_, err := s.Blob(ctx(t), b.ID, T0)
	wantErr(t, "Blob after DeleteBlob", err, meta.ErrNotFound)
	_, err = s.FindBlob(ctx(t), "alice", 100, b.Digest, T0)
	wantErr(t, "FindBlob after DeleteBlob", err, meta.ErrNotFound)
	wantErr(t, "DeleteBlob again", s.DeleteBlob(ctx(t), b.ID), meta.ErrNotFound)
	wantUsage(t, s, "alice", T0, meta.Usage{Open: 50, OpenUploads: 1})

	if err := s.DeleteUpload(ctx(t), u.ID); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}
	_, err = s.Upload(ctx(t), "alice", u.ID, T0)
	wantErr(t, "Upload after DeleteUpload", err, meta.ErrNotFound)
	wantErr(t, "DeleteUpload again", s.DeleteUpload(ctx(t), u.ID), meta.ErrNotFound)
	wantErr(t, "Lease after DeleteUpload", s.Lease(ctx(t), u.ID, 5, rand16(), T0.Add(time.Minute), T0), meta.ErrNotFound)
	wantUsage(t, s, "alice", T0, meta.Usage{})

	// A new upload with the old id starts with no parts: they went with it.
	create(t, s, u)
	wantUpload(t, s, u, T0)
}
