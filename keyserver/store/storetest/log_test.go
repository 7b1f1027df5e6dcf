package storetest

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestRefRoot checks the suite's reference tree against tlog's own, and
// against a tree of three leaves built by hand.
func TestRefRoot(t *testing.T) {
	var leaves [][]byte
	var hashes []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for n := range 100 {
		leaf := []byte(fmt.Sprintf("leaf %d", n))
		h, err := tlog.StoredHashes(int64(n), leaf, r)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h...)
		leaves = append(leaves, leaf)
		want, err := tlog.TreeHash(int64(n+1), r)
		if err != nil {
			t.Fatal(err)
		}
		if got := refRoot(leaves); got != want {
			t.Fatalf("refRoot of %d leaves = %v, want %v", n+1, got, want)
		}
	}
	a, b, c := tlog.RecordHash(leaves[0]), tlog.RecordHash(leaves[1]), tlog.RecordHash(leaves[2])
	if refRoot(leaves[:3]) != tlog.NodeHash(tlog.NodeHash(a, b), c) {
		t.Fatal("refRoot of 3 leaves is not H(H(a, b), c)")
	}
}
