package vmap_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

var vmapErrors = map[string]error{
	"malformed": vmap.ErrMalformed, "proof_invalid": vmap.ErrProofInvalid,
	"version": vmap.ErrVersion, "duplicate": vmap.ErrDuplicate,
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	sentinel, ok := vmapErrors[want]
	if !ok {
		t.Fatalf("unknown error name %q", want)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v; want %s", err, want)
	}
}

// build returns the map holding leaves (new at version 1 in epoch 1,
// raised to their version in epoch 2) and its root.
func build(t *testing.T, leaves []vectors.VMapLeaf) (*vmap.Map, vmap.Root) {
	t.Helper()
	ctx := context.Background()
	m := vmap.New(vmap.NewMemStore())
	var ups, bumps []vmap.Update
	for _, l := range leaves {
		v := vmap.Value{Version: l.Version, Commitment: [32]byte(l.Commitment)}
		ups = append(ups, vmap.Update{Index: vmap.Index(l.Index), Value: vmap.Value{Version: 1, Commitment: v.Commitment}})
		if l.Version > 1 {
			bumps = append(bumps, vmap.Update{Index: vmap.Index(l.Index), Value: v})
		}
	}
	if len(leaves) == 0 {
		return m, vmap.Root{Empty: true}
	}
	if _, err := m.Apply(ctx, ups); err != nil {
		t.Fatal(err)
	}
	r, err := m.Apply(ctx, bumps)
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.VMapCase]("vmap.json")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, c := range f.Cases {
		kinds[c.Type+"/"+c.Error] = true
		t.Run(c.ID, func(t *testing.T) {
			switch c.Type {
			case "lookup":
				testLookupVector(t, c.Lookup, c.Error)
			case "batch":
				testBatchVector(t, c.Batch, c.Error)
			default:
				t.Fatalf("unknown type %q", c.Type)
			}
		})
	}
	for _, k := range []string{"lookup/", "lookup/malformed", "lookup/proof_invalid", "batch/", "batch/proof_invalid", "batch/version", "batch/malformed"} {
		if !kinds[k] {
			t.Errorf("no %s case", k)
		}
	}
}

func testLookupVector(t *testing.T, c *vectors.VMapLookupCase, want string) {
	m, root := build(t, c.Leaves)
	h := root.Hash()
	if want == "" {
		if !bytes.Equal(h[:], c.Root) {
			t.Fatalf("root of the leaves %x, vector says %x", h, c.Root)
		}
		// The prover produces exactly the vector's proof.
		p, err := m.Prove(context.Background(), root.Epoch, vmap.Index(c.Index))
		if err != nil || !bytes.Equal(p, c.Proof) {
			t.Fatalf("Prove = %x, %v; want %x", p, err, c.Proof)
		}
	}
	v, err := vmap.VerifyLookup(vmap.Hash(c.Root), vmap.Index(c.Index), c.Proof)
	checkErr(t, err, want)
	if want != "" {
		if v != nil {
			t.Fatal("refused proof returned a value")
		}
		return
	}
	if (v != nil) != c.Present {
		t.Fatalf("present = %v, want %v", v != nil, c.Present)
	}
	if v != nil && (v.Version != c.Version || !bytes.Equal(v.Commitment[:], c.Commitment)) {
		t.Fatalf("value %d %x, want %d %x", v.Version, v.Commitment, c.Version, c.Commitment)
	}
	p, err := vmap.ParseProof(c.Proof)
	if err != nil || !bytes.Equal(p.Marshal(), c.Proof) {
		t.Fatalf("proof does not re-encode: %v", err)
	}
}

func testBatchVector(t *testing.T, c *vectors.VMapBatchCase, want string) {
	m, root := build(t, c.OldLeaves)
	if h := root.Hash(); !bytes.Equal(h[:], c.OldRoot) {
		t.Fatalf("root of the old leaves %x, vector says %x", h, c.OldRoot)
	}
	es, err := vmap.ParseBatch(c.Batch)
	if err != nil {
		checkErr(t, err, want)
		return
	}
	if !bytes.Equal(vmap.MarshalBatch(es), c.Batch) {
		t.Fatal("batch does not re-encode")
	}
	if d := vmap.BatchDigest(es); !bytes.Equal(d[:], c.BatchDigest) {
		t.Fatalf("batch digest %x, want %x", d, c.BatchDigest)
	}
	err = vmap.VerifyBatch(vmap.Hash(c.OldRoot), vmap.Hash(c.NewRoot), es, c.Proof)
	checkErr(t, err, want)
	if want != "" {
		return
	}
	// The sequencer, given the batch, makes the same proof and new root.
	var ups []vmap.Update
	for _, e := range es {
		ups = append(ups, vmap.Update{Index: e.Index, Value: e.Value})
	}
	ctx := context.Background()
	got, proof, err := m.ProveBatch(ctx, root.Epoch, ups)
	if err != nil || !bytes.Equal(proof, c.Proof) || !bytes.Equal(vmap.MarshalBatch(got), c.Batch) {
		t.Fatalf("ProveBatch = %x, %v; want %x", proof, err, c.Proof)
	}
	nr, err := m.Apply(ctx, ups)
	if h := nr.Hash(); err != nil || !bytes.Equal(h[:], c.NewRoot) {
		t.Fatalf("Apply = %x, %v; want %x", h, err, c.NewRoot)
	}
}
