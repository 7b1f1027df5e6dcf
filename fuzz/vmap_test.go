package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

func vmapVectors(f *testing.F) []vectors.VMapCase {
	f.Helper()
	v, err := vectors.Load[vectors.VMapCase]("vmap.json")
	if err != nil {
		f.Fatal(err)
	}
	return v.Cases
}

// FuzzVMapProof parses arbitrary bytes as a map lookup proof
// (spec/transparency-v2.md §4.4) and verifies it for the root and index of
// the lookup vector which selects. Seeds are every lookup proof of
// spec/vectors/vmap.json, valid and refused, each with its own vector.
//
// Checks: no panic; ParseProof refuses with ErrMalformed only and leaves
// its input alone; an accepted proof re-encodes to the same bytes;
// VerifyLookup refuses with ErrMalformed exactly when ParseProof does,
// otherwise with ErrProofInvalid only, and returns no value when it
// refuses; an accepted presence proof's value re-verifies.
func FuzzVMapProof(f *testing.F) {
	var lookups []*vectors.VMapLookupCase
	for _, c := range vmapVectors(f) {
		if c.Lookup != nil {
			f.Add(bytes.Clone(c.Lookup.Proof), uint8(len(lookups)))
			lookups = append(lookups, c.Lookup)
		}
	}
	if len(lookups) == 0 {
		f.Fatal("no lookup vectors")
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		c := lookups[int(which)%len(lookups)]
		root, index := vmap.Hash(c.Root), vmap.Index(c.Index)
		in := bytes.Clone(data)
		p, perr := vmap.ParseProof(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseProof modified its input")
		}
		if perr != nil {
			if !errors.Is(perr, vmap.ErrMalformed) || p != nil {
				t.Fatalf("ParseProof = %v, %v", p, perr)
			}
		} else if !bytes.Equal(p.Marshal(), data) {
			t.Fatal("accepted proof does not re-encode to the same bytes")
		}
		v, err := vmap.VerifyLookup(root, index, data)
		switch {
		case perr != nil:
			if !errors.Is(err, vmap.ErrMalformed) || v != nil {
				t.Fatalf("VerifyLookup of an unparsable proof = %v, %v", v, err)
			}
		case err != nil:
			if !errors.Is(err, vmap.ErrProofInvalid) || v != nil {
				t.Fatalf("VerifyLookup = %v, %v", v, err)
			}
		case v != nil:
			if p.Kind != vmap.KindPresent || v.Version == 0 {
				t.Fatalf("value from a proof of kind %d", p.Kind)
			}
		}
		if !bytes.Equal(in, data) {
			t.Fatal("VerifyLookup modified its input")
		}
	})
}

// FuzzVMapBatchProof checks arbitrary bytes as the batch proof of a batch
// audit (spec/transparency-v2.md §4.6), against the roots and batch of the
// batch vector which selects. Seeds are every batch proof of
// spec/vectors/vmap.json whose batch parses.
//
// Checks: no panic; VerifyBatch refuses with a named error only
// (ErrMalformed, ErrProofInvalid, ErrVersion, ErrDuplicate) and leaves
// its inputs alone.
func FuzzVMapBatchProof(f *testing.F) {
	type audit struct {
		old, new vmap.Hash
		es       []vmap.BatchEntry
	}
	var audits []audit
	for _, c := range vmapVectors(f) {
		if c.Batch == nil {
			continue
		}
		es, err := vmap.ParseBatch(c.Batch.Batch)
		if err != nil {
			continue
		}
		f.Add(bytes.Clone(c.Batch.Proof), uint8(len(audits)))
		audits = append(audits, audit{vmap.Hash(c.Batch.OldRoot), vmap.Hash(c.Batch.NewRoot), es})
	}
	if len(audits) == 0 {
		f.Fatal("no batch vectors")
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		a := audits[int(which)%len(audits)]
		in := bytes.Clone(data)
		enc := vmap.MarshalBatch(a.es)
		err := vmap.VerifyBatch(a.old, a.new, a.es, data)
		if err != nil && !errors.Is(err, vmap.ErrMalformed) && !errors.Is(err, vmap.ErrProofInvalid) &&
			!errors.Is(err, vmap.ErrVersion) && !errors.Is(err, vmap.ErrDuplicate) {
			t.Fatalf("VerifyBatch error of unknown kind: %v", err)
		}
		if !bytes.Equal(in, data) || !bytes.Equal(enc, vmap.MarshalBatch(a.es)) {
			t.Fatal("VerifyBatch modified its input")
		}
	})
}
