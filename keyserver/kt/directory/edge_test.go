package directory

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

type hashes []tlog.Hash

func (h hashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = h[x]
	}
	return out, nil
}

// The right edge gives the RFC 6962 root at every size (spec/transparency-v2.md §8.2).
func TestEdgeRoot(t *testing.T) {
	var stored hashes
	st := &AuditState{TreeRoot: sha256.Sum256(nil)}
	for n := int64(0); n <= 130; n++ {
		want, err := tlog.TreeHash(n, stored)
		if err != nil {
			t.Fatal(err)
		}
		if got := edgeRoot(st.Edge); got != want {
			t.Fatalf("size %d: edge root differs from tlog.TreeHash", n)
		}
		leaf := binary.BigEndian.AppendUint64(nil, uint64(n))
		hs, err := tlog.StoredHashes(n, leaf, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		st.appendLeaf(leaf)
	}
}
