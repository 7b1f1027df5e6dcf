package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

func (f *fixture) nonce() []byte {
	n := make([]byte, 32)
	_, _ = f.rand().Read(n)
	return n
}

func testChallenges(t *testing.T, f *fixture) {
	n1, n2 := f.nonce(), f.nonce()
	exp := f.now.Add(time.Minute)
	must(t, "PutChallenge", f.s.PutChallenge(f.ctx, n1, exp))
	must(t, "PutChallenge", f.s.PutChallenge(f.ctx, n2, exp))
	wantErr(t, "unknown challenge", f.s.UseChallenge(f.ctx, f.nonce(), f.now), store.ErrChallenge)
	wantErr(t, "prefix of a challenge", f.s.UseChallenge(f.ctx, n1[:16], f.now), store.ErrChallenge)
	must(t, "UseChallenge", f.s.UseChallenge(f.ctx, n1, f.now))
	wantErr(t, "challenge used twice", f.s.UseChallenge(f.ctx, n1, f.now), store.ErrChallenge)
	must(t, "UseChallenge of the other nonce", f.s.UseChallenge(f.ctx, n2, exp.Add(-time.Second)))
	wantErr(t, "other used twice", f.s.UseChallenge(f.ctx, n2, f.now), store.ErrChallenge)
}

func testChallengeExpired(t *testing.T, f *fixture) {
	n := f.nonce()
	exp := f.now.Add(time.Minute)
	must(t, "PutChallenge", f.s.PutChallenge(f.ctx, n, exp))
	wantErr(t, "expired challenge", f.s.UseChallenge(f.ctx, n, exp.Add(time.Second)), store.ErrChallenge)
	// An expired challenge is deleted: it stays unusable.
	wantErr(t, "challenge after expiry", f.s.UseChallenge(f.ctx, n, f.now), store.ErrChallenge)

	// Using or expiring one challenge leaves the others.
	a, b := f.nonce(), f.nonce()
	must(t, "PutChallenge", f.s.PutChallenge(f.ctx, a, f.now.Add(time.Second)))
	must(t, "PutChallenge", f.s.PutChallenge(f.ctx, b, f.now.Add(time.Hour)))
	wantErr(t, "expired challenge", f.s.UseChallenge(f.ctx, a, f.now.Add(time.Minute)), store.ErrChallenge)
	must(t, "UseChallenge of a live one", f.s.UseChallenge(f.ctx, b, f.now.Add(time.Minute)))
}

func testConcurrentChallenge(t *testing.T, f *fixture) {
	n := f.nonce()
	must(t, "PutChallenge", f.s.PutChallenge(f.ctx, n, f.now.Add(time.Minute)))
	const workers = 16
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = f.s.UseChallenge(f.ctx, n, f.now) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantErr(t, "concurrent use", err, store.ErrChallenge)
	}
	if ok != 1 {
		t.Fatalf("challenge used %d times, want 1", ok)
	}
}
