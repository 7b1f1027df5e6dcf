package vrf

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

// vrfResults maps the result names of spec/vectors/vrf.json to the errors
// (spec/transparency-v2.md §3.5).
var vrfResults = map[string]error{
	"ok":              nil,
	"invalid_key":     ErrInvalidKey,
	"malformed_proof": ErrMalformedProof,
	"invalid_proof":   ErrInvalidProof,
}

// TestVectors checks every case of spec/vectors/vrf.json: the prover's key,
// input, proof and output are what this package computes, and the verifier
// answers each presented key, input and proof with the recorded result,
// output and map index.
func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.VRFCase]("vrf.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			want, known := vrfResults[c.Result]
			if !known {
				t.Fatalf("unknown result %q", c.Result)
			}
			seen[c.Result] = true
			k, err := NewPrivateKey(c.Seed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.Public().Bytes(), c.ProverPublicKey) {
				t.Errorf("public key %x, want %x", k.Public().Bytes(), c.ProverPublicKey)
			}
			if a, err := HandleInput(c.ProvedHandle); err != nil || !bytes.Equal(a, c.ProvedAlpha) {
				t.Errorf("HandleInput(%q) = %x, %v; want %x", c.ProvedHandle, a, err, c.ProvedAlpha)
			}
			beta, pi, err := k.Prove(c.ProvedAlpha)
			if err != nil || !bytes.Equal(pi, c.Proof) || !bytes.Equal(beta[:], c.ProvedBeta) {
				t.Errorf("Prove = %x, %x, %v; want %x, %x", beta, pi, err, c.ProvedBeta, c.Proof)
			}
			if a, err := HandleInput(c.Handle); err != nil || !bytes.Equal(a, c.Alpha) {
				t.Errorf("HandleInput(%q) = %x, %v; want %x", c.Handle, a, err, c.Alpha)
			}
			if (c.Mutation == "") != (bytes.Equal(c.PublicKey, c.ProverPublicKey) && c.Handle == c.ProvedHandle && bytes.Equal(c.Pi, c.Proof)) {
				t.Errorf("mutation %q does not match what the verifier is given", c.Mutation)
			}

			pk, err := ParsePublicKey(c.PublicKey)
			if want == ErrInvalidKey {
				if !errors.Is(err, ErrInvalidKey) || pk != nil {
					t.Errorf("ParsePublicKey = %v, %v; want ErrInvalidKey", pk, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			got, err := pk.Verify(c.Alpha, c.Pi)
			if !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, want)
			}
			if want != nil {
				if got != ([OutputSize]byte{}) || len(c.Beta) != 0 || len(c.Index) != 0 {
					t.Errorf("refused case with output %x (recorded %x, %x)", got, c.Beta, c.Index)
				}
				if _, perr := ProofToHash(c.Pi); (want == ErrMalformedProof) != errors.Is(perr, ErrMalformedProof) {
					t.Errorf("ProofToHash = %v", perr)
				}
				return
			}
			idx := Index(&got)
			if !bytes.Equal(got[:], c.Beta) || !bytes.Equal(idx[:], c.Index) {
				t.Errorf("Verify = %x, index %x; want %x, %x", got, idx, c.Beta, c.Index)
			}
		})
	}
	for r := range vrfResults {
		if !seen[r] {
			t.Errorf("no case with result %s", r)
		}
	}
}
