package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/sealpost/sealpost/blobs/store"
)

// minPart is store.MinPartSize as an int.
const minPart = store.MinPartSize

// testLifecycle: create, three parts, complete, read the whole and
// ranges at and across part boundaries, delete; the blob is not found
// before the upload completes nor after the delete.
func testLifecycle(f *fixture) {
	b := content(1, 2*minPart+1000)
	h := f.create("blob1")
	p1 := f.put("blob1", h, 1, b[:minPart])
	f.wantNotFound("blob1")
	p2 := f.put("blob1", h, 2, b[minPart:2*minPart])
	p3 := f.put("blob1", h, 3, b[2*minPart:])
	f.wantNotFound("blob1")
	f.complete("blob1", h, p1, p2, p3)
	f.want("blob1", b)
	n := int64(len(b))
	for _, r := range []struct{ off, length int64 }{
		{0, 0}, {0, 1}, {123, 456},
		{minPart - 1, 2}, {minPart - 10, minPart + 20}, {minPart, 1000},
		{2*minPart - 1, 1001}, {2 * minPart, 1000}, {n - 1, 1}, {n, 0},
	} {
		got := f.read("blob1", r.off, r.length)
		if !bytes.Equal(got, b[r.off:r.off+r.length]) {
			f.t.Fatalf("Open(%d, %d): %d bytes, not the blob's", r.off, r.length, len(got))
		}
	}
	if err := f.e.Delete(f.ctx, "blob1"); err != nil {
		f.t.Fatalf("Delete: %v", err)
	}
	f.wantNotFound("blob1")
}

// testSinglePart: a blob of one part of any size, even under MinPartSize;
// the part numbers need not start at 1 nor be contiguous.
func testSinglePart(f *fixture) {
	for i, size := range []int{1, 4096, 70000} {
		key := fmt.Sprintf("single%d", i)
		b := content(uint64(10+i), size)
		h := f.create(key)
		p := f.put(key, h, 7, b)
		f.complete(key, h, p)
		f.want(key, b)
	}
}

// testRangeRefused: a range outside the blob is ErrRange, and the blob is
// still there.
func testRangeRefused(f *fixture) {
	b := content(3, 100)
	f.upload("short", b)
	for _, r := range []struct{ off, length int64 }{
		{101, 0}, {100, 1}, {0, 101}, {50, 51}, {99, 2}, {-1, 1}, {0, -1},
		{math.MaxInt64, 1}, {1, math.MaxInt64}, {math.MaxInt64, math.MaxInt64},
	} {
		rc, err := f.e.Open(f.ctx, "short", r.off, r.length)
		if err == nil {
			rc.Close()
		}
		f.wantErr(fmt.Sprintf("Open(%d, %d) of 100 bytes", r.off, r.length), err, store.ErrRange)
	}
	f.want("short", b)
}

// testNotFound: a key never stored is ErrNotFound.
func testNotFound(f *fixture) {
	f.wantNotFound("nothing")
	f.upload("something", content(4, 10))
	f.wantNotFound("nothing")
	f.wantNotFound("somethin")
}

// badKeys are keys outside [A-Za-z0-9_-]{1,128}, some of them paths.
var badKeys = []string{
	"", "a/b", "../x", "..", ".", "a.b", "a b", "é", "a\x00b", "/abs", `a\b`,
	strings.Repeat("a", store.MaxKeySize+1),
}

