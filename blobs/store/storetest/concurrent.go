package storetest

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/sealpost/sealpost/blobs/store"
)

// testConcurrentKeys: uploads to different keys at once each store their
// own bytes.
func testConcurrentKeys(f *fixture) {
	const n = 8
	blobs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		blobs[i] = content(uint64(60+i), 64<<10+i)
		wg.Go(func() { errs[i] = uploadOnce(f, fmt.Sprintf("conc%d", i), blobs[i], 16<<10) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			f.t.Fatalf("upload %d: %v", i, errs[i])
		}
		f.want(fmt.Sprintf("conc%d", i), blobs[i])
	}
}

// uploadOnce stores b under key with its last part of lastSize bytes and
// the rest in parts of MinPartSize (or one part if b is shorter), without
// failing the test: it runs on other goroutines.
func uploadOnce(f *fixture, key string, b []byte, lastSize int) error {
	h, err := f.e.CreateUpload(f.ctx, key)
	if err != nil {
		return err
	}
	parts, err := putAll(f, key, h, b, lastSize)
	if err != nil {
		return err
	}
	return f.e.CompleteUpload(f.ctx, key, h, parts)
}

func putAll(f *fixture, key, h string, b []byte, lastSize int) ([]store.Part, error) {
	var parts []store.Part
	body := b[:len(b)-lastSize]
	if len(b) < minPart+lastSize {
		body = nil
	}
	for n := 1; len(body) > 0; n++ {
		size := min(len(body), minPart)
		p, err := f.e.PutPart(f.ctx, key, h, n, bytes.NewReader(body[:size]), int64(size))
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
		body = body[size:]
	}
	last := b[len(b)-lastSize:]
	if len(b) < minPart+lastSize {
		last = b
	}
	p, err := f.e.PutPart(f.ctx, key, h, len(parts)+1, bytes.NewReader(last), int64(len(last)))
	if err != nil {
		return nil, err
	}
	return append(parts, p), nil
}

// testConcurrentSameKey: two uploads to one key completing at once leave
// one of them readable, whole, never a mix; the first round on an empty
// key, the second replacing a blob.
func testConcurrentSameKey(f *fixture) {
	for round := range 2 {
		a := content(uint64(70+2*round), minPart+1000)
		b := content(uint64(71+2*round), minPart+2000)
		var ha, hb string
		var pa, pb []store.Part
		var err error
		ha = f.create("same")
		hb = f.create("same")
		if pa, err = putAll(f, "same", ha, a, 1000); err != nil {
			f.t.Fatal(err)
		}
		if pb, err = putAll(f, "same", hb, b, 2000); err != nil {
			f.t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() { <-start; errA = f.e.CompleteUpload(f.ctx, "same", ha, pa) })
		wg.Go(func() { <-start; errB = f.e.CompleteUpload(f.ctx, "same", hb, pb) })
		close(start)
		wg.Wait()
		if errA != nil && errB != nil {
			f.t.Fatalf("round %d: both completions failed: %v; %v", round, errA, errB)
		}
		size, err := f.e.Size(f.ctx, "same")
		if err != nil {
			f.t.Fatalf("round %d: Size: %v", round, err)
		}
		got := f.read("same", 0, size)
		switch {
		case bytes.Equal(got, a) && errA == nil:
		case bytes.Equal(got, b) && errB == nil:
		default:
			f.t.Fatalf("round %d: the key holds %d bytes that are neither upload completed (errors %v, %v)", round, len(got), errA, errB)
		}
	}
}
