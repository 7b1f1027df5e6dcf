// Package storetest is the conformance suite every store.Engine runs: an
// engine's test calls Run in one line, and the same cases then hold for the
// file system and S3 alike (spec/attachments.md §5). Bench measures an
// engine's part upload and read throughput the same way.
//
// The suite knows only the store.Engine interface and these conventions:
//   - Open's fresh engines share nothing: each case writes keys of its own
//     on an empty engine.
//   - A failed PutPart keeps nothing of its part: completing with the parts
//     stored before gives exactly their bytes.
//   - Two uploads completed into one key leave one of them readable whole.
//   - An error the interface names matches its sentinel with errors.Is.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/sealpost/sealpost/blobs/store"
)

// Run runs the conformance suite. open must return a new, empty engine each
// time it is called and arrange for it to be closed with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Engine) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(f *fixture)
	}{
		{"Lifecycle", testLifecycle},
		{"SinglePart", testSinglePart},
		{"RangeRefused", testRangeRefused},
		{"NotFound", testNotFound},
		{"InvalidArguments", testInvalidArguments},
		{"BadPartList", testBadPartList},
		{"ShortPart", testShortPart},
		{"LongPart", testLongPart},
		{"ReaderError", testReaderError},
		{"FailedReplaceKeepsPart", testFailedReplaceKeepsPart},
		{"ReplacePart", testReplacePart},
		{"CompleteAtomic", testCompleteAtomic},
		{"CompleteIdempotent", testCompleteIdempotent},
		{"Abort", testAbort},
		{"AbortUnknown", testAbortUnknown},
		{"HandleOfOtherKey", testHandleOfOtherKey},
		{"CancelMidPart", testCancelMidPart},
		{"CancelledBefore", testCancelledBefore},
		{"Delete", testDelete},
		{"Overwrite", testOverwrite},
		{"ConcurrentKeys", testConcurrentKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(&fixture{t: t, e: open(t), ctx: context.Background()})
		})
	}
}

// fixture is one case's engine with helpers that fail the test.
type fixture struct {
	t   *testing.T
	e   store.Engine
	ctx context.Context
}

// content returns n bytes that depend on seed: distinct seeds give
// distinct contents, so a mix of two is seen.
func content(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	return b
}

func (f *fixture) create(key string) string {
	f.t.Helper()
	h, err := f.e.CreateUpload(f.ctx, key)
	if err != nil {
		f.t.Fatalf("CreateUpload(%q): %v", key, err)
	}
	if h == "" {
		f.t.Fatalf("CreateUpload(%q): empty handle", key)
	}
	return h
}

func (f *fixture) put(key, h string, n int, b []byte) store.Part {
	f.t.Helper()
	p, err := f.e.PutPart(f.ctx, key, h, n, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		f.t.Fatalf("PutPart(%q, %d, %d bytes): %v", key, n, len(b), err)
	}
	if p.Number != n || p.Size != int64(len(b)) || p.Tag == "" {
		f.t.Fatalf("PutPart(%q, %d, %d bytes) = %+v", key, n, len(b), p)
	}
	return p
}

func (f *fixture) complete(key, h string, parts ...store.Part) {
	f.t.Helper()
	if err := f.e.CompleteUpload(f.ctx, key, h, parts); err != nil {
		f.t.Fatalf("CompleteUpload(%q, %d parts): %v", key, len(parts), err)
	}
}

// upload stores b under key as parts of MinPartSize and a last part.
func (f *fixture) upload(key string, b []byte) {
	f.t.Helper()
	h := f.create(key)
	var parts []store.Part
	for n := 1; ; n++ {
		size := min(len(b), store.MinPartSize)
		parts = append(parts, f.put(key, h, n, b[:size]))
		b = b[size:]
		if len(b) == 0 {
			break
		}
	}
	f.complete(key, h, parts...)
}

// read returns length bytes of key from off.
func (f *fixture) read(key string, off, length int64) []byte {
	f.t.Helper()
	rc, err := f.e.Open(f.ctx, key, off, length)
	if err != nil {
		f.t.Fatalf("Open(%q, %d, %d): %v", key, off, length, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		f.t.Fatalf("Open(%q, %d, %d): reading: %v", key, off, length, err)
	}
	return got
}

// want checks that key holds exactly b: its Size, and all of it read.
func (f *fixture) want(key string, b []byte) {
	f.t.Helper()
	size, err := f.e.Size(f.ctx, key)
	if err != nil {
		f.t.Fatalf("Size(%q): %v", key, err)
	}
	if size != int64(len(b)) {
		f.t.Fatalf("Size(%q) = %d, want %d", key, size, len(b))
	}
	if got := f.read(key, 0, size); !bytes.Equal(got, b) {
		f.t.Fatalf("Open(%q): %d bytes differ from the %d stored", key, len(got), len(b))
	}
}

// wantNotFound checks that Size and Open of key are ErrNotFound.
func (f *fixture) wantNotFound(key string) {
	f.t.Helper()
	if size, err := f.e.Size(f.ctx, key); !errors.Is(err, store.ErrNotFound) {
		f.t.Fatalf("Size(%q) = %d, %v; want ErrNotFound", key, size, err)
	}
	rc, err := f.e.Open(f.ctx, key, 0, 1)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, store.ErrNotFound) {
		f.t.Fatalf("Open(%q) = %v; want ErrNotFound", key, err)
	}
}

// wantErr fails unless err matches target.
func (f *fixture) wantErr(what string, err, target error) {
	f.t.Helper()
	if !errors.Is(err, target) {
		f.t.Fatalf("%s: %v, want %v", what, err, target)
	}
}
