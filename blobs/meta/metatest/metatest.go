// Package metatest is the conformance suite of meta.Store: every
// implementation (sqlite, postgres) calls Run in one line. The tests pass
// explicit times (a fixed clock from T0), so nothing sleeps.
package metatest

import (
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// T0 is the suite's clock: every test's now is T0 plus a few seconds.
var T0 = time.Unix(1_800_000_000, 0).UTC()

// Run runs the suite, each test on a Store of its own: open returns an
// empty Store and closes it at t's cleanup.
func Run(t *testing.T, open func(t *testing.T) meta.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"CreateUploadQuota", testCreateUploadQuota},
		{"MaxOpenUploads", testMaxOpenUploads},
		{"ExpiredDoNotCount", testExpiredDoNotCount},
		{"QuotaRace", func(t *testing.T, s meta.Store) { QuotaRace(t, s) }},
		{"FindBlob", testFindBlob},
		{"ExtendBlob", testExtendBlob},
		{"UploadNotFound", testUploadNotFound},
		{"Lease", testLease},
		{"Release", testRelease},
		{"ReleaseNode", testReleaseNode},
		{"CommitPart", testCommitPart},
		{"CommitPartLostLease", testCommitPartLostLease},
		{"CompleteUpload", testCompleteUpload},
		{"BlobExpiry", testBlobExpiry},
		{"Expired", testExpired},
		{"ExpiredLeased", testExpiredLeased},
		{"Delete", testDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

// NewUpload returns an upload of account with size bytes, a random id and
// digest, created at T0 and expiring a day later.
func NewUpload(account string, size int64) meta.Upload {
	return meta.Upload{
		ID:        rand32(),
		Account:   account,
		Size:      size,
		Digest:    rand32(),
		PartSize:  5 << 20,
		Key:       "k" + rand.Text(),
		Handle:    "h" + rand.Text(),
		HashState: []byte("initial"),
		Created:   T0,
		Expires:   T0.Add(24 * time.Hour),
	}
}

// blobOf returns the blob that u completes into.
func blobOf(u meta.Upload, expires time.Time) meta.Blob {
	return meta.Blob{ID: rand32(), Account: u.Account, Size: u.Size, Digest: u.Digest, Key: u.Key, Created: T0, Expires: expires}
}

func rand32() (b [32]byte) {
	rand.Read(b[:])
	return b
}

func rand16() (b [16]byte) {
	rand.Read(b[:])
	return b
}

var bigLimits = meta.Limits{Quota: 1 << 40, MaxOpenUploads: 1000}

// create records u under bigLimits.
func create(t *testing.T, s meta.Store, u meta.Upload) {
	t.Helper()
	if err := s.CreateUpload(t.Context(), u, bigLimits, T0); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
}

// store makes a complete blob of account with size bytes expiring at
// expires, through an upload.
func store(t *testing.T, s meta.Store, account string, size int64, expires time.Time) meta.Blob {
	t.Helper()
	u := NewUpload(account, size)
	create(t, s, u)
	b := blobOf(u, expires)
	if err := s.CompleteUpload(t.Context(), u.ID, b); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	return b
}

// usage returns account's usage at now.
func usage(t *testing.T, s meta.Store, account string, now time.Time) meta.Usage {
	t.Helper()
	u, err := s.Usage(t.Context(), account, now)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	return u
}

// wantUsage checks account's usage at now.
func wantUsage(t *testing.T, s meta.Store, account string, now time.Time, want meta.Usage) {
	t.Helper()
	if got := usage(t, s, account, now); got != want {
		t.Fatalf("usage of %s = %+v, want %+v", account, got, want)
	}
}

// getUpload returns account's upload id at now, failing the test if it is
// not found.
func getUpload(t *testing.T, s meta.Store, account string, id [32]byte, now time.Time) meta.Upload {
	t.Helper()
	u, err := s.Upload(t.Context(), account, id, now)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return u
}

// wantUpload checks that the stored upload equals want.
func wantUpload(t *testing.T, s meta.Store, want meta.Upload, now time.Time) {
	t.Helper()
	got := getUpload(t, s, want.Account, want.ID, now)
	if !sameUpload(got, want) {
		t.Fatalf("upload = %+v\nwant %+v", got, want)
	}
}

// sameUpload compares uploads, times by instant and nil and empty slices
// alike.
func sameUpload(a, b meta.Upload) bool {
	if !a.Created.Equal(b.Created) || !a.Expires.Equal(b.Expires) {
		return false
	}
	a.Created, a.Expires, b.Created, b.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(a.Parts) == 0 && len(b.Parts) == 0 {
		a.Parts, b.Parts = nil, nil
	}
	if len(a.HashState) == 0 && len(b.HashState) == 0 {
		a.HashState, b.HashState = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// sameBlob compares blobs, times by instant.
func sameBlob(a, b meta.Blob) bool {
	if !a.Created.Equal(b.Created) || !a.Expires.Equal(b.Expires) {
		return false
	}
	a.Created, a.Expires, b.Created, b.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// wantBlob checks that blob id is found at now and equals want.
func wantBlob(t *testing.T, s meta.Store, want meta.Blob, now time.Time) {
	t.Helper()
	got, err := s.Blob(t.Context(), want.ID, now)
	if err != nil {
		t.Fatalf("Blob: %v", err)
	}
	if !sameBlob(got, want) {
		t.Fatalf("blob = %+v\nwant %+v", got, want)
	}
}

// wantErr checks that err is want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// ctx is a short name for the tests' context.
func ctx(t *testing.T) context.Context { return t.Context() }
