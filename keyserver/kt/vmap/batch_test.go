package vmap

import (
	"bytes"
	"context"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// TestVerifyBatch runs the auditor's check over every epoch of a random
// history, the first (from the empty map) and an empty batch included,
// and checks the public batch encoding round-trips.
func TestVerifyBatch(t *testing.T) {
	ctx := context.Background()
	r := testrand.New("vmap batch")
	m := New(NewMemStore())
	var keys []Index
	versions := map[Index]uint64{}
	for epoch := uint64(1); epoch <= 12; epoch++ {
		var ups []Update
		if epoch != 6 { // epoch 6 is empty
			for i := range int(epoch * 5) {
				if i%2 == 1 && len(keys) > i {
					k := keys[(i*31+int(epoch))%len(keys)]
					if bytesIn(ups, k) {
						continue
					}
					ups = append(ups, Update{k, randValue(r, versions[k]+1)})
					continue
				}
				k := randIndex(r)
				keys = append(keys, k)
				ups = append(ups, Update{k, randValue(r, 1)})
			}
		}
		old, _ := m.Latest(ctx)
		es, proof, err := m.ProveBatch(ctx, old.Epoch, ups)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.OldVersion != versions[e.Index] {
				t.Fatalf("old version %d, want %d", e.OldVersion, versions[e.Index])
			}
		}
		root := mustApply(t, m, ups)
		for _, u := range ups {
			versions[u.Index] = u.Value.Version
		}
		if err := VerifyBatch(old.Hash(), root.Hash(), es, proof); err != nil {
			t.Fatalf("epoch %d: %v", epoch, err)
		}
		enc := MarshalBatch(es)
		back, err := ParseBatch(enc)
		if err != nil || !bytes.Equal(MarshalBatch(back), enc) || BatchDigest(back) != BatchDigest(es) {
			t.Fatalf("batch round trip: %v", err)
		}
	}
}

func bytesIn(ups []Update, k Index) bool {
	for _, u := range ups {
		if u.Index == k {
			return true
		}
	}
	return false
}

// auditFixture is a map of 300 leaves at epoch 1 and a batch B (new
// indices and bumps) with its proof against epoch 1.
type auditFixture struct {
	m       *Map
	keys    []Index
	old     Root
	ups     []Update
	es      []BatchEntry
	proof   []byte
	newRoot Hash
}

func newAuditFixture(t *testing.T) *auditFixture {
	r := testrand.New("vmap audit fixture")
	f := &auditFixture{m: New(NewMemStore())}
	var ups []Update
	for range 300 {
		k := randIndex(r)
		f.keys = append(f.keys, k)
		ups = append(ups, Update{k, randValue(r, 1)})
	}
	f.old = mustApply(t, f.m, ups)
	f.ups = []Update{{f.keys[0], randValue(r, 2)}, {f.keys[1], randValue(r, 5)}, {randIndex(r), randValue(r, 1)}, {randIndex(r), randValue(r, 1)}}
	var err error
	f.es, f.proof, err = f.m.ProveBatch(context.Background(), f.old.Epoch, f.ups)
	if err != nil {
		t.Fatal(err)
	}
	f.newRoot = naiveAfter(f.keys, ups, f.ups)
	if err := VerifyBatch(f.old.Hash(), f.newRoot, f.es, f.proof); err != nil {
		t.Fatal(err)
	}
	return f
}

// naiveAfter is the reference root after applying first then second.
func naiveAfter(_ []Index, first, second []Update) Hash {
	set := map[Index]Value{}
	for _, u := range append(append([]Update{}, first...), second...) {
		set[u.Index] = u.Value
	}
	return naiveRoot(set)
}

