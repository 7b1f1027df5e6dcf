package sendtoken

import (
	"crypto/rand"
	"testing"
)

// BenchmarkSendToken measures the costs of spec/anonymous.md §8:
// issue-batch-100 is the key server blind-signing 100 requests (the
// issuance rate per core is 100 / its time at -cpu 1); verify is a relay
// checking one token (steps 1–5 of §6, without the spent set);
// prepare-batch-100 and finalize-batch-100 are the client's side.
func BenchmarkSendToken(b *testing.B) {
	k, _ := testKeys(b)
	ch := Challenge{Issuer: testIssuer, Epoch: testEpoch}
	reqs, p, err := PrepareBatch(rand.Reader, k.Public(), ch, MaxBatchSize)
	if err != nil {
		b.Fatal(err)
	}
	resps, err := k.Issue(reqs)
	if err != nil {
		b.Fatal(err)
	}
	toks, err := p.Finalize(resps)
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(testIssuer, EpochKey{testEpoch, k.Public()})
	if err != nil {
		b.Fatal(err)
	}
	tok := toks[0].Marshal()
	now := at(testEpoch, 100)

	b.Run("issue-batch-100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Issue(reqs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(MaxBatchSize*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("prepare-batch-100", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := PrepareBatch(rand.Reader, k.Public(), ch, MaxBatchSize); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("finalize-batch-100", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Finalize(resps); err != nil {
				b.Fatal(err)
			}
		}
	})
}
