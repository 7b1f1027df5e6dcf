package fs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/blobs/store"
	blobfs "github.com/sealpost/sealpost/blobs/store/fs"
)

var ctx = context.Background()

// tree lists every file and directory under dir, relative, sorted, with
// directories ending in '/'; the lock file is left out.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." || rel == "lock" {
			return nil
		}
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// noTemps fails if any temporary file is under dir or trash is not empty.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	for _, p := range tree(t, dir) {
		if strings.Contains(p, ".tmp-") || strings.HasPrefix(p, "trash/") && p != "trash/" {
			t.Fatalf("left behind: %s (tree %q)", p, tree(t, dir))
		}
	}
}

func openDir(t *testing.T, dir string) *blobfs.Engine {
	t.Helper()
	e, err := blobfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("broken") }

// TestNoTempLeftBehind: every failed PutPart and CompleteUpload leaves no
// temporary file; a completed upload's directory holds its manifest and
// the parts it names, and has moved to objects/<key[:2]>/<key>.
func TestNoTempLeftBehind(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir)
	h, err := e.CreateUpload(ctx, "Xy_key")
	if err != nil {
		t.Fatal(err)
	}
	p1, err := e.PutPart(ctx, "Xy_key", h, 1, bytes.NewReader(make([]byte, store.MinPartSize)), store.MinPartSize)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("z"), 300000)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	fails := []struct {
		ctx  context.Context
		r    io.Reader
		size int64
	}{
		{ctx, bytes.NewReader(body[:1000]), 300000},
		{ctx, bytes.NewReader(body), 299999},
		{ctx, io.MultiReader(bytes.NewReader(body[:200000]), failing{}), 300000},
		{cctx, bytes.NewReader(body), 300000},
	}
	for i, f := range fails {
		if _, err := e.PutPart(f.ctx, "Xy_key", h, 2, f.r, f.size); err == nil {
			t.Fatalf("failing PutPart %d: nil error", i)
		}
		noTemps(t, dir)
	}
	p2, err := e.PutPart(ctx, "Xy_key", h, 2, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	// Replaced: only the new part 3 stays.
	if _, err := e.PutPart(ctx, "Xy_key", h, 3, strings.NewReader("old"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutPart(ctx, "Xy_key", h, 3, strings.NewReader("new!"), 4); err != nil {
		t.Fatal(err)
	}
	upload := "uploads/Xy_key." + h + "/"
	want := []string{"objects/", "trash/", "uploads/", upload,
		upload + "00001-" + p1.Tag, upload + "00002-" + p2.Tag}
	got := tree(t, dir)
	if len(got) != len(want)+1 || !strings.HasPrefix(got[len(got)-1], upload+"00003-") {
		t.Fatalf("tree %q, want %q and one part 3", got, want)
	}
	wrongSize := p2
	wrongSize.Size++
	if err := e.CompleteUpload(ctx, "Xy_key", h, []store.Part{p1, wrongSize}); err == nil {
		t.Fatal("CompleteUpload with a wrong part size: nil error")
	}
	noTemps(t, dir)
	if err := e.CompleteUpload(ctx, "Xy_key", h, []store.Part{p1, p2}); err != nil {
		t.Fatal(err)
	}
	blob := "objects/Xy/Xy_key/"
	want = []string{"objects/", "objects/Xy/", blob, blob + "00001-" + p1.Tag, blob + "00002-" + p2.Tag, blob + "manifest", "trash/", "uploads/"}
	if got := tree(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after completion: tree %q, want %q", got, want)
	}
	if err := e.Delete(ctx, "Xy_key"); err != nil {
		t.Fatal(err)
	}
	want = []string{"objects/", "objects/Xy/", "trash/", "uploads/"}
	if got := tree(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after delete: tree %q, want %q", got, want)
	}
}

// TestKeysStayInside: bad keys, handles and tags, paths among them, touch
// nothing inside or outside the directory.
func TestKeysStayInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "blobs")
	e := openDir(t, dir)
	h, err := e.CreateUpload(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	before := tree(t, parent)
	for _, key := range []string{"../a", "../../etc", "a/../../b", "..", "/tmp/x", "a\x00"} {
		if _, err := e.CreateUpload(ctx, key); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("CreateUpload(%q): %v", key, err)
		}
		if _, err := e.PutPart(ctx, key, h, 1, strings.NewReader("x"), 1); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("PutPart(%q): %v", key, err)
		}
		if err := e.Delete(ctx, key); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	}
	for _, handle := range []string{"../a", "../../objects", h + "/..", strings.ToUpper(h), ""} {
		if _, err := e.PutPart(ctx, "a", handle, 1, strings.NewReader("x"), 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PutPart(handle %q): %v", handle, err)
		}
		if err := e.AbortUpload(ctx, "a", handle); err != nil {
			t.Fatalf("AbortUpload(handle %q): %v", handle, err)
		}
	}
	for _, tag := range []string{"../../x", "0123456789abcdef/..", "0123456789ABCDEF"} {
		if err := e.CompleteUpload(ctx, "a", h, []store.Part{{Number: 1, Size: 1, Tag: tag}}); err == nil {
			t.Fatalf("CompleteUpload(tag %q): nil error", tag)
		}
	}
	if after := tree(t, parent); !slices.Equal(after, before) {
		t.Fatalf("tree changed:\n%q\n%q", before, after)
	}
}

