package directory_test

import (
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// BenchmarkVerifyDirectoryLookup is the client's verification of one full
// lookup answer (spec/transparency-v2.md §6.3): VRF proof, leaf inclusion,
// map proof, commitment and the entry's signatures, against a map of 2^16
// leaves (a 2^20-leaf map takes too long to build in a benchmark; the map
// proof grows by one 33-byte step per doubling, so verification time
// barely moves) in a log of 16 epochs.
func BenchmarkVerifyDirectoryLookup(b *testing.B) {
	d := newDirectory(b, "bench")
	a := newAccount(b, "alice")
	sequence(b, d, 1<<16-1, must[[]byte](b)(a.AddDevice()))
	for range 15 {
		sequence(b, d, 16)
	}
	cp := must[*kt.Checkpoint](b)(d.Open(d.Size()))
	l := must[*directory.Lookup](b)(d.Lookup("alice", d.Size(), d.Size()))
	key := d.VRF.Public()
	b.ResetTimer()
	for b.Loop() {
		e, err := directory.VerifyLookup(cp, key, l)
		if err != nil || e == nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(l.MapProof)), "map-proof-bytes")
}
