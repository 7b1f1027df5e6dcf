package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store"
)

// TestGroupedClaimsMixed runs claims for an unknown handle and for two
// accounts side by side, so that grouped transactions hold all three kinds:
// each unknown handle gets ErrNotFound alone, the others their own keys,
// each key once.
func TestGroupedClaimsMixed(t *testing.T) {
	s := open(t, pgtest.DSN(t))
	ctx := t.Context()
	const keys = 100
	for _, h := range []string{"alice", "bob"} {
		must(t, "create", err2(create(ctx, s, h)))
		up := store.Upload{Handle: h, Device: 1, MaxOneTime: keys,
			Signed:     &store.Prekey{ID: 1, Encoded: []byte("signed " + h)},
			LastResort: &store.Prekey{ID: 2, Encoded: []byte("last resort " + h)}}
		for i := range keys {
			up.OneTime = append(up.OneTime, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(nil, "%s x%d", h, i)})
			up.OneTimeKEM = append(up.OneTimeKEM, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(nil, "%s k%d", h, i)})
		}
		must(t, "upload", s.UploadPrekeys(ctx, up))
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]int{}
	)
	for g := range 48 {
		wg.Go(func() {
			h := []string{"alice", "bob", "nobody"}[g%3]
			for range keys / 8 {
				cs, err := s.ClaimPrekeys(ctx, h)
				if h == "nobody" {
					if !errors.Is(err, store.ErrNotFound) || cs != nil {
						t.Errorf("unknown handle: %v, %d claims", err, len(cs))
					}
					continue
				}
				if err != nil || len(cs) != 1 || string(cs[0].Signed) != "signed "+h {
					t.Errorf("claim %s: %v, %d claims", h, err, len(cs))
					return
				}
				mu.Lock()
				seen[string(cs[0].OneTime)]++
				seen[string(cs[0].KEM)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// 16 claimers per account, 12 claims each: 192 claims for 100 keys of
	// each kind, so each account runs dry and then falls back.
	for k, n := range seen {
		if k == "" || k == "last resort alice" || k == "last resort bob" {
			continue
		}
		if n != 1 {
			t.Errorf("prekey %q handed out %d times", k, n)
		}
	}
	for _, h := range []string{"alice", "bob"} {
		if c, err := s.CountPrekeys(ctx, h, 1); err != nil || c != (store.Counts{}) {
			t.Errorf("%s: counts %+v, %v", h, c, err)
		}
		// 192 claims, 100 one-time KEM keys: 92 fell back.
		if n := seen["last resort "+h]; n != 16*(keys/8)-keys {
			t.Errorf("%s: %d fallback claims, want %d", h, n, 16*(keys/8)-keys)
		}
	}
}