// TestReopen: parts and blobs survive closing the engine; a second engine
// on the directory is refused while the first is open.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	e, err := blobfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e2, err := blobfs.Open(dir); err == nil {
		e2.Close()
		t.Fatal("a second engine opened the directory")
	}
	h, err := e.CreateUpload(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.PutPart(ctx, "kept", h, 1, strings.NewReader("durable"), 7)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := e.Size(ctx, "kept"); err == nil {
		t.Fatal("Size on a closed engine: nil error")
	}
	e = openDir(t, dir)
	if err := e.CompleteUpload(ctx, "kept", h, []store.Part{p}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openDir(t, dir)
	rc, err := e.Open(ctx, "kept", 0, 7)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "durable" {
		t.Fatalf("after reopen: %q", got)
	}
}

// TestStartupCleanup: Open removes temporary files, trash, and an upload
// directory holding another upload's blob, and nothing else.
func TestStartupCleanup(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir)
	h, err := e.CreateUpload(ctx, "open1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.PutPart(ctx, "open1", h, 1, strings.NewReader("part"), 4)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := e.CreateUpload(ctx, "done1")
	p2, _ := e.PutPart(ctx, "done1", h2, 1, strings.NewReader("blob"), 4)
	if err := e.CompleteUpload(ctx, "done1", h2, []store.Part{p2}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	clean := tree(t, dir)
	write := func(rel, s string) {
		t.Helper()
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("uploads/open1."+h+"/.tmp-0011223344556677", "half a part")
	write("objects/do/done1/.tmp-8899aabbccddeeff", "half a manifest")
	write("trash/0123/00001-0123456789abcdef", "deleted")
	// The old side of a replacement: another handle's manifest.
	old, err := os.ReadFile(filepath.Join(dir, "objects/do/done1/manifest"))
	if err != nil {
		t.Fatal(err)
	}
	write("uploads/done1.ffffffffffffffffffffffffffffffff/manifest", string(old))
	e = openDir(t, dir)
	if got := tree(t, dir); !slices.Equal(got, clean) {
		t.Fatalf("after cleanup:\n%q\nwant\n%q", got, clean)
	}
	if err := e.CompleteUpload(ctx, "open1", h, []store.Part{p}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Size(ctx, "done1"); err != nil || n != 4 {
		t.Fatalf("Size(done1) = %d, %v", n, err)
	}
}

// TestCorruptManifest: a damaged manifest is an error, never a panic nor
// a wrong size.
func TestCorruptManifest(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir)
	h, _ := e.CreateUpload(ctx, "bad")
	p, _ := e.PutPart(ctx, "bad", h, 1, strings.NewReader("12345"), 5)
	if err := e.CompleteUpload(ctx, "bad", h, []store.Part{p}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "objects/ba/bad/manifest")
	good, _ := os.ReadFile(path)
	for _, m := range []string{
		"", "sealpost-blob 1\n", strings.Replace(string(good), "size 5", "size 6", 1),
		strings.Replace(string(good), "part 00001-", "part ../../", 1),
		strings.TrimSuffix(string(good), "\n"),
		strings.Replace(string(good), " 5\n", " -5\n", 1),
	} {
		if err := os.WriteFile(path, []byte(m), 0o600); err != nil {
			t.Fatal(err)
		}
		if n, err := e.Size(ctx, "bad"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("manifest %q: Size = %d, %v", m, n, err)
		}
	}
}

// TestReadWhileReplaced: a reader opened before the blob is replaced or
// deleted yields the old bytes or an error, never the new bytes.
func TestReadWhileReplaced(t *testing.T) {
	e := openDir(t, t.TempDir())
	put := func(b []byte) {
		t.Helper()
		h, _ := e.CreateUpload(ctx, "r")
		var parts []store.Part
		for n := 1; len(b) > 0; n++ {
			size := min(len(b), store.MinPartSize)
			p, err := e.PutPart(ctx, "r", h, n, bytes.NewReader(b[:size]), int64(size))
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
			b = b[size:]
		}
		if err := e.CompleteUpload(ctx, "r", h, parts); err != nil {
			t.Fatal(err)
		}
	}
	old := bytes.Repeat([]byte("o"), store.MinPartSize+10)
	put(old)
	for _, change := range []func(){
		func() { put(bytes.Repeat([]byte("n"), store.MinPartSize+10)) },
		func() { e.Delete(ctx, "r") },
	} {
		rc, err := e.Open(ctx, "r", 0, int64(len(old)))
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, 100)
		if _, err := io.ReadFull(rc, first); err != nil {
			t.Fatal(err)
		}
		change()
		rest, err := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(first, old[:100]) || !bytes.Equal(rest, old[100:100+len(rest)]) {
			t.Fatal("a reader saw bytes of the replacing blob")
		}
		if err == nil && len(rest) != len(old)-100 {
			t.Fatalf("read %d bytes and no error", len(rest))
		}
		put(old)
	}
}
