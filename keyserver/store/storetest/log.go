package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/keyserver/store"
	"golang.org/x/mod/sumdb/tlog"
)

// fillLog makes n key-set changes over a few accounts and returns the
// leaves in the order they were appended.
func (f *fixture) fillLog(n int) [][]byte {
	f.t.Helper()
	var leaves [][]byte
	var accts []*account
	for i := 0; len(leaves) < n; i++ {
		var u store.KeySetUpdate
		var set []store.Device
		var a *account
		if i%3 == 0 {
			a = f.newAccount(fmt.Sprintf("user-%d", i))
			accts = append(accts, a)
			u, set = f.createUpdate(a, 1)
		} else {
			a = accts[i%len(accts)]
			u, set = f.addUpdate(a, uint32(i+1))
		}
		idx := f.apply(a, u, set)
		if idx != int64(len(leaves)) {
			f.t.Fatalf("update %d appended at %d, want %d", i, idx, len(leaves))
		}
		leaves = append(leaves, u.Leaf)
	}
	return leaves
}

func testLogLeaves(t *testing.T, f *fixture) {
	n, err := f.s.LogSize(f.ctx)
	must(t, "LogSize", err)
	if n != 0 {
		t.Fatalf("LogSize of an empty store = %d", n)
	}
	want := f.fillLog(11)
	for start := 0; start <= len(want); start++ {
		for end := start; end <= len(want); end++ {
			got, err := f.s.Leaves(f.ctx, int64(start), int64(end))
			must(t, fmt.Sprintf("Leaves(%d, %d)", start, end), err)
			if len(got) != end-start {
				t.Fatalf("Leaves(%d, %d) returned %d leaves", start, end, len(got))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[start+i]) {
					t.Fatalf("Leaves(%d, %d)[%d] differs from leaf %d", start, end, i, start+i)
				}
			}
		}
	}
}

func testLogBounds(t *testing.T, f *fixture) {
	got, err := f.s.Leaves(f.ctx, 0, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Leaves(0, 0) on an empty log = %d leaves, %v", len(got), err)
	}
	if _, err := f.s.Leaves(f.ctx, 0, 1); err == nil {
		t.Fatal("Leaves(0, 1) on an empty log succeeded")
	}
	if _, err := f.s.ReadHashes(f.ctx, []int64{0}); err == nil {
		t.Fatal("ReadHashes([0]) on an empty log succeeded")
	}
	f.fillLog(4)
	for _, r := range [][2]int64{{0, 5}, {-1, 2}, {3, 2}, {4, 6}, {5, 5}, {-2, -1}} {
		if got, err := f.s.Leaves(f.ctx, r[0], r[1]); err == nil {
			t.Errorf("Leaves(%d, %d) on a log of 4 = %d leaves, want an error", r[0], r[1], len(got))
		}
	}
	stored := tlog.StoredHashCount(4)
	if _, err := f.s.ReadHashes(f.ctx, []int64{0, stored}); err == nil {
		t.Errorf("ReadHashes past the %d stored hashes succeeded", stored)
	}
	if _, err := f.s.ReadHashes(f.ctx, []int64{-1}); err == nil {
		t.Error("ReadHashes([-1]) succeeded")
	}
	h, err := f.s.ReadHashes(f.ctx, nil)
	if err != nil || len(h) != 0 {
		t.Errorf("ReadHashes(nil) = %d hashes, %v", len(h), err)
	}
}

