package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/kt"
	"golang.org/x/mod/sumdb/note"
)

// FuzzCosignatures parses arbitrary bytes as a witness's add-checkpoint
// answer, C2SP tlog-cosignature lines (spec/transparency-v2.md §7.3), and
// verifies them appended to a valid checkpoint of spec/vectors/kt.json
// against a policy of two witnesses with quorum 1 (§7.4). Seeds: the
// cosignature lines of both witnesses (deterministic test keys) on every
// valid checkpoint of the vectors, one, two, repeated, and a line by a
// key outside the policy.
//
// Checks: no panic; ParseCosignatures leaves its input alone, refuses with
// ErrMalformed only, and an accepted answer re-encodes line by line to the
// same bytes; VerifyCosigned refuses with ErrNoQuorum, ErrMalformed or
// ErrBadSignature only (the log's own signatures are fixed, so never
// ErrSecurity), and accepts only with a cosignature of a policy witness
// whose time is that witness's.
func FuzzCosignatures(f *testing.F) {
	var signed [][]byte
	var vkey string
	for _, c := range ktVectors(f) {
		if cp := c.Checkpoint; cp != nil {
			v, err := kt.NewVerifier(cp.VerifierKey)
			if err != nil {
				continue
			}
			if _, err := v.OpenCheckpoint([]byte(cp.Signed)); err == nil && (vkey == "" || vkey == cp.VerifierKey) {
				vkey = cp.VerifierKey
				signed = append(signed, []byte(cp.Signed))
			}
		}
	}
	if len(signed) == 0 {
		f.Fatal("no valid checkpoint vectors")
	}
	v, err := kt.NewVerifier(vkey)
	if err != nil {
		f.Fatal(err)
	}
	at := time.Unix(1767225600, 0)
	w1, s1 := fuzzWitness(f, "witness.example/w1", at)
	w2, s2 := fuzzWitness(f, "witness.example/w2", at.Add(time.Second))
	_, stranger := fuzzWitness(f, "witness.example/stranger", at)
	policy := []kt.Witness{w1, w2}
	times := map[string]time.Time{w1.Name: at, w2.Name: at.Add(time.Second)}
	for _, s := range signed {
		l1, l2, l3 := fuzzCosign(f, s, s1), fuzzCosign(f, s, s2), fuzzCosign(f, s, stranger)
		f.Add(l1)
		f.Add(append(bytes.Clone(l1), l2...))
		f.Add(append(bytes.Clone(l2), l2...))
		f.Add(l3)
	}
	base := signed[0]
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		lines, err := kt.ParseCosignatures(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseCosignatures modified its input")
		}
		if err != nil {
			if lines != nil || !errors.Is(err, kt.ErrMalformed) {
				t.Fatalf("ParseCosignatures = %v, %v", lines, err)
			}
		} else {
			var again []byte
			for _, l := range lines {
				again = append(again, l.Marshal()...)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("accepted answer re-encodes to %q", again)
			}
		}
		cosigned := append(bytes.Clone(base), data...)
		cp, cosigs, err := kt.VerifyCosigned(cosigned, v, policy, 1)
		if err != nil {
			if cp != nil || !(errors.Is(err, kt.ErrNoQuorum) || errors.Is(err, kt.ErrMalformed) || errors.Is(err, kt.ErrBadSignature)) {
				t.Fatalf("VerifyCosigned = %v, %v", cp, err)
			}
			return
		}
		if len(cosigs) == 0 || !bytes.Equal(cp.Signed, cosigned) {
			t.Fatalf("accepted with %d cosignatures", len(cosigs))
		}
		for _, c := range cosigs {
			if want, ok := times[c.Name]; !ok || !c.Time.Equal(want) {
				t.Fatalf("cosignature %+v is not a policy witness's", c)
			}
		}
	})
}

func fuzzWitness(f *testing.F, name string, at time.Time) (kt.Witness, note.Signer) {
	f.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(testrand.New("fuzz/"+name), seed); err != nil {
		f.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	s, err := kt.NewCosigner(name, priv, at)
	if err != nil {
		f.Fatal(err)
	}
	return kt.Witness{Name: name, Key: priv.Public().(ed25519.PublicKey)}, s
}

// fuzzCosign returns s's cosignature line on the checkpoint in signed.
func fuzzCosign(f *testing.F, signed []byte, s note.Signer) []byte {
	f.Helper()
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	out, err := note.Sign(&note.Note{Text: string(text) + "\n"}, s)
	if err != nil {
		f.Fatal(err)
	}
	_, line, _ := bytes.Cut(out, []byte("\n\n"))
	return line
}
