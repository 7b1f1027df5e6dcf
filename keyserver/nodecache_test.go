package keyserver

import (
	"context"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// TestNodeCacheAdvance: a cache read at epoch e and advanced with the
// nodes of epoch e+1 answers every label exactly as the store does at
// e+1, proofs included, and a cache of another epoch is not advanced.
func TestNodeCacheAdvance(t *testing.T) {
	ctx := context.Background()
	r := testrand.New("node cache")
	ms := vmap.NewMemStore()
	c := newNodeCache(ms)
	m := vmap.New(c)
	var keys []vmap.Index
	version := map[vmap.Index]uint64{}
	for epoch := uint64(1); epoch <= 6; epoch++ {
		var ups []vmap.Update
		inBatch := map[vmap.Index]bool{}
		for i := range 40 {
			var u vmap.Update
			if i%3 == 0 && len(keys) > 0 {
				u.Index = keys[(int(epoch)*7+i)%len(keys)]
			} else {
				r.Read(u.Index[:])
				keys = append(keys, u.Index)
			}
			if inBatch[u.Index] {
				continue
			}
			inBatch[u.Index] = true
			version[u.Index]++
			u.Value.Version = version[u.Index]
			r.Read(u.Value.Commitment[:])
			ups = append(ups, u)
		}
		// Read every key through the cache at the current epoch, so that
		// it holds the whole tree.
		latest, err := ms.Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, err := m.Prove(ctx, latest, k); err != nil {
				t.Fatal(err)
			}
		}
		root, nodes, _, err := m.Prepare(ctx, ups)
		if err != nil {
			t.Fatal(err)
		}
		if err := ms.Commit(ctx, root, nodes); err != nil {
			t.Fatal(err)
		}
		c.advance(root, nodes)
		if c.epoch != root.Epoch || len(c.nodes) == 0 {
			t.Fatalf("epoch %d: cache at epoch %d with %d nodes after advance", root.Epoch, c.epoch, len(c.nodes))
		}
		for l, n := range c.nodes {
			want, err := ms.Node(ctx, l, root.Epoch)
			if err != nil || want != n {
				t.Fatalf("epoch %d: cached %+v, store %+v, %v", root.Epoch, n, want, err)
			}
		}
		for _, k := range keys {
			want, err := vmap.New(ms).Prove(ctx, root.Epoch, k)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Prove(ctx, root.Epoch, k)
			if err != nil || string(got) != string(want) {
				t.Fatalf("epoch %d: proof through the cache differs: %v", root.Epoch, err)
			}
		}
	}
	// An advance that does not follow the cache's epoch changes nothing.
	before, odd := c.epoch, vmap.Label{Depth: 200, Prefix: [32]byte{0xff, 0xfe, 0xfd}}
	c.advance(vmap.Root{Epoch: before + 2}, []vmap.Node{{Label: odd}})
	if _, ok := c.nodes[odd]; ok || c.epoch != before {
		t.Fatalf("advance by two epochs moved the cache to %d (node taken: %v)", c.epoch, ok)
	}
	if _, err := c.Node(ctx, odd, before); !errors.Is(err, vmap.ErrNotFound) {
		t.Fatalf("a node never committed: %v", err)
	}
}
