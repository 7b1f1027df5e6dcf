package vmap

import (
	"bytes"
	"context"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// TestRandomAgainstReference applies random batches (new indices and
// version bumps) and checks after each epoch that the root equals the
// naive reference's, that every index's proof verifies to its value, that
// random absent indices are proved absent, and that proofs of every past
// epoch still verify against that epoch's root.
func TestRandomAgainstReference(t *testing.T) {
	r := testrand.New("vmap reference")
	m := New(NewMemStore())
	ref := map[Index]Value{}
	var keys []Index
	var roots []Root
	kinds := map[byte]int{}
	for epoch := 1; epoch <= 25; epoch++ {
		var ups []Update
		seen := map[Index]bool{}
		for i := 0; i < 1+epoch*3; i++ {
			if len(keys) > 0 && i%3 == 0 {
				k := keys[(epoch*7+i*13)%len(keys)]
				if seen[k] {
					continue
				}
				seen[k] = true
				ups = append(ups, Update{k, randValue(r, ref[k].Version+1+uint64(i%2))})
				continue
			}
			k := randIndex(r)
			if epoch%5 == 0 && len(keys) > 0 {
				// Indices sharing a long prefix with an existing one.
				k = keys[i%len(keys)]
				k[20] ^= 1 << (i % 8)
				if _, ok := ref[k]; ok || seen[k] {
					continue
				}
			}
			seen[k] = true
			keys = append(keys, k)
			ups = append(ups, Update{k, randValue(r, 1)})
		}
		root := mustApply(t, m, ups)
		for _, u := range ups {
			ref[u.Index] = u.Value
		}
		if root.Hash() != naiveRoot(ref) {
			t.Fatalf("epoch %d: root differs from the reference", epoch)
		}
		roots = append(roots, root)
		for _, k := range keys {
			v, err := VerifyLookup(root.Hash(), k, mustProve(t, m, root.Epoch, k))
			if err != nil || v == nil || *v != ref[k] {
				t.Fatalf("epoch %d: lookup = %v, %v; want %v", epoch, v, err, ref[k])
			}
		}
		for range 20 {
			k := randIndex(r)
			p := mustProve(t, m, root.Epoch, k)
			kinds[p[0]]++
			if v, err := VerifyLookup(root.Hash(), k, p); err != nil || v != nil {
				t.Fatalf("absent index: %v, %v", v, err)
			}
		}
	}
	if kinds[KindAbsentLeaf] == 0 || kinds[KindAbsentInner] == 0 {
		t.Fatalf("absence kinds not both exercised: %v", kinds)
	}
	// Past epochs are still served.
	for _, root := range roots {
		for _, k := range keys[:5] {
			p := mustProve(t, m, root.Epoch, k)
			if _, err := VerifyLookup(root.Hash(), k, p); err != nil {
				t.Fatalf("epoch %d: %v", root.Epoch, err)
			}
		}
	}
}

// TestAbsenceCases builds a tree whose shape is known and checks each
// kind of proof: present, absent at a neighbour leaf, absent below an
// inner node whose prefix the index does not share, the empty map.
func TestAbsenceCases(t *testing.T) {
	ctx := context.Background()
	m := New(NewMemStore())
	p := mustProve(t, m, 0, idx(1))
	if p[0] != KindEmpty || len(p) != 3 {
		t.Fatalf("empty map proof %x", p)
	}
	if v, err := VerifyLookup(EmptyRoot, idx(1), p); v != nil || err != nil {
		t.Fatalf("empty map: %v %v", v, err)
	}
	// 0x00.. and 0x40.. differ at bit 1: the root is an inner node at
	// depth 1 with prefix 0.
	a, b := idx(0x00, 1), idx(0x40, 2)
	root := mustApply(t, m, []Update{{a, Value{Version: 1}}, {b, Value{Version: 1, Commitment: [32]byte{9}}}})
	if root.Top.Label.Depth != 1 {
		t.Fatalf("root depth %d", root.Top.Label.Depth)
	}
	cases := []struct {
		x      Index
		kind   byte
		steps  int
		absent bool
	}{
		{a, KindPresent, 1, false},
		{b, KindPresent, 1, false},
		{idx(0x01), KindAbsentLeaf, 1, true},       // walks left to leaf a
		{idx(0x7f, 0xff), KindAbsentLeaf, 1, true}, // walks right to leaf b
		{idx(0x80), KindAbsentInner, 0, true},      // bit 0 is 1: not under the root's prefix
	}
	for _, c := range cases {
		pr := mustProve(t, m, root.Epoch, c.x)
		if pr[0] != c.kind || int(pr[2]) != c.steps {
			t.Fatalf("%x: proof kind %d with %d steps; want %d with %d", c.x[:2], pr[0], pr[2], c.kind, c.steps)
		}
		v, err := VerifyLookup(root.Hash(), c.x, pr)
		if err != nil || (v == nil) != c.absent {
			t.Fatalf("%x: %v %v", c.x[:2], v, err)
		}
		if _, err := VerifyLookup(EmptyRoot, c.x, pr); err == nil {
			t.Fatal("proof verified against the empty root")
		}
	}
	// A one-leaf map: the root is the leaf.
	m1 := New(NewMemStore())
	r1 := mustApply(t, m1, []Update{{a, Value{Version: 1}}})
	for _, x := range []Index{a, b} {
		if _, err := VerifyLookup(r1.Hash(), x, mustProve(t, m1, 1, x)); err != nil {
			t.Fatal(err)
		}
	}
	_ = ctx
}

// TestProofRefusals checks that a proof is refused against another root,
// for another index, with the value changed, and that the empty-map proof
// is refused for a non-empty root.
func TestProofRefusals(t *testing.T) {
	r := testrand.New("vmap refusals")
	m := New(NewMemStore())
	var ups []Update
	for range 200 {
		ups = append(ups, Update{randIndex(r), randValue(r, 1)})
	}
	root1 := mustApply(t, m, ups)
	root2 := mustApply(t, m, []Update{{ups[0].Index, randValue(r, 2)}})
	x, y := ups[1].Index, ups[2].Index
	p := mustProve(t, m, root2.Epoch, x)
	if _, err := VerifyLookup(root2.Hash(), x, p); err != nil {
		t.Fatal(err)
	}
	wantErr(t, errOf(VerifyLookup(root1.Hash(), x, p)), ErrProofInvalid)
	wantErr(t, errOf(VerifyLookup(root2.Hash(), y, p)), ErrProofInvalid)
	// A presence proof reused as the proof of the stale value.
	old := mustProve(t, m, root1.Epoch, ups[0].Index)
	wantErr(t, errOf(VerifyLookup(root2.Hash(), ups[0].Index, old)), ErrProofInvalid)
	// Changing the value, a sibling, a depth.
	for _, off := range []int{len(p) - 1, len(p) - 40, 4, 3} {
		q := bytes.Clone(p)
		q[off] ^= 1
		if _, err := VerifyLookup(root2.Hash(), x, q); err == nil {
			t.Fatalf("flipped byte %d accepted", off)
		}
	}
	wantErr(t, errOf(VerifyLookup(root2.Hash(), x, []byte{KindEmpty, 0, 0})), ErrProofInvalid)
	// An absence proof for an index that is present.
	z := randIndex(r)
	ap := mustProve(t, m, root2.Epoch, z)
	wantErr(t, errOf(VerifyLookup(root2.Hash(), x, ap)), ErrProofInvalid)
}

func errOf(_ *Value, err error) error { return err }

// TestParseProofMalformed checks that non-canonical encodings are refused
// with ErrMalformed and that accepted ones re-encode exactly.
func TestParseProofMalformed(t *testing.T) {
	r := testrand.New("vmap malformed")
	m := New(NewMemStore())
	var ups []Update
	for range 100 {
		ups = append(ups, Update{randIndex(r), randValue(r, 1)})
	}
	root := mustApply(t, m, ups)
	good := mustProve(t, m, root.Epoch, ups[0].Index)
	pp, err := ParseProof(good)
	if err != nil || !bytes.Equal(pp.Marshal(), good) {
		t.Fatalf("round trip: %v", err)
	}
	inner := mustProve(t, m, root.Epoch, idx(0x55, 0x55, 0x55))
	for inner[0] != KindAbsentInner {
		x := randIndex(r)
		inner = mustProve(t, m, root.Epoch, x)
	}
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	n := int(good[2])
	cases := map[string][]byte{
		"empty":             nil,
		"short":             good[:2],
		"truncated":         good[:len(good)-1],
		"trailing":          append(bytes.Clone(good), 0),
		"unknown kind":      set(good, 0, 4),
		"count too large":   set(set(good, 1, 1), 2, 1),
		"empty with steps":  append([]byte{KindEmpty, 0, 1}, make([]byte, 33)...),
		"depth not rising":  set(good, 3+33, good[3]),
		"version 0":         append(bytes.Clone(good[:3+n*33]), make([]byte, 40)...),
		"inner above steps": set(inner, 3+int(inner[2])*33, 0),
		"prefix past depth": set(inner, len(inner)-65, inner[len(inner)-65]|1),
	}
	for name, b := range cases {
		if name == "prefix past depth" && inner[3+int(inner[2])*33] >= 248 {
			continue
		}
		p, err := ParseProof(b)
		if p != nil {
			t.Errorf("%s: parsed", name)
		}
		wantErr(t, err, ErrMalformed)
		_, err = VerifyLookup(root.Hash(), ups[0].Index, b)
		wantErr(t, err, ErrMalformed)
	}
}

// TestVersionRules checks that Apply refuses a version that does not
// increase, a new index not at version 1, version 0 and an index named
// twice, each with its error and without changing the map.
func TestVersionRules(t *testing.T) {
	ctx := context.Background()
	r := testrand.New("vmap versions")
	m := New(NewMemStore())
	a, b, c := randIndex(r), randIndex(r), randIndex(r)
	mustApply(t, m, []Update{{a, randValue(r, 1)}, {b, randValue(r, 1)}})
	before := mustApply(t, m, []Update{{a, randValue(r, 3)}})
	refused := []struct {
		name string
		ups  []Update
		want error
	}{
		{"same version", []Update{{a, randValue(r, 3)}}, ErrVersion},
		{"lower version", []Update{{c, randValue(r, 1)}, {a, randValue(r, 2)}}, ErrVersion},
		{"new index at 2", []Update{{b, randValue(r, 2)}, {c, randValue(r, 2)}}, ErrVersion},
		{"version 0", []Update{{c, Value{}}}, ErrVersion},
		{"duplicate", []Update{{c, randValue(r, 1)}, {c, randValue(r, 1)}}, ErrDuplicate},
		{"duplicate existing", []Update{{a, randValue(r, 4)}, {a, randValue(r, 5)}}, ErrDuplicate},
	}
	for _, tc := range refused {
		_, err := m.Apply(ctx, tc.ups)
		wantErr(t, err, tc.want)
		now, err := m.Latest(ctx)
		if err != nil || now != before {
			t.Fatalf("%s: map changed", tc.name)
		}
		v, err := VerifyLookup(now.Hash(), c, mustProve(t, m, now.Epoch, c))
		if err != nil || v != nil {
			t.Fatalf("%s: c = %v, %v", tc.name, v, err)
		}
		v, _ = VerifyLookup(now.Hash(), a, mustProve(t, m, now.Epoch, a))
		if v.Version != 3 {
			t.Fatalf("%s: a at version %d", tc.name, v.Version)
		}
	}
	// A gap is allowed (several key-set updates in one epoch).
	mustApply(t, m, []Update{{a, randValue(r, 7)}, {c, randValue(r, 1)}})
}