// TestVerifyBatchRefusals checks that the auditor refuses a server that
// changed a leaf the batch does not name, a batch that lowers or keeps a
// version, a wrong claim of an old version, a new index not at version 1,
// a proof for another old root, a proof that opens more than the batch's
// walks, a changed commitment, and malformed batches and proofs.
func TestVerifyBatchRefusals(t *testing.T) {
	f := newAuditFixture(t)
	r := testrand.New("vmap audit refusals")
	clone := func() []BatchEntry { return append([]BatchEntry(nil), f.es...) }

	// The server applied B plus an update of keys[2] but publishes B.
	m2 := New(NewMemStore())
	var all []Update
	for _, k := range f.keys {
		v, _ := VerifyLookup(f.old.Hash(), k, mustProve(t, f.m, f.old.Epoch, k))
		all = append(all, Update{k, *v})
	}
	mustApply(t, m2, all)
	sneaky := mustApply(t, m2, append(append([]Update{}, f.ups...), Update{f.keys[2], randValue(r, 2)}))
	wantErr(t, VerifyBatch(f.old.Hash(), sneaky.Hash(), f.es, f.proof), ErrProofInvalid)
	// ... or added an unnamed index.
	m3 := New(NewMemStore())
	mustApply(t, m3, all)
	sneaky = mustApply(t, m3, append(append([]Update{}, f.ups...), Update{randIndex(r), randValue(r, 1)}))
	wantErr(t, VerifyBatch(f.old.Hash(), sneaky.Hash(), f.es, f.proof), ErrProofInvalid)
	// A proof for B plus keys[2] opens a walk no entry of B takes.
	_, wide, err := f.m.ProveBatch(context.Background(), f.old.Epoch, append(append([]Update{}, f.ups...), Update{f.keys[2], randValue(r, 2)}))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, VerifyBatch(f.old.Hash(), f.newRoot, f.es, wide), ErrProofInvalid)

	cases := []struct {
		name string
		mut  func(es []BatchEntry) []BatchEntry
		want error
	}{
		{"lowered version", func(es []BatchEntry) []BatchEntry {
			i := oldAt(es, 1)
			es[i].Value.Version = 0
			es[i].OldVersion = 1
			return es
		}, ErrVersion},
		{"kept version", func(es []BatchEntry) []BatchEntry { i := oldAt(es, 1); es[i].Value.Version = 1; return es }, ErrVersion},
		{"new index at 2", func(es []BatchEntry) []BatchEntry { es[oldAt(es, 0)].Value.Version = 2; return es }, ErrVersion},
		{"wrong old version", func(es []BatchEntry) []BatchEntry {
			i := oldAt(es, 1)
			es[i].OldVersion = 2
			es[i].Value.Version = 9
			return es
		}, ErrProofInvalid},
		{"absent claimed present", func(es []BatchEntry) []BatchEntry {
			i := oldAt(es, 0)
			es[i].OldVersion = 1
			es[i].Value.Version = 2
			return es
		}, ErrProofInvalid},
		{"commitment changed", func(es []BatchEntry) []BatchEntry { es[0].Value.Commitment[0] ^= 1; return es }, ErrProofInvalid},
		{"index changed", func(es []BatchEntry) []BatchEntry { es[oldAt(es, 0)].Index[31] ^= 1; return es }, ErrProofInvalid},
		{"entry dropped", func(es []BatchEntry) []BatchEntry { return es[1:] }, ErrProofInvalid},
		{"entry twice", func(es []BatchEntry) []BatchEntry { es[1] = es[0]; return es }, ErrDuplicate},
		{"unsorted", func(es []BatchEntry) []BatchEntry { es[0], es[1] = es[1], es[0]; return es }, ErrMalformed},
	}
	for _, c := range cases {
		es := c.mut(clone())
		wantErr(t, VerifyBatch(f.old.Hash(), f.newRoot, es, f.proof), c.want)
	}
	// Proof against another root, and malformed proofs.
	wantErr(t, VerifyBatch(f.newRoot, f.newRoot, f.es, f.proof), ErrProofInvalid)
	wantErr(t, VerifyBatch(f.old.Hash(), f.newRoot, f.es, []byte{batchEmpty}), ErrProofInvalid)
	for _, b := range [][]byte{nil, {batchEmpty, 0}, {9}, f.proof[:len(f.proof)-1], append(bytes.Clone(f.proof), 0)} {
		wantErr(t, VerifyBatch(f.old.Hash(), f.newRoot, f.es, b), ErrMalformed)
	}
	stub := append([]byte{batchStub}, f.old.Top.Hash[:]...)
	wantErr(t, VerifyBatch(f.old.Hash(), f.newRoot, f.es, stub), ErrProofInvalid)
	// An empty batch needs new == old.
	wantErr(t, VerifyBatch(f.old.Hash(), f.newRoot, nil, stub), ErrProofInvalid)
	if err := VerifyBatch(f.old.Hash(), f.old.Hash(), nil, stub); err != nil {
		t.Fatal(err)
	}
	// ParseBatch refuses what VerifyBatch refuses on the batch alone.
	es := clone()
	es[0], es[1] = es[1], es[0]
	if _, err := ParseBatch(MarshalBatch(es)); err == nil {
		t.Fatal("unsorted batch parsed")
	}
	wantErr(t, errOfBatch(ParseBatch(MarshalBatch(f.es)[:10])), ErrMalformed)
}

func errOfBatch(_ []BatchEntry, err error) error { return err }

// oldAt returns the position of the first entry that is new (old == 0) or
// a bump (old == 1).
func oldAt(es []BatchEntry, old uint64) int {
	for i, e := range es {
		if (old == 0) == (e.OldVersion == 0) {
			return i
		}
	}
	panic("no such entry")
}
