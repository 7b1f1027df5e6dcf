// Package vmaptest is the conformance suite every vmap.NodeStore engine
// runs (spec/transparency-v2.md §4.7): one call, Run(t, open), from each
// engine's tests.
package vmaptest

import (
	"context"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// Run checks the NodeStore that open returns (a new, empty store each
// call): versions by epoch, roots, epoch order, and that a map kept in it
// proves what it holds at every past epoch.
func Run(t *testing.T, open func(t *testing.T) vmap.NodeStore) {
	t.Run("Versions", func(t *testing.T) { testVersions(t, open(t)) })
	t.Run("EpochOrder", func(t *testing.T) { testEpochOrder(t, open(t)) })
	t.Run("MapHistory", func(t *testing.T) { testMapHistory(t, open(t)) })
}

func label(b byte, depth uint16) vmap.Label {
	l := vmap.Label{Depth: depth}
	l.Prefix[0] = b
	return l
}

func testVersions(t *testing.T, s vmap.NodeStore) {
	ctx := context.Background()
	if e, err := s.Latest(ctx); err != nil || e != 0 {
		t.Fatalf("Latest of an empty store = %d, %v", e, err)
	}
	if _, err := s.Root(ctx, 1); !errors.Is(err, vmap.ErrNotFound) {
		t.Fatalf("Root(1) of an empty store: %v", err)
	}
	a, b := label(0x80, 1), label(0x40, 256)
	n1 := vmap.Node{Label: a, Epoch: 1, Hash: vmap.Hash{1}, Children: [2]vmap.Child{{Label: b, Hash: vmap.Hash{7}}}}
	n2 := vmap.Node{Label: b, Epoch: 1, Hash: vmap.Hash{2}, Value: vmap.Value{Version: 1, Commitment: [32]byte{3}}}
	r1 := vmap.Root{Epoch: 1, Top: vmap.Child{Label: a, Hash: n1.Hash}}
	if err := s.Commit(ctx, r1, []vmap.Node{n1, n2}); err != nil {
		t.Fatal(err)
	}
	n1b := n1
	n1b.Epoch, n1b.Hash = 3, vmap.Hash{9}
	if err := s.Commit(ctx, vmap.Root{Epoch: 2, Empty: true}, nil); err != nil {
		t.Fatal(err)
	}
	r3 := vmap.Root{Epoch: 3, Top: vmap.Child{Label: a, Hash: n1b.Hash}}
	if err := s.Commit(ctx, r3, []vmap.Node{n1b}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		l     vmap.Label
		epoch uint64
		want  *vmap.Node
	}{
		{a, 0, nil}, {a, 1, &n1}, {a, 2, &n1}, {a, 3, &n1b}, {a, 99, &n1b},
		{b, 1, &n2}, {b, 3, &n2}, {label(0x80, 2), 3, nil},
	} {
		got, err := s.Node(ctx, c.l, c.epoch)
		if c.want == nil {
			if !errors.Is(err, vmap.ErrNotFound) {
				t.Fatalf("Node(%v, %d) = %v; want ErrNotFound", c.l.Depth, c.epoch, err)
			}
			continue
		}
		if err != nil || got != *c.want {
			t.Fatalf("Node(%v, %d) = %+v, %v; want %+v", c.l.Depth, c.epoch, got, err, *c.want)
		}
	}
	for e, want := range map[uint64]vmap.Root{1: r1, 2: {Epoch: 2, Empty: true}, 3: r3} {
		if got, err := s.Root(ctx, e); err != nil || got != want {
			t.Fatalf("Root(%d) = %+v, %v", e, got, err)
		}
	}
}

func testEpochOrder(t *testing.T, s vmap.NodeStore) {
	ctx := context.Background()
	n := vmap.Node{Label: label(1, 256), Epoch: 2, Value: vmap.Value{Version: 1}}
	if err := s.Commit(ctx, vmap.Root{Epoch: 2, Top: vmap.Child{Label: n.Label}}, []vmap.Node{n}); err == nil {
		t.Fatal("Commit of epoch 2 before 1 accepted")
	}
	n.Epoch = 2
	if err := s.Commit(ctx, vmap.Root{Epoch: 1, Top: vmap.Child{Label: n.Label}}, []vmap.Node{n}); err == nil {
		t.Fatal("Commit of a node of another epoch accepted")
	}
	if e, _ := s.Latest(ctx); e != 0 {
		t.Fatalf("a refused Commit left epoch %d", e)
	}
	if _, err := s.Node(ctx, n.Label, 5); !errors.Is(err, vmap.ErrNotFound) {
		t.Fatalf("a refused Commit left a node: %v", err)
	}
	n.Epoch = 1
	if err := s.Commit(ctx, vmap.Root{Epoch: 1, Top: vmap.Child{Label: n.Label}}, []vmap.Node{n}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, vmap.Root{Epoch: 1, Top: vmap.Child{Label: n.Label}}, []vmap.Node{n}); err == nil {
		t.Fatal("epoch 1 committed twice")
	}
}

func testMapHistory(t *testing.T, s vmap.NodeStore) {
	ctx := context.Background()
	m := vmap.New(s)
	var roots []vmap.Root
	var idx []vmap.Index
	for e := range 6 {
		var ups []vmap.Update
		for i := range 20 {
			x := vmap.Index{byte(e*37 + i*11), byte(i), byte(e)}
			idx = append(idx, x)
			ups = append(ups, vmap.Update{Index: x, Value: vmap.Value{Version: 1, Commitment: [32]byte{byte(e)}}})
		}
		if e > 0 {
			ups = append(ups, vmap.Update{Index: idx[0], Value: vmap.Value{Version: uint64(e + 1)}})
		}
		r, err := m.Apply(ctx, ups)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, r)
	}
	for e, r := range roots {
		for i, x := range idx {
			p, err := m.Prove(ctx, r.Epoch, x)
			if err != nil {
				t.Fatal(err)
			}
			v, err := vmap.VerifyLookup(r.Hash(), x, p)
			if err != nil {
				t.Fatalf("epoch %d: %v", r.Epoch, err)
			}
			if present := i < 20*(e+1); (v != nil) != present {
				t.Fatalf("epoch %d index %d: present %v", r.Epoch, i, v != nil)
			}
			if i == 0 && v.Version != uint64(e+1) {
				t.Fatalf("epoch %d: version %d", r.Epoch, v.Version)
			}
		}
	}
}
