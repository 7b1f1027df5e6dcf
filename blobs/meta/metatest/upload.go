package metatest

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// commit leases upload id at offset and commits part p, with a hash state
// naming the new offset.
func commit(t *testing.T, s meta.Store, id [32]byte, offset int64, p meta.Part, expires time.Time) {
	t.Helper()
	tok := rand16()
	if err := s.Lease(ctx(t), id, offset, tok, T0.Add(10*time.Minute), T0); err != nil {
		t.Fatalf("Lease at %d: %v", offset, err)
	}
	if err := s.CommitPart(ctx(t), id, tok, offset, p, state(offset+p.Size), expires); err != nil {
		t.Fatalf("CommitPart at %d: %v", offset, err)
	}
}

// state is a stand-in hash state for offset.
func state(offset int64) []byte {
	return append([]byte("sha256 state at "), byte(offset), byte(offset>>8), byte(offset>>16), byte(offset>>24), 0)
}

// testUploadNotFound: an upload is its account's only, and gone at its
// expiry.
func testUploadNotFound(t *testing.T, s meta.Store) {
	u := NewUpload("alice", 100)
	create(t, s, u)
	wantUpload(t, s, u, T0)
	for _, tc := range []struct {
		name    string
		account string
		id      [32]byte
		now     time.Time
	}{
		{"another account", "bob", u.ID, T0},
		{"an unknown id", "alice", rand32(), T0},
		{"at its expiry", "alice", u.ID, u.Expires},
		{"after its expiry", "alice", u.ID, u.Expires.Add(time.Hour)},
	} {
		_, err := s.Upload(ctx(t), tc.account, tc.id, tc.now)
		wantErr(t, "Upload of "+tc.name, err, meta.ErrNotFound)
	}
	wantErr(t, "Lease of an expired upload", s.Lease(ctx(t), u.ID, 0, rand16(), u.Expires.Add(time.Minute), u.Expires), meta.ErrNotFound)
	wantErr(t, "Lease of an unknown upload", s.Lease(ctx(t), rand32(), 0, rand16(), T0.Add(time.Minute), T0), meta.ErrNotFound)
	wantUpload(t, s, u, T0)
}

// testLease: the lease's refusals, each changing nothing, and a lease that
// ran out.
func testLease(t *testing.T, s meta.Store) {
	u := NewUpload("alice", 20<<20)
	create(t, s, u)
	p1 := meta.Part{Number: 1, Size: u.PartSize, Tag: "tag-1"}
	commit(t, s, u.ID, 0, p1, u.Expires)
	u.Offset, u.Parts, u.HashState = p1.Size, []meta.Part{p1}, state(p1.Size)

	a, b := rand16(), rand16()
	wantErr(t, "Lease at a wrong offset", s.Lease(ctx(t), u.ID, 0, a, T0.Add(time.Minute), T0), meta.ErrOffset)
	wantErr(t, "Lease past the offset", s.Lease(ctx(t), u.ID, 2*u.PartSize, a, T0.Add(time.Minute), T0), meta.ErrOffset)
	// Nothing was taken: b leases.
	if err := s.Lease(ctx(t), u.ID, u.Offset, b, T0.Add(time.Minute), T0); err != nil {
		t.Fatalf("Lease: %v", err)
	}
	now := T0.Add(30 * time.Second)
	wantErr(t, "Lease held", s.Lease(ctx(t), u.ID, u.Offset, a, now.Add(time.Minute), now), meta.ErrBusy)
	wantErr(t, "Lease held, wrong offset", s.Lease(ctx(t), u.ID, 0, a, now.Add(time.Minute), now), meta.ErrBusy)
	// a's refused lease did not replace b's: a cannot commit, b can later.
	wantErr(t, "CommitPart without the lease", s.CommitPart(ctx(t), u.ID, a, u.Offset, meta.Part{Number: 2, Size: 1}, nil, u.Expires), meta.ErrBusy)
	wantUpload(t, s, u, now)

	// The holder may take it again (extend it).
	if err := s.Lease(ctx(t), u.ID, u.Offset, b, T0.Add(2*time.Minute), now); err != nil {
		t.Fatalf("Lease again by its holder: %v", err)
	}
	wantErr(t, "Lease held after the extension", s.Lease(ctx(t), u.ID, u.Offset, a, T0.Add(3*time.Minute), T0.Add(90*time.Second)), meta.ErrBusy)

	// Once it runs out, a takes it, and b has lost it.
	now = T0.Add(2 * time.Minute)
	if err := s.Lease(ctx(t), u.ID, u.Offset, a, now.Add(time.Minute), now); err != nil {
		t.Fatalf("Lease after the lease ran out: %v", err)
	}
	wantErr(t, "CommitPart by the lost lease", s.CommitPart(ctx(t), u.ID, b, u.Offset, meta.Part{Number: 2, Size: 1}, nil, u.Expires), meta.ErrBusy)
	wantErr(t, "Lease by the lost holder", s.Lease(ctx(t), u.ID, u.Offset, b, now.Add(time.Minute), now), meta.ErrBusy)
	wantUpload(t, s, u, now)
}

