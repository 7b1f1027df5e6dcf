package store_test

import (
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
	"github.com/sealpost/sealpost/keyserver/store/storetest"
)

// engines opens a fresh store of each engine. PostgreSQL runs when
// SEALPOST_TEST_POSTGRES is set (pgtest skips otherwise).
var engines = []struct {
	name string
	open func(b *testing.B) store.Store
}{
	{"sqlite", func(b *testing.B) store.Store {
		s, err := sqlite.Open(filepath.Join(b.TempDir(), "keyserver.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(b *testing.B) store.Store {
		s, err := postgres.Open(b.Context(), pgtest.DSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}},
}

// BenchmarkClaim measures parallel claims, each consuming a one-time X25519
// and a one-time ML-KEM prekey, committed durably. Goal: 10,000 claims/s.
func BenchmarkClaim(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { storetest.BenchmarkClaim(b, e.open) })
	}
}

// BenchmarkLookup measures parallel reads of an account's key set.
func BenchmarkLookup(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { storetest.BenchmarkLookup(b, e.open) })
	}
}

// BenchmarkCommitEpoch measures CommitEpoch of an epoch of 1000 new
// handles on a map of 100,000 leaves (spec/transparency-v2.md §4.7).
func BenchmarkCommitEpoch(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { storetest.BenchmarkCommitEpoch(b, e.open) })
	}
}

// BenchmarkMapNode measures one map node read (about 20 per lookup
// proof), serial and parallel.
func BenchmarkMapNode(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { storetest.BenchmarkMapNode(b, e.open) })
	}
}

// BenchmarkSequence measures a sequencer step (Unsequenced, vmap Prepare,
// CommitEpoch) for epochs of 1000 updates. Goal on SQLite: 2000 sequenced
// updates/s.
func BenchmarkSequence(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { storetest.BenchmarkSequence(b, e.open) })
	}
}
