package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzVRFVerify parses arbitrary bytes as a VRF public key and a proof and
// verifies the proof for an arbitrary input (crypto/vrf,
// spec/transparency-v2.md §3). Seeds are the key, input and proof given to
// the verifier in every case of spec/vectors/vrf.json, valid and refused.
//
// Checks: no panic; no input is modified; a refused key is
// vrf.ErrInvalidKey and an accepted one re-encodes to the same bytes; every
// refused proof is vrf.ErrMalformedProof or vrf.ErrInvalidProof with a zero
// output, and ProofToHash refuses exactly the malformed ones; an accepted
// proof is one of the vectors' valid proofs (no one else holds their keys),
// its output is the recorded one and equals ProofToHash's.
func FuzzVRFVerify(f *testing.F) {
	file, err := vectors.Load[vectors.VRFCase]("vrf.json")
	if err != nil {
		f.Fatal(err)
	}
	valid := map[string][]byte{} // key || alpha || pi → beta
	for _, c := range file.Cases {
		f.Add(bytes.Clone(c.PublicKey), bytes.Clone(c.Alpha), bytes.Clone(c.Pi))
		if c.Result == "ok" {
			valid[string(c.PublicKey)+string(c.Alpha)+string(c.Pi)] = c.Beta
		}
	}
	if len(valid) == 0 {
		f.Fatal("no ok vrf vector")
	}
	f.Fuzz(func(t *testing.T, key, alpha, pi []byte) {
		k0, a0, p0 := bytes.Clone(key), bytes.Clone(alpha), bytes.Clone(pi)
		defer func() {
			if !bytes.Equal(key, k0) || !bytes.Equal(alpha, a0) || !bytes.Equal(pi, p0) {
				t.Fatal("an input was modified")
			}
		}()

		hbeta, herr := vrf.ProofToHash(pi)
		if herr != nil && (!errors.Is(herr, vrf.ErrMalformedProof) || hbeta != ([vrf.OutputSize]byte{})) {
			t.Fatalf("ProofToHash = %x, %v", hbeta, herr)
		}

		pk, err := vrf.ParsePublicKey(key)
		if err != nil {
			if !errors.Is(err, vrf.ErrInvalidKey) || pk != nil {
				t.Fatalf("ParsePublicKey = %v, %v", pk, err)
			}
			return
		}
		if !bytes.Equal(pk.Bytes(), key) {
			t.Fatalf("key %x re-encodes as %x", key, pk.Bytes())
		}

		beta, err := pk.Verify(alpha, pi)
		switch {
		case err == nil:
		case errors.Is(err, vrf.ErrMalformedProof), errors.Is(err, vrf.ErrInvalidProof):
			if beta != ([vrf.OutputSize]byte{}) {
				t.Fatalf("refused (%v) with output %x", err, beta)
			}
			if errors.Is(err, vrf.ErrMalformedProof) != (herr != nil) {
				t.Fatalf("Verify = %v but ProofToHash = %v", err, herr)
			}
			return
		default:
			t.Fatalf("Verify = %v: not a documented kind", err)
		}
		want, ok := valid[string(key)+string(alpha)+string(pi)]
		if !ok {
			t.Fatalf("accepted a proof not in the vectors: key %x alpha %x pi %x", key, alpha, pi)
		}
		if !bytes.Equal(beta[:], want) || herr != nil || hbeta != beta {
			t.Fatalf("output %x, ProofToHash %x (%v); want %x", beta, hbeta, herr, want)
		}
	})
}
