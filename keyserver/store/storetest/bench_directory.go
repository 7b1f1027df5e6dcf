package storetest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/store"
)

// Benchmarks of the key transparency v2 directory (spec/transparency-v2.md
// §4.7). Every benchmark starts from a map of benchPrefill leaves
// committed in one epoch, so walks are as deep as in a directory of that
// size; the engines' bench_test.go files run them.

// benchPrefill is the number of leaves in the map before a benchmark runs.
const benchPrefill = 100_000

// benchBatch is the number of updates of a benchmarked epoch.
const benchBatch = 1000

// prefill commits one epoch of n random indices (no accounts: the map
// alone) and returns the map.
func prefill(b *testing.B, s store.Store, n int) *vmap.Map {
	b.Helper()
	rnd := testrand.New("storetest prefill")
	m := vmap.New(store.NodeStore(s))
	ups := make([]vmap.Update, n)
	for i := range ups {
		_, _ = io.ReadFull(rnd, ups[i].Index[:]) // testrand readers never fail
		ups[i].Value = vmap.Value{Version: 1, Commitment: sha256.Sum256(ups[i].Index[:])}
	}
	root, nodes, es, err := m.Prepare(b.Context(), ups)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.CommitEpoch(b.Context(), store.EpochCommit{
		Root: root, Nodes: nodes, Leaf: []byte("prefill leaf"), Batch: vmap.MarshalBatch(es),
	}); err != nil {
		b.Fatal(err)
	}
	return m
}

// createAccounts registers n accounts named prefix0, prefix1, … from 16
// goroutines (so that the engines group their commits), each with one
// device and a leaf of realistic size.
func createAccounts(b *testing.B, s store.Store, prefix string, n int) {
	b.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				handle := fmt.Sprintf("%s%d", prefix, i)
				_, err := s.UpdateKeySet(b.Context(), store.KeySetUpdate{
					Handle: handle, AddDevice: &store.Device{ID: 1, Certificate: make([]byte, 150)},
					Leaf: make([]byte, 250), Now: time.Unix(1_800_000_000, 0),
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// sequence builds the next epoch from accts as the sequencer does (but
// with a hash for the VRF output and proof): each account gets its next
// map version with a fresh opening and an entry of realistic size.
func sequence(b *testing.B, m *vmap.Map, accts []*store.Account, rnd io.Reader) store.EpochCommit {
	b.Helper()
	ctx := b.Context()
	latest, err := m.Latest(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var c store.EpochCommit
	ups := make([]vmap.Update, len(accts))
	for i, a := range accts {
		x := sha256.Sum256([]byte(a.Handle))
		v := store.SequencedVersion{Handle: a.Handle, Seq: 1, Version: a.Version, Epoch: latest.Epoch + 1, Entry: make([]byte, 230)}
		_, _ = io.ReadFull(rnd, v.Opening[:])
		c.Versions = append(c.Versions, v)
		c.NewVRF = append(c.NewVRF, store.VRFEntry{Handle: a.Handle, Index: x, Proof: make([]byte, 80)})
		ups[i] = vmap.Update{Index: x, Value: vmap.Value{Version: 1, Commitment: sha256.Sum256(v.Opening[:])}}
	}
	root, nodes, es, err := m.Prepare(ctx, ups)
	if err != nil {
		b.Fatal(err)
	}
	c.Root, c.Nodes, c.Batch = root, nodes, vmap.MarshalBatch(es)
	c.Leaf = make([]byte, 117)
	return c
}

// BenchmarkCommitEpoch measures CommitEpoch alone for epochs of 1000 new
// handles (VRF entries, versions, account marks, map nodes, leaf and
// batch) on a map of benchPrefill leaves.
func BenchmarkCommitEpoch(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run(fmt.Sprintf("batch-%d", benchBatch), func(b *testing.B) {
		s := open(b)
		m := prefill(b, s, benchPrefill)
		rnd := testrand.New("storetest BenchmarkCommitEpoch")
		nodes := 0
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			createAccounts(b, s, fmt.Sprintf("e%d-", i), benchBatch)
			accts, err := s.Unsequenced(b.Context(), benchBatch)
			if err != nil || len(accts) != benchBatch {
				b.Fatalf("Unsequenced: %d accounts, %v", len(accts), err)
			}
			c := sequence(b, m, accts, rnd)
			nodes += len(c.Nodes)
			b.StartTimer()
			if err := s.CommitEpoch(b.Context(), c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "updates/s")
		b.ReportMetric(float64(nodes)/float64(b.N), "nodes/epoch")
	})
}

// BenchmarkSequence measures a whole sequencer step but the VRF: read
// 1000 unsequenced accounts, vmap.Map.Prepare the epoch (reading the map
// through MapNode) and CommitEpoch it, on a map of benchPrefill leaves.
// Goal: 2000 sequenced updates/s.
func BenchmarkSequence(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run(fmt.Sprintf("batch-%d", benchBatch), func(b *testing.B) {
		s := open(b)
		m := prefill(b, s, benchPrefill)
		rnd := testrand.New("storetest BenchmarkSequence")
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			createAccounts(b, s, fmt.Sprintf("s%d-", i), benchBatch)
			b.StartTimer()
			accts, err := s.Unsequenced(b.Context(), benchBatch)
			if err != nil || len(accts) != benchBatch {
				b.Fatalf("Unsequenced: %d accounts, %v", len(accts), err)
			}
			if err := s.CommitEpoch(b.Context(), sequence(b, m, accts, rnd)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "updates/s")
	})
}

// BenchmarkMapNode measures MapNode, one node read of a lookup proof's
// walk (about 20 per proof), on a map of benchPrefill leaves: serial reads
// (latency) and 8 readers per CPU (throughput).
func BenchmarkMapNode(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	m := prefill(b, s, benchPrefill)
	ctx := b.Context()
	root, err := m.Latest(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// The labels on the walks of random indices, top first.
	rnd := testrand.New("storetest BenchmarkMapNode")
	var labels []vmap.Label
	for range 200 {
		var x vmap.Index
		_, _ = io.ReadFull(rnd, x[:])
		c := root.Top
		for {
			labels = append(labels, c.Label)
			n, err := s.MapNode(ctx, c.Label, root.Epoch)
			if err != nil {
				b.Fatal(err)
			}
			if n.IsLeaf() || !hasPrefix(x, n.Label) {
				break
			}
			c = n.Children[bitAt(x, int(n.Label.Depth))]
		}
	}
	b.Logf("%d labels, %.1f per walk", len(labels), float64(len(labels))/200)
	b.Run("serial", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.MapNode(ctx, labels[i%len(labels)], root.Epoch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	})
	b.Run("parallel", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.MapNode(ctx, labels[int(next.Add(1))%len(labels)], root.Epoch); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	})
}

// bitAt is bit i of x, most significant bit of byte 0 first
// (spec/transparency-v2.md §4.1).
func bitAt(x vmap.Index, i int) int { return int(x[i/8]>>(7-uint(i%8))) & 1 }

// hasPrefix reports whether x shares the first l.Depth bits of l.Prefix.
func hasPrefix(x vmap.Index, l vmap.Label) bool {
	for i := range int(l.Depth) {
		if bitAt(x, i) != bitAt(vmap.Index(l.Prefix), i) {
			return false
		}
	}
	return true
}
