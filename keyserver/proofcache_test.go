package keyserver

import (
	"bytes"
	"context"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// The proof cache answers every index at every epoch exactly as the map
// does (proof bytes, kind, proven version), whichever epochs were asked
// before: the newest epoch's proofs are kept, an older epoch's are proved
// again, a newer epoch replaces them.
func TestProofCache(t *testing.T) {
	ctx := context.Background()
	r := testrand.New("proof cache")
	ms := vmap.NewMemStore()
	m := vmap.New(ms)
	c := &proofCache{}
	var keys []vmap.Index
	version := map[vmap.Index]uint64{}
	for epoch := uint64(1); epoch <= 4; epoch++ {
		// Three handles of earlier epochs change, ten are new.
		var ups []vmap.Update
		for i := 0; i < 3 && i < len(keys); i++ {
			u := vmap.Update{Index: keys[(int(epoch)*5+i)%len(keys)]}
			version[u.Index]++
			u.Value.Version = version[u.Index]
			r.Read(u.Value.Commitment[:])
			ups = append(ups, u)
		}
		for range 10 {
			var u vmap.Update
			r.Read(u.Index[:])
			version[u.Index] = 1
			u.Value.Version = 1
			r.Read(u.Value.Commitment[:])
			ups = append(ups, u)
		}
		keys = keys[:len(keys):len(keys)]
		for _, u := range ups[len(ups)-10:] {
			keys = append(keys, u.Index)
		}
		root, nodes, _, err := m.Prepare(ctx, ups)
		if err != nil {
			t.Fatal(err)
		}
		if err := ms.Commit(ctx, root, nodes); err != nil {
			t.Fatal(err)
		}
	}
	var absent vmap.Index
	r.Read(absent[:])
	check := func(epoch uint64) {
		t.Helper()
		for _, k := range append(keys[:len(keys):len(keys)], absent) {
			for range 2 { // the second from the cache when kept
				got, err := c.prove(ctx, m, epoch, k)
				if err != nil {
					t.Fatal(err)
				}
				want, err := m.Prove(ctx, epoch, k)
				if err != nil {
					t.Fatal(err)
				}
				p, err := vmap.ParseProof(want)
				if err != nil {
					t.Fatal(err)
				}
				wantVersion := uint64(0)
				if p.Kind == vmap.KindPresent {
					wantVersion = p.Value.Version
				}
				if !bytes.Equal(got.proof, want) || got.kind != p.Kind || got.version != wantVersion {
					t.Fatalf("epoch %d index %x: cached kind %d version %d, map kind %d version %d (same bytes %v)",
						epoch, k[:4], got.kind, got.version, p.Kind, wantVersion, bytes.Equal(got.proof, want))
				}
			}
		}
	}
	for _, e := range []uint64{2, 4, 1, 3, 4} {
		check(e)
	}
	if c.epoch != 4 || len(c.proofs) != len(keys)+1 {
		t.Errorf("cache at epoch %d with %d proofs, want epoch 4 with %d", c.epoch, len(c.proofs), len(keys)+1)
	}
}
