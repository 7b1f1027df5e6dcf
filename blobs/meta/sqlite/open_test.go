package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/meta/metatest"
	"github.com/sealpost/sealpost/blobs/meta/sqlite"
)

// TestReopen: what was committed is there after Close and Open, and
// reopening applies no migration twice.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blobs.db")
	s := open(t, path)
	u := metatest.NewUpload("alice", 100)
	if err := s.CreateUpload(t.Context(), u, meta.Limits{Quota: 1000, MaxOpenUploads: 1}, metatest.T0); err != nil {
		t.Fatal(err)
	}
	b := meta.Blob{ID: [32]byte{1}, Account: "alice", Size: 100, Digest: u.Digest, Key: u.Key, Created: metatest.T0, Expires: metatest.T0.Add(time.Hour)}
	if err := s.CompleteUpload(t.Context(), u.ID, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	got, err := s.Blob(t.Context(), b.ID, metatest.T0)
	if err != nil || got.Key != b.Key || !got.Expires.Equal(b.Expires) {
		t.Fatalf("Blob after reopening = %+v, %v", got, err)
	}
}

// TestOpenErrors: a bad path or a file that is not a database is refused
// with an error, not a panic.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("not a database, but long enough to have a header of 100 bytes: 0123456789012345678901234567890123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", "a?b", garbage, filepath.Join(dir, "missing", "blobs.db")} {
		s, err := sqlite.Open(path)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", path)
		}
	}
}