// testRelease: Release drops the token's lease and nothing else; a wrong
// token changes nothing.
func testRelease(t *testing.T, s meta.Store) {
	u := NewUpload("alice", 100)
	create(t, s, u)
	a, b := rand16(), rand16()
	if err := s.Lease(ctx(t), u.ID, 0, a, T0.Add(time.Minute), T0); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx(t), u.ID, b); err != nil {
		t.Fatalf("Release by a wrong token: %v", err)
	}
	wantErr(t, "Lease after a wrong Release", s.Lease(ctx(t), u.ID, 0, b, T0.Add(time.Minute), T0), meta.ErrBusy)
	var zero [16]byte
	if err := s.Release(ctx(t), u.ID, zero); err != nil {
		t.Fatalf("Release by the zero token: %v", err)
	}
	wantErr(t, "Lease after a zero Release", s.Lease(ctx(t), u.ID, 0, b, T0.Add(time.Minute), T0), meta.ErrBusy)
	wantUpload(t, s, u, T0)

	if err := s.Release(ctx(t), u.ID, a); err != nil {
		t.Fatalf("Release: %v", err)
	}
	wantUpload(t, s, u, T0)
	if err := s.Lease(ctx(t), u.ID, 0, b, T0.Add(time.Minute), T0); err != nil {
		t.Fatalf("Lease after Release: %v", err)
	}
	wantErr(t, "CommitPart by the released token", s.CommitPart(ctx(t), u.ID, a, 0, meta.Part{Number: 1, Size: 100}, nil, u.Expires), meta.ErrBusy)
	if err := s.Release(ctx(t), rand32(), a); err != nil {
		t.Fatalf("Release of an unknown upload: %v", err)
	}
	wantUpload(t, s, u, T0)
}

// testReleaseNode: ReleaseNode drops the leases of one node's tokens, no
// other, and changes nothing else.
func testReleaseNode(t *testing.T, s meta.Store) {
	u, v := NewUpload("alice", 100), NewUpload("bob", 100)
	create(t, s, u)
	create(t, s, v)
	mine, other := rand16(), rand16()
	copy(mine[:8], "node-one")
	copy(other[:8], "node-two")
	late := T0.Add(time.Minute)
	if err := s.Lease(ctx(t), u.ID, 0, mine, late, T0); err != nil {
		t.Fatal(err)
	}
	if err := s.Lease(ctx(t), v.ID, 0, other, late, T0); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseNode(ctx(t), [8]byte([]byte("node-one"))); err != nil {
		t.Fatalf("ReleaseNode: %v", err)
	}
	wantUpload(t, s, u, T0)
	wantUpload(t, s, v, T0)
	if err := s.Lease(ctx(t), u.ID, 0, rand16(), late, T0); err != nil {
		t.Errorf("Lease after the node's leases were released: %v", err)
	}
	wantErr(t, "Lease held by another node", s.Lease(ctx(t), v.ID, 0, rand16(), late, T0), meta.ErrBusy)
	wantErr(t, "CommitPart by a released token", s.CommitPart(ctx(t), u.ID, mine, 0, meta.Part{Number: 1, Size: 100}, nil, u.Expires), meta.ErrBusy)
	wantUpload(t, s, u, T0)
}

