package vmap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// naiveRoot computes the root of a set of leaves straight from the
// definition of spec/transparency-v2.md §4.2, bit by bit, independently of
// the merger: the node over a set of indices sharing their first d bits is
// a leaf if there is one, else the inner node at the first bit where they
// differ.
func naiveRoot(set map[Index]Value) Hash {
	if len(set) == 0 {
		return EmptyRoot
	}
	keys := make([]Index, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Index) int { return bytes.Compare(a[:], b[:]) })
	var rec func(ks []Index, d int) Hash
	rec = func(ks []Index, d int) Hash {
		if len(ks) == 1 {
			v := set[ks[0]]
			return LeafHash(&ks[0], &v)
		}
		for ; d < IndexBits; d++ {
			var l, r []Index
			for _, k := range ks {
				if k[d/8]>>(7-d%8)&1 == 0 {
					l = append(l, k)
				} else {
					r = append(r, k)
				}
			}
			if len(l) > 0 && len(r) > 0 {
				lh, rh := rec(l, d+1), rec(r, d+1)
				p := [32]byte(ks[0])
				return InnerHash(d, &p, &lh, &rh)
			}
		}
		panic("duplicate keys")
	}
	return rec(keys, 0)
}

func randIndex(r io.Reader) Index {
	var x Index
	io.ReadFull(r, x[:])
	return x
}

func randValue(r io.Reader, version uint64) Value {
	v := Value{Version: version}
	io.ReadFull(r, v.Commitment[:])
	return v
}

func idx(b ...byte) Index {
	var x Index
	copy(x[:], b)
	return x
}

func mustApply(t testing.TB, m *Map, ups []Update) Root {
	t.Helper()
	r, err := m.Apply(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustProve(t testing.TB, m *Map, epoch uint64, x Index) []byte {
	t.Helper()
	p, err := m.Prove(context.Background(), epoch, x)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v; want %v", err, want)
	}
}

var _ = testrand.New