// refRoot is the RFC 6962 Merkle tree hash of leaves, computed directly.
func refRoot(leaves [][]byte) tlog.Hash {
	if len(leaves) == 1 {
		return tlog.RecordHash(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

// checkTree fails unless the stored hashes give the reference root for
// every prefix of leaves, and are exactly the hashes tlog stores.
func (f *fixture) checkTree(leaves [][]byte) {
	f.t.Helper()
	f.checkHashes(leaves, f.s.ReadHashes)
}

// checkHashes fails unless the hashes read gives the reference root for
// every prefix of leaves, and are exactly the hashes tlog stores.
func (f *fixture) checkHashes(leaves [][]byte, read func(context.Context, []int64) ([]tlog.Hash, error)) {
	f.t.Helper()
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return read(context.WithoutCancel(f.ctx), idx)
	})
	for n := 1; n <= len(leaves); n++ {
		got, err := tlog.TreeHash(int64(n), r)
		must(f.t, fmt.Sprintf("TreeHash(%d)", n), err)
		if want := refRoot(leaves[:n]); got != want {
			f.t.Fatalf("TreeHash(%d) = %v, want %v", n, got, want)
		}
	}
	var want []tlog.Hash
	mem := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = want[x]
		}
		return out, nil
	})
	for n, l := range leaves {
		h, err := tlog.StoredHashes(int64(n), l, mem)
		must(f.t, "StoredHashes", err)
		want = append(want, h...)
	}
	idx := make([]int64, len(want))
	for i := range idx {
		idx[i] = int64(i)
	}
	got, err := read(f.ctx, idx)
	must(f.t, "ReadHashes", err)
	if len(got) != len(want) {
		f.t.Fatalf("ReadHashes of %d indexes returned %d hashes", len(want), len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			f.t.Fatalf("stored hash %d = %v, want %v", i, got[i], want[i])
		}
	}
	// Out-of-order and repeated indexes come back in the order asked.
	rev := []int64{idx[len(idx)-1], 0, idx[len(idx)-1]}
	got, err = read(f.ctx, rev)
	must(f.t, "ReadHashes", err)
	if len(got) != 3 || got[0] != want[rev[0]] || got[1] != want[0] || got[2] != want[rev[0]] {
		f.t.Fatalf("ReadHashes(%v) does not follow the order of the indexes", rev)
	}
}

func testLogTreeHash(t *testing.T, f *fixture) {
	f.checkTree(f.fillLog(37))
}

func testLogConcurrentUpdates(t *testing.T, f *fixture) {
	const workers, perWorker = 16, 4
	type job struct {
		a    *account
		us   []store.KeySetUpdate
		sets [][]store.Device
	}
	jobs := make([]job, workers)
	for w := range jobs {
		a := f.newAccount(fmt.Sprintf("worker-%d", w))
		// Build every update in advance: the model moves as if each applied.
		j := job{a: a}
		u, set := f.createUpdate(a, 1)
		j.us, j.sets = append(j.us, u), append(j.sets, set)
		a.version, a.set = 1, set
		for i := range perWorker {
			u, set := f.addUpdate(a, uint32(i+2))
			j.us, j.sets = append(j.us, u), append(j.sets, set)
			a.version, a.set = a.version+1, set
		}
		jobs[w] = j
	}
	idx := make([][]int64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range jobs {
		wg.Go(func() {
			for _, u := range jobs[w].us {
				i, err := f.s.UpdateKeySet(f.ctx, u)
				if err != nil {
					errs[w] = err
					return
				}
				idx[w] = append(idx[w], i)
			}
		})
	}
	wg.Wait()
	total := workers * (perWorker + 1)
	leaves := f.leaves()
	if len(leaves) != total {
		t.Fatalf("log has %d leaves after %d updates", len(leaves), total)
	}
	for w, j := range jobs {
		must(t, "concurrent update", errs[w])
		for k, u := range j.us {
			if !bytes.Equal(leaves[idx[w][k]], u.Leaf) {
				t.Fatalf("worker %d update %d: leaf at its index %d is another one", w, k, idx[w][k])
			}
			if k > 0 && idx[w][k] <= idx[w][k-1] {
				t.Fatalf("worker %d: update %d at index %d, before its predecessor", w, k, idx[w][k])
			}
		}
		j.a.logIndex = idx[w][perWorker]
		f.checkAccount(j.a)
	}
	seen := map[string]bool{}
	for i, l := range leaves {
		if seen[string(l)] {
			t.Fatalf("leaf %d appended twice", i)
		}
		seen[string(l)] = true
	}
	f.checkTree(leaves)
}
