package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
)

// Two Store instances on one schema stand for two key server processes
// sharing a database: each has its own pool, so nothing in Go serialises
// them and only the database's locks keep them apart.

func openPair(t *testing.T) (*postgres.Store, *postgres.Store) {
	t.Helper()
	dsn := pgtest.DSN(t)
	return open(t, dsn), open(t, dsn)
}

var now = time.Unix(1_800_000_000, 0).UTC()

func create(ctx context.Context, s store.Store, handle string) (int64, error) {
	return s.UpdateKeySet(ctx, store.KeySetUpdate{
		Handle:    handle,
		AddDevice: &store.Device{ID: 1, Certificate: []byte("cert " + handle)},
		Leaf:      []byte("leaf create " + handle),
		Now:       now,
	})
}

// rootOf computes the RFC 6962 tree hash of leaves directly, independently
// of the hashes the store keeps.
func rootOf(leaves [][]byte) tlog.Hash {
	if len(leaves) == 1 {
		return tlog.RecordHash(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(rootOf(leaves[:k]), rootOf(leaves[k:]))
}

func TestTwoProcessesGaplessLog(t *testing.T) {
	a, b := openPair(t)
	ctx := t.Context()
	const accounts, perWorker = 40, 3
	// Every goroutine creates an account, then adds devices to it, through
	// alternating stores; a third of them also race on one shared account.
	must(t, "create shared", err2(create(ctx, a, "shared")))
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		indexes   = map[int64][]byte{}
		conflicts int
	)
	record := func(i int64, leaf []byte) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := indexes[i]; dup {
			t.Errorf("index %d returned twice", i)
		}
		indexes[i] = leaf
	}
	for g := range accounts {
		wg.Go(func() {
			stores := []store.Store{a, b}
			handle := fmt.Sprintf("user%d", g)
			i, err := create(ctx, stores[g%2], handle)
			if err != nil {
				t.Errorf("create %s: %v", handle, err)
				return
			}
			record(i, []byte("leaf create "+handle))
			for v := uint64(1); v <= perWorker; v++ {
				leaf := fmt.Appendf(nil, "leaf %s v%d", handle, v+1)
				i, err := stores[(g+int(v))%2].UpdateKeySet(ctx, store.KeySetUpdate{
					Handle: handle, ExpectedVersion: v, Leaf: leaf, Now: now,
					AddDevice: &store.Device{ID: uint32(v + 1), Certificate: leaf},
				})
				if err != nil {
					t.Errorf("add device to %s: %v", handle, err)
					return
				}
				record(i, leaf)
			}
			if g%3 == 0 {
				leaf := fmt.Appendf(nil, "leaf shared by %d", g)
				i, err := stores[g%2].UpdateKeySet(ctx, store.KeySetUpdate{
					Handle: "shared", ExpectedVersion: 1, Leaf: leaf, Now: now,
					AddDevice: &store.Device{ID: uint32(100 + g), Certificate: leaf},
				})
				switch {
				case errors.Is(err, store.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil:
					t.Errorf("update shared: %v", err)
				default:
					record(i, leaf)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sharers := (accounts + 2) / 3
	if conflicts != sharers-1 {
		t.Errorf("%d of %d updates of the shared account at version 1 conflicted, want all but one", conflicts, sharers)
	}
	n, err := b.LogSize(ctx)
	must(t, "LogSize", err)
	want := int64(1 + accounts*(1+perWorker) + 1)
	if n != want || int64(len(indexes))+1 != want {
		t.Fatalf("log size %d, %d indexes returned, want %d leaves", n, len(indexes), want)
	}
	leaves, err := a.Leaves(ctx, 0, n)
	must(t, "Leaves", err)
	for i, leaf := range leaves[1:] {
		if got := indexes[int64(i+1)]; !bytes.Equal(got, leaf) {
			t.Fatalf("leaf %d is %q, but UpdateKeySet returned that index for %q", i+1, leaf, got)
		}
	}
	root, err := tlog.TreeHash(n, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return b.ReadHashes(ctx, idx)
	}))
	must(t, "TreeHash", err)
	if root != rootOf(leaves) {
		t.Fatalf("stored tree hash differs from the tree of the stored leaves")
	}
	acct, err := a.Account(ctx, "user7")
	must(t, "Account", err)
	if acct.Version != 1+perWorker || !bytes.Equal(leaves[acct.LogIndex], fmt.Appendf(nil, "leaf user7 v%d", acct.Version)) {
		t.Fatalf("account user7 at version %d, log index %d: leaf %q", acct.Version, acct.LogIndex, leaves[acct.LogIndex])
	}
}

func TestTwoProcessesClaims(t *testing.T) {
	a, b := openPair(t)
	ctx := t.Context()
	const keys, claimers = 300, 32
	must(t, "create", err2(create(ctx, a, "alice")))
	up := store.Upload{
		Handle: "alice", Device: 1, MaxOneTime: keys,
		Signed:     &store.Prekey{ID: 1, Encoded: []byte("signed")},
		LastResort: &store.Prekey{ID: 2, Encoded: []byte("last resort")},
	}
	for i := range keys {
		up.OneTime = append(up.OneTime, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(nil, "x%d", i)})
		up.OneTimeKEM = append(up.OneTimeKEM, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(nil, "k%d", i)})
	}
	must(t, "upload", b.UploadPrekeys(ctx, up))

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]int{}
	)
	for g := range claimers {
		wg.Go(func() {
			s := []store.Store{a, b}[g%2]
			for {
				cs, err := s.ClaimPrekeys(ctx, "alice")
				if err != nil || len(cs) != 1 {
					t.Errorf("claim: %d claims, error %v", len(cs), err)
					return
				}
				c := cs[0]
				mu.Lock()
				if c.OneTime != nil {
					seen[string(c.OneTime)]++
				}
				if c.KEMOneTime {
					seen[string(c.KEM)]++
				}
				mu.Unlock()
				if c.OneTime == nil && !c.KEMOneTime {
					if string(c.KEM) != "last resort" || string(c.Signed) != "signed" {
						t.Errorf("fallback claim: signed %q, KEM %q", c.Signed, c.KEM)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != 2*keys {
		t.Errorf("%d distinct one-time prekeys handed out, want %d", len(seen), 2*keys)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("prekey %q handed out %d times", k, n)
		}
	}
	c, err := a.CountPrekeys(ctx, "alice", 1)
	must(t, "count", err)
	if c != (store.Counts{}) {
		t.Errorf("counts after all claims: %+v", c)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func err2[T any](_ T, err error) error { return err }

func TestTwoProcessesUploadCap(t *testing.T) {
	a, b := openPair(t)
	ctx := t.Context()
	const limit, uploaders, batch = 50, 16, 7
	must(t, "create", err2(create(ctx, a, "alice")))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
	)
	for g := range uploaders {
		wg.Go(func() {
			up := store.Upload{Handle: "alice", Device: 1, MaxOneTime: limit}
			for i := range batch {
				id := uint32(g*batch + i + 1)
				up.OneTime = append(up.OneTime, store.Prekey{ID: id, Encoded: []byte{byte(id)}})
				up.OneTimeKEM = append(up.OneTimeKEM, store.Prekey{ID: id, Encoded: []byte{byte(id)}})
			}
			err := []store.Store{a, b}[g%2].UploadPrekeys(ctx, up)
			switch {
			case err == nil:
				mu.Lock()
				accepted++
				mu.Unlock()
			case !errors.Is(err, store.ErrTooManyPrekeys):
				t.Errorf("upload: %v", err)
			}
		})
	}
	wg.Wait()
	c, err := b.CountPrekeys(ctx, "alice", 1)
	must(t, "count", err)
	want := limit / batch * batch
	if accepted != limit/batch || c.OneTime != want || c.OneTimeKEM != want {
		t.Fatalf("%d uploads of %d accepted, counts %+v; want %d uploads, %d keys of each kind", accepted, batch, c, limit/batch, want)
	}
}

func TestTwoProcessesCreateSameHandle(t *testing.T) {
	a, b := openPair(t)
	ctx := t.Context()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wins   int
		leaves = map[int64]bool{}
	)
	for g := range 16 {
		wg.Go(func() {
			i, err := create(ctx, []store.Store{a, b}[g%2], "alice")
			switch {
			case err == nil:
				mu.Lock()
				wins++
				leaves[i] = true
				mu.Unlock()
			case !errors.Is(err, store.ErrHandleTaken):
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	n, err := a.LogSize(ctx)
	must(t, "LogSize", err)
	if wins != 1 || n != 1 || !leaves[0] {
		t.Fatalf("%d creations won, log size %d", wins, n)
	}
}