// testCommitPart: parts append in order, the offset and hash state move,
// the expiry is set and the lease is dropped.
func testCommitPart(t *testing.T, s meta.Store) {
	u := NewUpload("alice", 12<<20)
	create(t, s, u)
	parts := []meta.Part{
		{Number: 1, Size: u.PartSize, Tag: `"etag-1"`},
		{Number: 2, Size: u.PartSize, Tag: `"etag-2"`},
		{Number: 3, Size: 2 << 20, Tag: ""},
	}
	for i, p := range parts {
		tok := rand16()
		if err := s.Lease(ctx(t), u.ID, u.Offset, tok, T0.Add(time.Hour), T0); err != nil {
			t.Fatalf("part %d: Lease: %v", i+1, err)
		}
		u.Expires = T0.Add(time.Duration(48+i) * time.Hour)
		hs := state(u.Offset + p.Size)
		if err := s.CommitPart(ctx(t), u.ID, tok, u.Offset, p, hs, u.Expires); err != nil {
			t.Fatalf("part %d: CommitPart: %v", i+1, err)
		}
		u.Offset += p.Size
		u.Parts = append(u.Parts, p)
		u.HashState = hs
		wantUpload(t, s, u, T0)
		// The lease went with the commit: anyone takes the next one.
		other := rand16()
		if err := s.Lease(ctx(t), u.ID, u.Offset, other, T0.Add(time.Hour), T0); err != nil {
			t.Fatalf("part %d: Lease after CommitPart: %v", i+1, err)
		}
		wantErr(t, "CommitPart again by its token", s.CommitPart(ctx(t), u.ID, tok, u.Offset, p, hs, u.Expires), meta.ErrBusy)
		if err := s.Release(ctx(t), u.ID, other); err != nil {
			t.Fatal(err)
		}
	}
	// The later expiry counts: the upload lives past its first one.
	wantUpload(t, s, u, T0.Add(49*time.Hour))
	wantUsage(t, s, "alice", T0, meta.Usage{Open: 12 << 20, OpenUploads: 1})

	// A holder that gives the wrong offset is refused.
	tok := rand16()
	if err := s.Lease(ctx(t), u.ID, u.Offset, tok, T0.Add(time.Hour), T0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CommitPart at a wrong offset", s.CommitPart(ctx(t), u.ID, tok, 0, meta.Part{Number: 4, Size: 1}, nil, u.Expires), meta.ErrOffset)
	wantUpload(t, s, u, T0)
	wantErr(t, "CommitPart of an unknown upload", s.CommitPart(ctx(t), rand32(), tok, 0, meta.Part{Number: 1, Size: 1}, nil, u.Expires), meta.ErrNotFound)
}

// testCommitPartLostLease: a token whose lease ran out commits if nobody
// took it, and is refused, changing nothing, once another holds it.
func testCommitPartLostLease(t *testing.T, s meta.Store) {
	u := NewUpload("alice", 100)
	create(t, s, u)
	a, b := rand16(), rand16()
	if err := s.Lease(ctx(t), u.ID, 0, a, T0.Add(time.Minute), T0); err != nil {
		t.Fatal(err)
	}
	if err := s.Lease(ctx(t), u.ID, 0, b, T0.Add(3*time.Minute), T0.Add(2*time.Minute)); err != nil {
		t.Fatalf("Lease after the first ran out: %v", err)
	}
	p := meta.Part{Number: 1, Size: 100, Tag: "a"}
	wantErr(t, "CommitPart by a lost lease", s.CommitPart(ctx(t), u.ID, a, 0, p, state(100), T0.Add(time.Hour)), meta.ErrBusy)
	wantUpload(t, s, u, T0)
	wantErr(t, "Lease still held by b", s.Lease(ctx(t), u.ID, 0, a, T0.Add(4*time.Minute), T0.Add(150*time.Second)), meta.ErrBusy)

	// b's lease runs out too, but nobody takes it: b still commits.
	p.Tag = "b"
	if err := s.CommitPart(ctx(t), u.ID, b, 0, p, state(100), T0.Add(time.Hour)); err != nil {
		t.Fatalf("CommitPart after the lease ran out untaken: %v", err)
	}
	u.Offset, u.Parts, u.HashState, u.Expires = 100, []meta.Part{p}, state(100), T0.Add(time.Hour)
	wantUpload(t, s, u, T0)
}

// testCompleteUpload: the upload becomes a blob, its bytes move from Open
// to Stored, and a gone upload changes nothing.
func testCompleteUpload(t *testing.T, s meta.Store) {
	u := NewUpload("alice", 100)
	create(t, s, u)
	commit(t, s, u.ID, 0, meta.Part{Number: 1, Size: 100, Tag: "t"}, T0.Add(time.Hour))
	wantUsage(t, s, "alice", T0, meta.Usage{Open: 100, OpenUploads: 1})

	b := blobOf(u, T0.Add(30*24*time.Hour))
	wrong := b
	wrong.Account = "bob"
	wantErr(t, "CompleteUpload into another account's blob", s.CompleteUpload(ctx(t), u.ID, wrong), meta.ErrNotFound)
	_, err := s.Blob(ctx(t), b.ID, T0)
	wantErr(t, "Blob after a refused CompleteUpload", err, meta.ErrNotFound)
	wantUsage(t, s, "alice", T0, meta.Usage{Open: 100, OpenUploads: 1})
	wantUsage(t, s, "bob", T0, meta.Usage{})

	if err := s.CompleteUpload(ctx(t), u.ID, b); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	wantBlob(t, s, b, T0)
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 100})
	_, err = s.Upload(ctx(t), "alice", u.ID, T0)
	wantErr(t, "Upload after CompleteUpload", err, meta.ErrNotFound)

	// Again: the upload is gone, and nothing changes.
	again := blobOf(u, T0.Add(time.Hour))
	wantErr(t, "CompleteUpload again", s.CompleteUpload(ctx(t), u.ID, again), meta.ErrNotFound)
	_, err = s.Blob(ctx(t), again.ID, T0)
	wantErr(t, "Blob of the second completion", err, meta.ErrNotFound)
	wantBlob(t, s, b, T0)
	wantUsage(t, s, "alice", T0, meta.Usage{Stored: 100})
	_, us, err := s.Expired(ctx(t), T0.Add(365*24*time.Hour), 10)
	if err != nil || len(us) != 0 {
		t.Fatalf("Expired uploads after completion = %d, %v", len(us), err)
	}
}
