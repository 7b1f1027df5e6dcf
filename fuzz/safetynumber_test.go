package fuzz

import (
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzSafetyNumberCompact compares arbitrary scanned strings with the
// safety number of the first safety-number vector (spec/keys.md §10.3).
// Seeds are every scan of spec/vectors/keys.json.
//
// Checks: no panic; the answer is nil, ErrSafetyNumberMismatch or
// ErrMalformed, never two at once; only the vector's own compact string
// matches, since the compact form has exactly one encoding.
func FuzzSafetyNumberCompact(f *testing.F) {
	var first *vectors.KeysSafetyNumberCase
	for _, c := range keysVectors(f) {
		if c.SafetyNumber == nil {
			continue
		}
		if first == nil {
			first = c.SafetyNumber
		}
		for _, s := range c.SafetyNumber.Scans {
			f.Add(s.Scanned)
		}
	}
	if first == nil {
		f.Fatal("no safety number vectors")
	}
	sn, err := keys.NewSafetyNumber(first.HandleA, keys.AccountPublicKey(first.AccountA.Public),
		first.HandleB, keys.AccountPublicKey(first.AccountB.Public))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, scanned string) {
		err := sn.MatchCompact(scanned)
		switch {
		case err == nil:
			if scanned != sn.Compact() {
				t.Fatalf("%q matched, but the compact form is %q", scanned, sn.Compact())
			}
		case err == keys.ErrSafetyNumberMismatch:
		case errors.Is(err, keys.ErrMalformed) && !errors.Is(err, keys.ErrSafetyNumberMismatch):
		default:
			t.Fatalf("error of unknown kind: %v", err)
		}
	})
}
