package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/sealpost/sealpost/blobs/store"
)

// errBroken is what brokenReader fails with.
var errBroken = errors.New("storetest: the body broke")

// brokenReader yields b, then errBroken.
func brokenReader(b []byte) io.Reader {
	return io.MultiReader(bytes.NewReader(b), errReader{})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

// cancelReader yields b in chunks of 16 KiB and calls cancel once it has
// yielded at bytes, then goes on: the engine must notice its context.
type cancelReader struct {
	b      []byte
	off    int
	at     int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.off >= r.at && r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	if r.off == len(r.b) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 16<<10)], r.b[r.off:])
	r.off += n
	return n, nil
}

// failPut runs PutPart of part n with r declared as size bytes and checks
// that it fails with target.
func (f *fixture) failPut(ctx context.Context, key, h string, n int, r io.Reader, size int64, target error) {
	f.t.Helper()
	p, err := f.e.PutPart(ctx, key, h, n, r, size)
	if !errors.Is(err, target) {
		f.t.Fatalf("PutPart(%q, %d) = %+v, %v; want %v", key, n, p, err, target)
	}
}

// testShortPart: a body shorter than its size stores nothing of the part;
// the upload completes with the parts before it.
func testShortPart(f *fixture) {
	a, b := content(40, 1000), content(41, 70000)
	h := f.create("short")
	p1 := f.put("short", h, 1, a)
	f.failPut(f.ctx, "short", h, 2, bytes.NewReader(b[:len(b)-1]), int64(len(b)), store.ErrShortPart)
	f.failPut(f.ctx, "short", h, 2, bytes.NewReader(nil), int64(len(b)), store.ErrShortPart)
	f.complete("short", h, p1)
	f.want("short", a)
}

// testLongPart: a body longer than its size stores nothing of the part,
// whether the extra is one byte or many.
func testLongPart(f *fixture) {
	a, b := content(42, 1000), content(43, 70001)
	h := f.create("long")
	f.failPut(f.ctx, "long", h, 1, bytes.NewReader(b), int64(len(b)-1), store.ErrShortPart)
	f.failPut(f.ctx, "long", h, 1, bytes.NewReader(b), 10, store.ErrShortPart)
	f.failPut(f.ctx, "long", h, 1, bytes.NewReader(b[:1]), 0, store.ErrShortPart)
	p1 := f.put("long", h, 1, a)
	f.failPut(f.ctx, "long", h, 2, bytes.NewReader(b), int64(len(b)-1), store.ErrShortPart)
	f.complete("long", h, p1)
	f.want("long", a)
}

// testReaderError: a body that fails midway fails PutPart with its error
// and stores nothing of the part.
func testReaderError(f *fixture) {
	a, b := content(44, 1000), content(45, 200000)
	h := f.create("broken")
	p1 := f.put("broken", h, 1, a)
	f.failPut(f.ctx, "broken", h, 2, brokenReader(b[:100000]), int64(len(b)), errBroken)
	f.failPut(f.ctx, "broken", h, 2, brokenReader(nil), int64(len(b)), errBroken)
	// An error after all size bytes, where the end should be, fails too.
	f.failPut(f.ctx, "broken", h, 2, brokenReader(b), int64(len(b)), errBroken)
	f.complete("broken", h, p1)
	f.want("broken", a)
}

// testFailedReplaceKeepsPart: a failed PutPart of a number already stored
// leaves the stored part as it was.
func testFailedReplaceKeepsPart(f *fixture) {
	a, b := content(46, 3000), content(47, 5000)
	h := f.create("keep")
	p1 := f.put("keep", h, 1, a)
	f.failPut(f.ctx, "keep", h, 1, bytes.NewReader(b[:10]), int64(len(b)), store.ErrShortPart)
	f.failPut(f.ctx, "keep", h, 1, bytes.NewReader(b), int64(len(b)-1), store.ErrShortPart)
	f.failPut(f.ctx, "keep", h, 1, brokenReader(b[:2000]), int64(len(b)), errBroken)
	f.complete("keep", h, p1)
	f.want("keep", a)
}

// testReplacePart: storing a part number again replaces it; the old tag
// no longer completes the upload.
func testReplacePart(f *fixture) {
	a, b := content(48, 1000), content(49, 2000)
	h := f.create("replace")
	old := f.put("replace", h, 1, a)
	p1 := f.put("replace", h, 1, b)
	if err := f.e.CompleteUpload(f.ctx, "replace", h, []store.Part{old}); err == nil {
		f.t.Fatal("CompleteUpload with the replaced part's tag: nil error")
	}
	f.wantNotFound("replace")
	f.complete("replace", h, p1)
	f.want("replace", b)
}

// testCancelMidPart: a context cancelled while the part streams fails
// PutPart with the context's error and stores nothing of the part.
func testCancelMidPart(f *fixture) {
	a, b := content(51, 1000), content(52, 512<<10)
	h := f.create("cancel")
	p1 := f.put("cancel", h, 1, a)
	for _, at := range []int{len(b) / 2, len(b)} {
		ctx, cancel := context.WithCancel(f.ctx)
		r := &cancelReader{b: b, at: at, cancel: cancel}
		f.failPut(ctx, "cancel", h, 2, r, int64(len(b)), context.Canceled)
		cancel()
	}
	f.complete("cancel", h, p1)
	f.want("cancel", a)
}

// testCancelledBefore: with its context already done, PutPart stores
// nothing and reads nothing.
func testCancelledBefore(f *fixture) {
	a := content(53, 1000)
	h := f.create("before")
	p1 := f.put("before", h, 1, a)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	r := bytes.NewReader(content(54, 2000))
	f.failPut(ctx, "before", h, 2, r, 2000, context.Canceled)
	f.failPut(ctx, "before", h, 1, bytes.NewReader(content(55, 2000)), 2000, context.Canceled)
	f.complete("before", h, p1)
	f.want("before", a)
}

// readAll reads rc to its end and closes it.
func readAll(rc io.ReadCloser) ([]byte, error) {
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return b, err
}