// testInvalidArguments: every method refuses a bad key with ErrInvalid,
// and bad part numbers and sizes; nothing is stored by them. Edge keys
// work.
func testInvalidArguments(f *fixture) {
	h := f.create("good")
	p := f.put("good", h, 1, []byte("abc"))
	for _, key := range badKeys {
		what := fmt.Sprintf("key %q: ", key)
		_, err := f.e.CreateUpload(f.ctx, key)
		f.wantErr(what+"CreateUpload", err, store.ErrInvalid)
		_, err = f.e.PutPart(f.ctx, key, h, 1, strings.NewReader("x"), 1)
		f.wantErr(what+"PutPart", err, store.ErrInvalid)
		err = f.e.CompleteUpload(f.ctx, key, h, []store.Part{p})
		f.wantErr(what+"CompleteUpload", err, store.ErrInvalid)
		err = f.e.AbortUpload(f.ctx, key, h)
		f.wantErr(what+"AbortUpload", err, store.ErrInvalid)
		_, err = f.e.Size(f.ctx, key)
		f.wantErr(what+"Size", err, store.ErrInvalid)
		rc, err := f.e.Open(f.ctx, key, 0, 1)
		if err == nil {
			rc.Close()
		}
		f.wantErr(what+"Open", err, store.ErrInvalid)
		f.wantErr(what+"Delete", f.e.Delete(f.ctx, key), store.ErrInvalid)
	}
	for _, n := range []int{0, -1, store.MaxParts + 1, math.MaxInt} {
		_, err := f.e.PutPart(f.ctx, "good", h, n, strings.NewReader("x"), 1)
		f.wantErr(fmt.Sprintf("PutPart number %d", n), err, store.ErrInvalid)
	}
	_, err := f.e.PutPart(f.ctx, "good", h, 2, strings.NewReader(""), -1)
	f.wantErr("PutPart size -1", err, store.ErrInvalid)
	f.complete("good", h, p)
	f.want("good", []byte("abc"))
	for i, key := range []string{"a", strings.Repeat("Z", store.MaxKeySize), "-_-", "_", "0"} {
		b := content(uint64(20+i), 10)
		f.upload(key, b)
		f.want(key, b)
	}
}

// testBadPartList: part lists CheckParts refuses are ErrInvalid; lists
// naming parts the upload does not hold fail; none of them makes the
// blob readable, and the upload still completes with a right list.
func testBadPartList(f *fixture) {
	b := content(5, minPart+200)
	h := f.create("parts")
	p1 := f.put("parts", h, 1, b[:minPart])
	p2 := f.put("parts", h, 2, b[minPart:minPart+100])
	p3 := f.put("parts", h, 3, b[minPart+100:])
	noTag := p1
	noTag.Tag = ""
	for _, c := range []struct {
		name  string
		parts []store.Part
	}{
		{"empty", nil},
		{"descending", []store.Part{p2, p1}},
		{"duplicate", []store.Part{p1, p1, p2}},
		{"small non-last part", []store.Part{p2, p3}},
		{"no tag", []store.Part{noTag}},
		{"number 0", []store.Part{{Number: 0, Size: 1, Tag: p1.Tag}}},
	} {
		err := f.e.CompleteUpload(f.ctx, "parts", h, c.parts)
		f.wantErr("CompleteUpload "+c.name, err, store.ErrInvalid)
		f.wantNotFound("parts")
	}
	for _, c := range []struct {
		name  string
		parts []store.Part
	}{
		{"part not uploaded", []store.Part{p1, {Number: 4, Size: 100, Tag: p2.Tag}}},
		{"wrong tag", []store.Part{p1, {Number: 2, Size: 100, Tag: p3.Tag + "0"}}},
	} {
		if err := f.e.CompleteUpload(f.ctx, "parts", h, c.parts); err == nil {
			f.t.Fatalf("CompleteUpload %s: nil error", c.name)
		}
		f.wantNotFound("parts")
	}
	// Parts need not be contiguous: p2 is left out.
	f.complete("parts", h, p1, p3)
	f.want("parts", append(append([]byte(nil), b[:minPart]...), b[minPart+100:]...))
}

// testCompleteAtomic: while an upload completes, a reader sees the key not
// found or the whole blob, nothing in between.
func testCompleteAtomic(f *fixture) {
	b := content(6, minPart+3000)
	h := f.create("atomic")
	p1 := f.put("atomic", h, 1, b[:minPart])
	p2 := f.put("atomic", h, 2, b[minPart:])
	done := make(chan struct{})
	var wg sync.WaitGroup
	var seen, whole int
	var bad error
	wg.Go(func() {
		for last := false; !last; {
			select {
			case <-done:
				last = true
			default:
			}
			seen++
			size, err := f.e.Size(f.ctx, "atomic")
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil || size != int64(len(b)) {
				bad = fmt.Errorf("during completion, Size: %d, %v", size, err)
				return
			}
			rc, err := f.e.Open(f.ctx, "atomic", 0, size)
			if err != nil {
				bad = fmt.Errorf("during completion, Open: %v", err)
				return
			}
			got, err := readAll(rc)
			if err != nil || !bytes.Equal(got, b) {
				bad = fmt.Errorf("read during completion: %d bytes, %v", len(got), err)
				return
			}
			whole++
		}
	})
	f.complete("atomic", h, p1, p2)
	close(done)
	wg.Wait()
	if bad != nil {
		f.t.Fatal(bad)
	}
	if whole == 0 {
		f.t.Fatalf("the reader never saw the blob after completion (%d looks)", seen)
	}
	f.want("atomic", b)
}

