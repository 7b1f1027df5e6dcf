package metatest

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// BenchmarkUpload measures one small upload's database work: the dedup
// lookup, CreateUpload under the quota, Lease, CommitPart of its one part
// and CompleteUpload. open returns an empty Store and closes it at b's
// cleanup.
func BenchmarkUpload(b *testing.B, open func(b *testing.B) meta.Store) {
	s := open(b)
	ctx := b.Context()
	lim := meta.Limits{Quota: 1 << 62, MaxOpenUploads: 1 << 30}
	for b.Loop() {
		u := NewUpload("alice", 4112)
		if _, err := s.FindBlob(ctx, u.Account, u.Size, u.Digest, T0); err != meta.ErrNotFound {
			b.Fatalf("FindBlob: %v", err)
		}
		if err := s.CreateUpload(ctx, u, lim, T0); err != nil {
			b.Fatal(err)
		}
		tok := rand16()
		if err := s.Lease(ctx, u.ID, 0, tok, T0.Add(10*time.Minute), T0); err != nil {
			b.Fatal(err)
		}
		if err := s.CommitPart(ctx, u.ID, tok, 0, meta.Part{Number: 1, Size: u.Size, Tag: "t"}, state(u.Size), u.Expires); err != nil {
			b.Fatal(err)
		}
		if err := s.CompleteUpload(ctx, u.ID, blobOf(u, T0.Add(30*24*time.Hour))); err != nil {
			b.Fatal(err)
		}
	}
}
