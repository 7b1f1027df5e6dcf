package vmap

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// benchMap is a map of 1M random indices at epoch 1, built once per test
// binary by one Apply (the fresh-subtree path is the bulk construction).
var benchMap struct {
	once sync.Once
	m    *Map
	keys []Index
	root Root
	err  error
}

const benchLeaves = 1 << 20

func millionMap(b *testing.B) (*Map, []Index, Root) {
	benchMap.once.Do(func() {
		r := testrand.New("vmap bench")
		buf := make([]byte, benchLeaves*(IndexSize+IndexSize))
		io.ReadFull(r, buf)
		ups := make([]Update, benchLeaves)
		benchMap.keys = make([]Index, benchLeaves)
		for i := range ups {
			ups[i].Index = Index(buf[64*i:])
			ups[i].Value = Value{Version: 1, Commitment: [32]byte(buf[64*i+32:])}
			benchMap.keys[i] = ups[i].Index
		}
		benchMap.m = New(NewMemStore())
		benchMap.root, benchMap.err = benchMap.m.Apply(context.Background(), ups)
	})
	if benchMap.err != nil {
		b.Fatal(benchMap.err)
	}
	return benchMap.m, benchMap.keys, benchMap.root
}

// BenchmarkLookupProof measures, per op, generating the lookup proof of a
// random present index in a 1M-leaf map and verifying it as a client
// does; it reports the mean proof size.
func BenchmarkLookupProof(b *testing.B) {
	b.Run("accounts-1M", func(b *testing.B) {
		m, keys, root := millionMap(b)
		ctx := context.Background()
		rootHash := root.Hash()
		b.ReportAllocs()
		b.ResetTimer()
		size := 0
		for i := range b.N {
			x := keys[(uint64(i)*2654435761)%benchLeaves]
			p, err := m.Prove(ctx, root.Epoch, x)
			if err != nil {
				b.Fatal(err)
			}
			if v, err := VerifyLookup(rootHash, x, p); err != nil || v == nil {
				b.Fatal(err)
			}
			size += len(p)
		}
		b.ReportMetric(float64(size)/float64(b.N), "proof-bytes")
	})
}

// BenchmarkMapUpdate measures applying one epoch's batch of 1000 updates
// (half new indices, half version bumps) to a 1M-leaf map.
func BenchmarkMapUpdate(b *testing.B) {
	b.Run("batch-1000", func(b *testing.B) {
		// A map of its own: the benchmark adds epochs.
		var r io.Reader
		m, keys, _ := millionMap(b)
		ctx := context.Background()
		latest, err := m.Latest(ctx)
		if err != nil {
			b.Fatal(err)
		}
		// Versions bumped by earlier runs: bump well above them.
		base := latest.Epoch * 2
		r = testrand.New(fmt.Sprint("vmap bench update ", latest.Epoch))
		batches := make([][]Update, b.N)
		for i := range batches {
			ups := make([]Update, 1000)
			for j := range ups {
				if j%2 == 0 {
					ups[j] = Update{randIndex(r), randValue(r, 1)}
				} else {
					k := keys[(i*500+j/2)%benchLeaves]
					ups[j] = Update{k, randValue(r, base+uint64(i)+2)}
				}
			}
			batches[i] = ups
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := m.Apply(ctx, batches[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "updates/s")
	})
}

// BenchmarkVerifyLookup measures the client's side alone: verifying one
// lookup proof of a 1M-leaf map (spec/transparency-v2.md §4.5).
func BenchmarkVerifyLookup(b *testing.B) {
	m, keys, root := millionMap(b)
	ctx := context.Background()
	proofs := make([][]byte, 1024)
	for i := range proofs {
		p, err := m.Prove(ctx, root.Epoch, keys[i*997])
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = p
	}
	h := root.Hash()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % len(proofs)
		if _, err := VerifyLookup(h, keys[j*997], proofs[j]); err != nil {
			b.Fatal(err)
		}
	}
}