// testCompleteIdempotent: completing again, even after an abort of the
// completed handle, returns nil and changes nothing.
func testCompleteIdempotent(f *fixture) {
	b := content(7, 3000)
	h := f.create("twice")
	p1 := f.put("twice", h, 1, b)
	f.complete("twice", h, p1)
	f.complete("twice", h, p1)
	f.want("twice", b)
	if err := f.e.AbortUpload(f.ctx, "twice", h); err != nil {
		f.t.Fatalf("AbortUpload of a completed upload: %v", err)
	}
	f.want("twice", b)
	f.complete("twice", h, p1)
	f.want("twice", b)
}

// testAbort: an aborted upload's handle is gone for every method but
// AbortUpload, which returns nil again; nothing became readable.
func testAbort(f *fixture) {
	h := f.create("aborted")
	p1 := f.put("aborted", h, 1, content(8, 1000))
	if err := f.e.AbortUpload(f.ctx, "aborted", h); err != nil {
		f.t.Fatalf("AbortUpload: %v", err)
	}
	f.wantNotFound("aborted")
	_, err := f.e.PutPart(f.ctx, "aborted", h, 2, strings.NewReader("x"), 1)
	f.wantErr("PutPart after abort", err, store.ErrNotFound)
	f.wantErr("CompleteUpload after abort", f.e.CompleteUpload(f.ctx, "aborted", h, []store.Part{p1}), store.ErrNotFound)
	if err := f.e.AbortUpload(f.ctx, "aborted", h); err != nil {
		f.t.Fatalf("AbortUpload again: %v", err)
	}
	f.wantNotFound("aborted")
	// A new upload to the key works.
	b := content(9, 500)
	f.upload("aborted", b)
	f.want("aborted", b)
}

// testAbortUnknown: aborting handles the engine never gave is nil, and
// touches no other upload.
func testAbortUnknown(f *fixture) {
	h := f.create("other")
	p := f.put("other", h, 1, []byte("kept"))
	for _, bogus := range []string{"unknown", "0123456789abcdef0123456789abcdef", h + "0", "../other"} {
		if err := f.e.AbortUpload(f.ctx, "nokey", bogus); err != nil {
			f.t.Fatalf("AbortUpload(%q): %v", bogus, err)
		}
		if err := f.e.AbortUpload(f.ctx, "other", bogus); err != nil {
			f.t.Fatalf("AbortUpload(other, %q): %v", bogus, err)
		}
	}
	f.complete("other", h, p)
	f.want("other", []byte("kept"))
}

// testHandleOfOtherKey: a handle works only with its own key.
func testHandleOfOtherKey(f *fixture) {
	h := f.create("mine")
	p := f.put("mine", h, 1, []byte("mine"))
	_, err := f.e.PutPart(f.ctx, "theirs", h, 2, strings.NewReader("x"), 1)
	f.wantErr("PutPart with another key", err, store.ErrNotFound)
	f.wantErr("CompleteUpload with another key", f.e.CompleteUpload(f.ctx, "theirs", h, []store.Part{p}), store.ErrNotFound)
	f.wantNotFound("theirs")
	if err := f.e.AbortUpload(f.ctx, "theirs", h); err != nil {
		f.t.Fatalf("AbortUpload with another key: %v", err)
	}
	f.complete("mine", h, p)
	f.want("mine", []byte("mine"))
	f.wantNotFound("theirs")
}

// testDelete: deleting an absent key is nil; a delete removes its key
// only.
func testDelete(f *fixture) {
	if err := f.e.Delete(f.ctx, "absent"); err != nil {
		f.t.Fatalf("Delete(absent): %v", err)
	}
	a, b := content(10, 300), content(11, 400)
	f.upload("del1", a)
	f.upload("del2", b)
	for range 2 {
		if err := f.e.Delete(f.ctx, "del1"); err != nil {
			f.t.Fatalf("Delete: %v", err)
		}
		f.wantNotFound("del1")
	}
	f.want("del2", b)
}

// testOverwrite: completing a new upload into a stored key replaces the
// blob, larger or smaller.
func testOverwrite(f *fixture) {
	for i, size := range []int{100, 70000, 60} {
		b := content(uint64(30+i), size)
		f.upload("over", b)
		f.want("over", b)
	}
}
